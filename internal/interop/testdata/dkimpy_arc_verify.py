#!/usr/bin/python3
"""Verify the ARC chain of the message on standard input with dkimpy.

What `arcverify` does, with one difference: keys are looked up on the
DNS server at 127.0.0.1:PORT (the Go test's in-process server, over TCP)
instead of the resolvers of /etc/resolv.conf.

Usage: dkimpy_arc_verify.py PORT < message
Prints one line: "cv=<pass|fail|none|> <reason>".
"""

import sys

import dkim
import dns.message
import dns.query
import dns.rdatatype


def main():
    port = int(sys.argv[1])

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        answer = dns.query.tcp(query, "127.0.0.1", port=port, timeout=timeout)
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(list(rrset.items)[0].strings)
        return None

    message = sys.stdin.buffer.read()
    cv, _, reason = dkim.arc_verify(message, dnsfunc=dnsfunc)
    print("cv=%s %s" % ((cv or b"").decode("ascii"), reason))


if __name__ == "__main__":
    main()

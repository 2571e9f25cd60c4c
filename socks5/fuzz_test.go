package socks5

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseProxies: the parser never panics, and what it accepts survives
// a round trip through Exim's syntax.
func FuzzParseProxies(f *testing.F) {
	f.Add("192.0.2.1 auth=name name=u pass=p port=1081 tmo=7 pri=2 weight=3 : 192.0.2.2")
	f.Add("<; ::1 tmo=500ms ; [2001:db8::2]")
	f.Add("::::1 port=1080 : 127.0.0.1 auth=name name=a::b pass=c")
	f.Add("<")
	f.Fuzz(func(t *testing.T, list string) {
		ps, err := ParseProxies(list)
		if err != nil {
			return
		}
		var items []string
		for _, p := range ps {
			if p.Password != "" && p.Password != "***" && strings.Contains(p.String(), "pass="+p.Password) {
				t.Fatalf("String shows the password: %q", p.String())
			}
			items = append(items, strings.ReplaceAll(p.spec(false), ":", "::"))
		}
		again, err := ParseProxies(strings.Join(items, " : "))
		if err != nil || !reflect.DeepEqual(again, ps) {
			t.Fatalf("round trip of %q: %+v, %v; first %+v", list, again, err, ps)
		}
	})
}

// FuzzNegotiate plays a proxy whose every byte is the fuzzer's: the
// method selection (RFC 1928 section 3), the RFC 1929 status when
// USERNAME/PASSWORD is asked, and the reply to CONNECT (RFC 1928 section
// 6: VER REP RSV ATYP BND.ADDR BND.PORT), then what the target sends. The
// client must never panic nor hang, must accept exactly the answers the
// RFCs allow (reading the input with an independent parser), report the
// BND.ADDR and BND.PORT sent, and read nothing past the reply: the
// target's first bytes (an SMTP banner) are still there afterwards.
func FuzzNegotiate(f *testing.F) {
	ok4 := []byte{5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38}
	f.Add(byte(0), append(ok4, "220 mx ESMTP\r\n"...))
	f.Add(byte(1), []byte{5, 2, 1, 0, 5, 0, 0, 4, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 25, '2', '2', '0'})
	f.Add(byte(2), []byte{5, 0, 5, 0, 0, 3, 7, 'p', 'r', 'o', 'x', 'y', '.', 'x', 0, 25})
	f.Add(byte(0), []byte{5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add(byte(1), []byte{5, 2, 1, 1})
	f.Add(byte(1), []byte{5, 2, 5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 25})
	f.Add(byte(0), []byte{5, 0xff})
	f.Add(byte(0), []byte{5, 0, 5, 0, 0, 3, 0, 0, 25})
	f.Add(byte(0), []byte{5, 0, 5, 0, 0, 3, 3, '[', ':', ']', 0, 25})
	f.Fuzz(func(t *testing.T, mode byte, stream []byte) {
		p := Proxy{Host: "192.0.2.1", Port: 1080}
		if mode&1 != 0 {
			p.Auth, p.Username, p.Password = AuthName, "u", "p"
		}
		host := [...]string{"192.0.2.25", "2001:db8::25", "mx.example.org", "mx.example.org"}[mode>>1&3]

		// What RFC 1928 and RFC 1929 make of stream.
		want, rest, wantRep, valid := expectNegotiation(stream, p.Auth == AuthName)

		cli, srv := net.Pipe()
		defer cli.Close()
		go io.Copy(io.Discard, srv)
		go func() {
			srv.Write(stream)
			srv.Close() // the proxy has said all it had
		}()
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		bound, _, err := negotiate(cli, p, host, 25)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("negotiation hung on %x", stream)
		}
		if (err == nil) != valid {
			t.Fatalf("%x (auth %v): negotiate %q, %v; the RFCs say valid=%v", stream, p.Auth, bound, err, valid)
		}
		if err != nil {
			var rep Reply
			if wantRep != 0 && (!errors.As(err, &rep) || rep != wantRep) {
				t.Fatalf("%x: error %v, want reply %d", stream, err, wantRep)
			}
			return
		}
		if bound != want {
			t.Fatalf("%x: bound %q, want %q", stream, bound, want)
		}
		if h, port, err := net.SplitHostPort(bound); err != nil || net.JoinHostPort(h, port) != bound {
			t.Fatalf("bound %q does not split back: %q %q %v", bound, h, port, err)
		}
		if len(rest) > 16 {
			rest = rest[:16]
		}
		got := make([]byte, len(rest))
		if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, rest) {
			t.Fatalf("%x: after the reply read %q, %v; want %q", stream, got, err, rest)
		}
	})
}

// expectNegotiation parses a proxy's side of the negotiation by RFC 1928
// and RFC 1929: whether the client must accept it, the BND.ADDR and
// BND.PORT as "host:port", what follows, and the REP of a failed reply.
func expectNegotiation(s []byte, auth bool) (bound string, rest []byte, rep Reply, valid bool) {
	take := func(n int) ([]byte, bool) {
		if len(s) < n {
			return nil, false
		}
		b := s[:n]
		s = s[n:]
		return b, true
	}
	method := byte(0)
	if auth {
		method = 2
	}
	// Section 3: VER METHOD, the method one of those offered.
	if b, ok := take(2); !ok || b[0] != 5 || b[1] != method {
		return "", nil, 0, false
	}
	// RFC 1929 section 2: VER (X'01') STATUS (X'00' is success).
	if auth {
		if b, ok := take(2); !ok || b[0] != 1 || b[1] != 0 {
			return "", nil, 0, false
		}
	}
	// Section 6: VER REP RSV ATYP.
	b, ok := take(4)
	if !ok || b[0] != 5 {
		return "", nil, 0, false
	}
	if b[1] != 0 {
		return "", nil, Reply(b[1]), false
	}
	var host string
	switch b[3] {
	case 1:
		a, ok := take(4)
		if !ok {
			return "", nil, 0, false
		}
		host = net.IP(a).String()
	case 4:
		a, ok := take(16)
		if !ok {
			return "", nil, 0, false
		}
		host = net.IP(a).String()
	case 3:
		l, ok := take(1)
		if !ok {
			return "", nil, 0, false
		}
		name, ok := take(int(l[0]))
		if !ok || !hostName(name) {
			return "", nil, 0, false
		}
		host = string(name)
	default:
		return "", nil, 0, false
	}
	port, ok := take(2)
	if !ok {
		return "", nil, 0, false
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port)))), s, 0, true
}

// hostName reports whether a BND.ADDR of type DOMAINNAME (RFC 1928
// section 5: "a fully-qualified domain name") can be one: 1 to 255
// octets of letters, digits, hyphens, dots and underscores.
func hostName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
	"github.com/smtpkit/smtpkit/ocsp"
)

// tlsPeer is an SMTP sink on loopback with STARTTLS under leaf, stapling
// staple when not nil.
func tlsPeer(t *testing.T, leaf *pkitest.Cert, staple []byte) (*smtptest.Sink, string) {
	sink := &smtptest.Sink{}
	cert := leaf.TLS()
	cert.OCSPStaple = staple
	peer := smtptest.Start(t, sink, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	return sink, peer.Addr
}

func tlsa(t *testing.T, c *x509.Certificate, usage, selector, mt uint8) string {
	t.Helper()
	r, err := dane.NewRecord(c, usage, selector, mt)
	if err != nil {
		t.Fatal(err)
	}
	return r.String()
}

// daneWorld publishes, each with one MX on loopback: ee.test (secure,
// "3 1 1" of leaf), ta.test (secure, "2 1 1" of the intermediate),
// wrong.test (secure, a record of another certificate), notlsa.test
// (secure, no TLSA) and plain.test (the records of ee.test, insecure).
// The TLSA records are those of the port the MX hosts listen on, peer's.
func daneWorld(t *testing.T, peer string, in *pkitest.CA, leaf, other *pkitest.Cert) *dnstest.Server {
	owner := tlsaPort(t, peer) + "._tcp.mx"
	zone := func(name, rec string, secure bool) dnstest.Zone {
		text := "@ MX 10 mx\nmx A 127.0.0.1\n"
		if rec != "" {
			text += owner + " TLSA " + rec + "\n"
		}
		return dnstest.Zone{Name: name, Text: text, Secure: secure}
	}
	return dnstest.Start(t,
		zone("ee.test", tlsa(t, leaf.Certificate, 3, 1, 1), true),
		zone("ta.test", tlsa(t, in.Certificate, 2, 1, 1), true),
		zone("wrong.test", tlsa(t, other.Certificate, 3, 1, 1), true),
		zone("notlsa.test", "", true),
		zone("plain.test", tlsa(t, leaf.Certificate, 3, 1, 1), false),
	)
}

// tlsaPort is the first label of the TLSA owner names of the port addr
// listens on: "_PORT" (RFC 6698 section 3).
func tlsaPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return "_" + port
}

// waitLog waits for a log line holding every needle and returns it.
func (tm *testMTA) waitLog(t *testing.T, needles ...string) string {
	t.Helper()
	var line string
	waitFor(t, fmt.Sprintf("a log line with %q", needles), func() bool {
		ls := tm.logs.lines(needles...)
		if len(ls) > 0 {
			line = ls[0]
		}
		return len(ls) > 0
	})
	return line
}

func TestRelayDANE(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	// DANE-TA checks names: the MX host names of every zone.
	var names []string
	for _, z := range []string{"ee", "ta", "wrong", "notlsa", "plain"} {
		names = append(names, "mx."+z+".test")
	}
	leaf := in.Issue(t, pkitest.Leaf{Names: names})
	other := in.Issue(t, pkitest.Leaf{Names: names})
	sink, peer := tlsPeer(t, leaf, nil)
	dns := daneWorld(t, peer, in, leaf, other)

	for _, tc := range []struct {
		mode, domain string
		cv           string // delivered with this CV=
		reply        string // else deferred with this in the reply
	}{
		{mode: "require", domain: "ee.test", cv: "dane"},
		{mode: "try", domain: "ee.test", cv: "dane"},
		{mode: "require", domain: "ta.test", cv: "dane"},
		{mode: "try", domain: "wrong.test", reply: "451 4.4.2 mx.wrong.test"},
		{mode: "require", domain: "wrong.test", reply: "451 4.4.2 mx.wrong.test"},
		{mode: "try", domain: "notlsa.test", cv: "no"},
		{mode: "require", domain: "notlsa.test", reply: "451 4.7.5 mx.notlsa.test"},
		{mode: "try", domain: "plain.test", cv: "no"},
		{mode: "require", domain: "plain.test", reply: "451 4.7.5 mx.plain.test"},
	} {
		t.Run(tc.mode+"/"+tc.domain, func(t *testing.T) {
			cfg := relayConfig(t, dns, peer)
			if cfg.DANE, _ = dane.ParseMode(tc.mode); cfg.DANE == dane.Off {
				t.Fatal("mode")
			}
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			before := len(sink.Messages())
			rcpt := "r-" + tc.mode + "@" + tc.domain
			sendMessage(t, tm.addr, "sender@example.test", []string{rcpt}, body)
			if tc.reply == "" {
				line := tm.waitLog(t, `msg="delivery attempt"`, "rcpt="+rcpt)
				if !strings.Contains(line, "result=delivered") || !strings.Contains(line, "cv="+tc.cv+" ") ||
					!strings.Contains(line, "tls=TLS1.3") || !strings.Contains(line, "dane.cv="+tc.cv) {
					t.Fatalf("delivery line: %s", line)
				}
				if len(sink.Messages()) != before+1 {
					t.Fatal("the peer did not get the message")
				}
				return
			}
			line := tm.waitLog(t, `msg="delivery deferred"`, "domain="+tc.domain)
			if !strings.Contains(line, tc.reply) || !strings.Contains(line, "perm=false") {
				t.Fatalf("deferral: %s", line)
			}
			if len(sink.Messages()) != before {
				t.Fatal("delivered despite DANE")
			}
		})
	}
}

// A SERVFAIL (a bogus zone at a validating resolver) for the TLSA lookup
// defers under try too: never a fallback to unauthenticated TLS.
func TestRelayDANEBogusDefers(t *testing.T) {
	leaf := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.bogus.test"}})
	sink, peer := tlsPeer(t, leaf, nil)
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "bogus.test", Text: "@ MX 10 mx\nmx A 127.0.0.1\n", Secure: true},
		dnstest.Zone{Name: "_tcp.mx.bogus.test", Text: tlsaPort(t, peer) + " TLSA " + tlsa(t, leaf.Certificate, 3, 1, 1)})
	dns.SetMode("_tcp.mx.bogus.test", dnstest.ServFail(6, "DNSSEC Bogus"))
	cfg := relayConfig(t, dns, peer)
	cfg.DANE = dane.Try
	cfg.Retry = []time.Duration{time.Hour}
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"r@bogus.test"}, body)
	line := tm.waitLog(t, `msg="delivery deferred"`, "domain=bogus.test")
	if !strings.Contains(line, "451 4.4.3 DANE lookup for mx.bogus.test") {
		t.Fatalf("deferral: %s", line)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("delivered despite a bogus TLSA RRset")
	}
}

func TestRelayOCSPRequire(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.remote.test"}})
	dns := remoteWorld(t)
	for _, tc := range []struct {
		name   string
		staple []byte
		status string
		ok     bool
	}{
		{"good", in.OCSP(t, leaf, pkitest.OCSPOptions{}), "good", true},
		{"revoked", in.OCSP(t, leaf, pkitest.OCSPOptions{Status: ocsp.Revoked}), "revoked", false},
		{"missing", nil, "none", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, peer := tlsPeer(t, leaf, tc.staple)
			cfg := relayConfig(t, dns, peer)
			cfg.OCSP = ocsp.Require
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			sendMessage(t, tm.addr, "sender@example.test", []string{"r@remote.test"}, body)
			if tc.ok {
				line := tm.waitLog(t, `msg="delivery attempt"`, "result=delivered")
				if !strings.Contains(line, "ocsp.status=good") || !strings.Contains(line, "cv=no") {
					t.Fatalf("delivery line: %s", line)
				}
				if len(sink.Messages()) != 1 {
					t.Fatal("not delivered")
				}
				return
			}
			line := tm.waitLog(t, `msg="connection failed"`, "ocsp.status="+tc.status)
			tm.waitLog(t, `msg="delivery deferred"`, "451 4.4.2 mx.remote.test")
			if len(sink.Messages()) != 0 {
				t.Fatalf("delivered with staple %s: %s", tc.name, line)
			}
		})
	}
}

// -ocsp-file staples a good response; a revoked one put in its place is
// not stapled at the next connection, nor an expired one.
func TestServerStaple(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}})
	dir := t.TempDir()
	files := leaf.WriteFiles(t, dir)
	staple := filepath.Join(dir, "ocsp.der")
	put := func(der []byte) {
		if err := os.WriteFile(staple+".tmp", der, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(staple+".tmp", staple); err != nil {
			t.Fatal(err)
		}
	}
	put(in.OCSP(t, leaf, pkitest.OCSPOptions{}))
	cfg := testConfig(t)
	cfg.TLSCert, cfg.TLSKey, cfg.OCSPFile = files.FullChain, files.Key, staple
	tm := startMTA(t, cfg)
	stapled := func() []byte {
		c := greet(t, tm.addr)
		defer c.Close()
		c.StartTLS(&tls.Config{RootCAs: root.Pool(), ServerName: "mx.test"})
		return c.Conn().(*tls.Conn).ConnectionState().OCSPResponse
	}
	if got := stapled(); len(got) == 0 {
		t.Fatal("no staple")
	} else if _, err := ocsp.Check(got, leaf.Certificate, in.Certificate, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, o := range []pkitest.OCSPOptions{{Status: ocsp.Revoked}, {Expired: true}} {
		put(in.OCSP(t, leaf, o))
		if got := stapled(); got != nil {
			t.Fatalf("%+v stapled", o)
		}
	}
}

// -ocsp-refresh fetches the staple from the certificate's responder.
func TestServerStapleRefresh(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	resp := pkitest.StartOCSPResponder(t, in)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}, OCSPURL: resp.URL()})
	dir := t.TempDir()
	files := leaf.WriteFiles(t, dir)
	cfg := testConfig(t)
	cfg.TLSCert, cfg.TLSKey, cfg.OCSPFile, cfg.OCSPRefresh = files.FullChain, files.Key, filepath.Join(dir, "ocsp.der"), true
	tm := startMTA(t, cfg)
	waitFor(t, "the staple file", func() bool {
		_, err := os.Stat(cfg.OCSPFile)
		return err == nil
	})
	c := greet(t, tm.addr)
	defer c.Close()
	c.StartTLS(&tls.Config{RootCAs: root.Pool(), ServerName: "mx.test"})
	if len(c.Conn().(*tls.Conn).ConnectionState().OCSPResponse) == 0 {
		t.Fatal("the refreshed response is not stapled")
	}
}

func TestTLSFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-dane", "maybe"},
		{"-ocsp", "always"},
		{"-dane", "try", "-smarthost", "h.test:25"},
		{"-ocsp-file", "/x.der"},
		{"-ocsp-refresh"},
		{"-events-deny-connect", "not-a-cidr"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	cfg, err := parseFlags([]string{"-dane", "require", "-dns-trusted", "-ocsp", "request", "-events-deny-connect", "192.0.2.1,10.0.0.0/8"}, io.Discard)
	if err != nil || cfg.DANE != dane.Require || !cfg.DNSTrusted || cfg.OCSP != ocsp.Request || len(cfg.EventsDenyConnect) != 2 {
		t.Fatalf("%+v %v", cfg, err)
	}
}

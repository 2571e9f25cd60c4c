package main

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// With -smarthost-auth the password goes only over TLS whose certificate
// verifies for the smarthost's name, against -smarthost-ca or the
// system's roots. A self-signed certificate, one from a CA not trusted,
// one for another name, and no STARTTLS at all: each attempt is deferred
// with a 4.7.x and the smarthost never sees AUTH. With the issuing CA
// given, it authenticates and delivers.
func TestSmarthostAuthOnlyToVerifiedCertificate(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	caFile := ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}).WriteFiles(t, t.TempDir()).CA
	for _, tc := range []struct {
		name  string
		leaf  *pkitest.Cert // nil: no STARTTLS
		ca    string
		reply string // "" for delivered
	}{
		{"self-signed", pkitest.SelfSigned(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), "", "451 4.7.5"},
		{"self-signed, other CA given", pkitest.SelfSigned(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), caFile, "451 4.7.5"},
		{"untrusted CA", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), "", "451 4.7.5"},
		{"another name", ca.Issue(t, pkitest.Leaf{Names: []string{"smarthost.test", "127.0.0.2"}}), caFile, "451 4.7.5"},
		{"expired", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}, Expired: true}), caFile, "451 4.7.5"},
		{"client-only certificate", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}), caFile, "451 4.7.5"},
		{"no STARTTLS", nil, caFile, "451 4.7.10"},
		{"issuing CA given", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), caFile, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &authSink{Sink: &smtptest.Sink{}, pass: "pw-Secret-42"}
			peer := smtptest.Start(t, sink, func(s *smtp.Server) {
				if tc.leaf != nil {
					s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tc.leaf.TLS()}}
				} else {
					s.AllowInsecureAuth = true // it would take the password in clear
				}
			})
			cfg := testConfig(t)
			cfg.Smarthost, cfg.SmarthostUser, cfg.SmarthostPass = peer.Addr, "relay", "pw-Secret-42"
			cfg.SmarthostCA = tc.ca
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			sendMessage(t, tm.addr, "sender@example.test", []string{"x@anywhere.test"}, body)
			if tc.reply == "" {
				waitFor(t, "the smarthost to receive", func() bool { return len(sink.Messages()) == 1 })
				if sink.user.Load() != "relay" {
					t.Fatal("the MTA did not authenticate")
				}
				return
			}
			line := tm.waitLog(t, `msg="delivery deferred"`)
			if !strings.Contains(line, "reply=\""+tc.reply+" ") || !strings.Contains(line, "perm=false") {
				t.Fatalf("want a deferral with %s: %s", tc.reply, line)
			}
			if n := sink.attempts.Load(); n != 0 {
				t.Fatalf("the smarthost received %d AUTH commands", n)
			}
			if len(sink.Messages()) != 0 {
				t.Fatal("delivered without the verified TLS")
			}
			if ls := tm.logs.lines("pw-Secret-42"); len(ls) != 0 {
				t.Fatalf("the password is in the log: %q", ls)
			}
		})
	}
}

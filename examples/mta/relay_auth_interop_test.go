//go:build interop

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// eximAuth is an Exim authenticator section (the configuration's sections
// may come in any order) that takes AUTH PLAIN for relay/pw-Secret-42.
const eximAuth = `begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{relay}}{eq{$auth3}{pw-Secret-42}}}}
  server_set_id = $auth2
`

// Exim 4.96 as the smarthost, offering AUTH PLAIN: behind a self-signed
// certificate it never sees AUTH (its log has no authentication, neither
// a success nor a failure) and the message is deferred with 4.7.5; with
// -smarthost-ca naming the CA of its certificate, the MTA authenticates
// (A=plain:relay) and delivers.
func TestInteropSmarthostAuthToExim(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	for _, tc := range []struct {
		name  string
		leaf  *pkitest.Cert
		ca    bool
		reply string
	}{
		{"self-signed", pkitest.SelfSigned(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), false, "451 4.7.5"},
		{"another name", ca.Issue(t, pkitest.Leaf{Names: []string{"peer.test"}}), true, "451 4.7.5"},
		{"verified", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exim := eximWithCert(t, tc.leaf, eximAuth)
			cfg := testConfig(t)
			cfg.Smarthost, cfg.SmarthostUser, cfg.SmarthostPass = interop.Addr(exim.Port), "relay", "pw-Secret-42"
			if tc.ca {
				cfg.SmarthostCA = ca.Issue(t, pkitest.Leaf{Names: []string{"unused.test"}}).WriteFiles(t, t.TempDir()).CA
			}
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			sendMessage(t, tm.addr, "sender@example.test", []string{"x@anywhere.test"}, body)
			if tc.reply == "" {
				exim.WaitMessages(1, 30*time.Second)
				var received string
				for _, line := range strings.Split(exim.MainLog(), "\n") {
					if strings.Contains(line, " <= sender@example.test ") {
						received = line
					}
				}
				if !strings.Contains(received, " A=plain:relay ") || !strings.Contains(received, " X=TLS1.") {
					t.Fatalf("Exim's receive line: %q", received)
				}
				return
			}
			line := tm.waitLog(t, `msg="delivery deferred"`)
			if !strings.Contains(line, "reply=\""+tc.reply+" ") {
				t.Fatalf("deferral: %s", line)
			}
			log := exim.MainLog()
			if strings.Contains(log, "authenticator") || strings.Contains(log, "A=plain") || strings.Contains(log, " <= ") {
				t.Fatalf("Exim saw AUTH or a message:\n%s", log)
			}
		})
	}
}

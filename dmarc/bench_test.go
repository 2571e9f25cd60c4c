package dmarc

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// BenchmarkEvaluate evaluates one DKIM-signed message with an SPF pass
// against the in-process DNS server, after a first run has warmed it:
// header parsing, Ed25519 verification, two DNS queries (the key and
// _dmarc) and alignment.
func BenchmarkEvaluate(b *testing.B) {
	srv := world(b)
	e := evaluator(srv, nil)
	msg := sign(b, message("From: Joe <joe@example.com>", "To: ann@example.org"), "example.com")
	in := &Input{IP: clientIP, HELO: "mail.example.com", MailFrom: "joe@example.com", SPF: spfResult(authres.ResultPass, "joe@example.com")}
	if r := eval(b, e, in.MailFrom, in.SPF, msg); r.Status != StatusAccept {
		b.Fatalf("warm-up: %s", show(r))
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.Evaluate(context.Background(), in, strings.NewReader(msg))
		if err != nil || r.Status != StatusAccept {
			b.Fatalf("%v %v", r, err)
		}
	}
}

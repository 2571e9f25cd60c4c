//go:build interop

package smtputf8

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// eximExpand has Exim 4.96 expand each line (exim -be), and returns one
// result per line; a failed expansion gives "Failed: ...".
func eximExpand(t *testing.T, exprs []string) []string {
	t.Helper()
	interop.Need(t, "exim4")
	dir := t.TempDir()
	conf := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(conf, []byte("primary_hostname = peer.test\nkeep_environment =\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("exim4", "-C", conf, "-be")
	cmd.Stdin = strings.NewReader(strings.Join(exprs, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exim4 -be: %v\n%s", err, out)
	}
	var res []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "> "); ok {
			res = append(res, v)
		}
	}
	if len(res) < len(exprs) {
		t.Fatalf("exim4 -be gave %d results for %d lines:\n%s", len(res), len(exprs), out)
	}
	return res[:len(exprs)]
}

// Our conversions against Exim's own operators.
func TestEximConversions(t *testing.T) {
	locals := []string{"ل", "Jörg.Müller", "ü", "Ü", "☃-x", "aa-b-ü", "日本語.テスト", "a-", "ß.ss", "x\u0301y", "ascii.Part", "\U0001F600.smile"}
	for i := range 40 {
		locals = append(locals, "u"+string(rune(0xA0+i*331))+"."+string(rune(0x400+i*17))+"z")
	}
	alabels := []string{"xn--ghb", "xn--abc-", "xn--abc", "xn--Jrg.Mller-07a4e", "xn--aa-b--gva", "plain", "XN--ghb", "xn--zz!"}
	domains := []string{"straße.de", "Bücher.EXAMPLE", "ÖBB.at", "faß.de", "EXAMPLE.com", "mañana.com", "☃.net", "日本語.jp", "ü.de",
		// RFC 5892 section 3: DISALLOWED old Hangul jamo and marks of
		// the symbol and musical blocks; PVALID neighbours.
		"a\u1100.com", "\uA960\u1161.kr", "a\u11A8.kr", "a\u20D0.com", "a\U0001D165.com", "a\U0001D17B.com",
		"a\U0001D242.com", "\u1100\u1161.kr", "a\u302A.com",
		"straẞe.de"}
	adomains := []string{"xn--strae-oqa.de", "www.xn--bcher-kva.example", "xn--zz.net", "example.com",
		"xn--a-o5g.com", "xn--a-zrn.com", "xn--a-1k8q.com"}

	type conv struct {
		op  string
		in  string
		our func(string) (string, error)
	}
	var convs []conv
	for _, s := range locals {
		convs = append(convs, conv{"utf8_localpart_to_alabel", s, LocalPartToALabel})
		if a, err := LocalPartToALabel(s); err == nil {
			alabels = append(alabels, a)
		}
	}
	for _, s := range alabels {
		convs = append(convs, conv{"utf8_localpart_from_alabel", s, LocalPartFromALabel})
	}
	for _, s := range domains {
		convs = append(convs, conv{"utf8_domain_to_alabel", s, DomainToALabel})
	}
	for _, s := range adomains {
		convs = append(convs, conv{"utf8_domain_from_alabel", s, DomainFromALabel})
	}
	exprs := make([]string, len(convs))
	for i, c := range convs {
		exprs[i] = "${" + c.op + ":" + c.in + "}"
	}
	// Where libidn is laxer: its Punycode decoder stops at a character
	// that is not a digit, and its utf8_domain_from_alabel decodes
	// DISALLOWED code points that its utf8_domain_to_alabel refuses.
	stricter := map[string]bool{"xn--zz!": true, "xn--a-o5g.com": true, "xn--a-zrn.com": true, "xn--a-1k8q.com": true}
	// Where we differ on purpose: ẞ lower-cases to ß (RFC 5895 section
	// 2), which libidn2 with Debian 12's UTS #46 tables folds to "ss".
	differs := map[string]string{"straẞe.de": "xn--strae-oqa.de"}
	exim := eximExpand(t, exprs)
	for i, c := range convs {
		ours, err := c.our(c.in)
		failed := strings.HasPrefix(exim[i], "Failed:")
		switch want, ok := differs[c.in]; {
		case ok:
			if err != nil || ours != want {
				t.Errorf("%s: ours %q, %v; want %q (Exim %q)", exprs[i], ours, err, want, exim[i])
			}
		case !failed && err != nil && stricter[c.in]:
		case failed && err == nil:
			t.Errorf("%s: Exim %q, ours %q", exprs[i], exim[i], ours)
		case !failed && err != nil:
			t.Errorf("%s: Exim %q, ours %v", exprs[i], exim[i], err)
		case !failed && ours != exim[i]:
			t.Errorf("%s: Exim %q, ours %q", exprs[i], exim[i], ours)
		}
	}
}

func dialExim(t *testing.T, e *interop.Exim, ignore ...string) (*client.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := client.Dial(ctx, interop.Addr(e.Port), &client.Options{
		Hostname:       "relay.test",
		TLSConfig:      &tls.Config{InsecureSkipVerify: true},
		IgnoreKeywords: ignore,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ctx
}

const utf8Msg = "From: Jörg <jörg@bücher.example>\r\nTo: ل@bücher.example\r\nSubject: Grüße\r\n\r\nHallo.\r\n"

// Our client engine sends a UTF-8 envelope and header to Exim, which
// offers SMTPUTF8.
func TestSendToEximSMTPUTF8(t *testing.T) {
	e := interop.StartExim(t, "")
	c, ctx := dialExim(t, e)
	if _, ok := c.Extension("SMTPUTF8"); !ok {
		t.Fatal("Exim does not offer SMTPUTF8")
	}
	env := &client.Envelope{From: "jörg@bücher.example", To: []string{"ل@bücher.example", "user@example.com"}}
	env.UTF8, _ = HeaderNeedsUTF8(strings.NewReader(utf8Msg))
	res, err := Send(ctx, c, env, strings.NewReader(utf8Msg))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Recipients {
		if r.Status != client.Accepted {
			t.Errorf("%s: %v %v", r.Address, r.Status, r.Reply)
		}
	}
	msgs := e.WaitMessages(2, 20*time.Second)
	if !strings.Contains(msgs[0], "Subject: Grüße") {
		t.Errorf("message:\n%s", msgs[0])
	}
	log := e.MainLog()
	if !strings.Contains(log, "<= jörg@bücher.example") || !strings.Contains(log, "P=utf8esmtp") {
		t.Errorf("Exim's log lacks the UTF-8 sender or protocol:\n%s", log)
	}
	if !strings.Contains(log, "ل@bücher.example") {
		t.Errorf("Exim's log lacks the UTF-8 recipient:\n%s", log)
	}
}

// To an Exim without SMTPUTF8: UTF-8 domains are downgraded to A-labels,
// a UTF-8 local part fails with 553 5.6.7 and is not sent. (interop's
// StartExim sets smtputf8_advertise_hosts itself, and Exim refuses an
// option set twice: the engine ignores the keyword instead.)
func TestSendToEximWithoutSMTPUTF8(t *testing.T) {
	e := interop.StartExim(t, "")
	c, ctx := dialExim(t, e, "SMTPUTF8")
	if _, ok := c.Extension("SMTPUTF8"); ok {
		t.Fatal("Exim offers SMTPUTF8")
	}
	msg := "From: a@bücher.example\r\nSubject: plain\r\n\r\nHallo.\r\n"
	env := &client.Envelope{From: "a@bücher.example", To: []string{"b@bücher.example", "ل@example.com"}}
	res, err := Send(ctx, c, env, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Recipients[0]; r.Status != client.Accepted {
		t.Errorf("downgraded recipient: %+v", r)
	}
	if r := res.Recipients[1]; r.Status != client.PermFailed || r.Reply.EnhancedCode != (smtp.EnhancedCode{5, 6, 7}) || r.Address != "ل@example.com" {
		t.Errorf("UTF-8 local part: %+v", r)
	}
	e.WaitMessages(1, 20*time.Second)
	log := e.MainLog()
	if !strings.Contains(log, "<= a@xn--bcher-kva.example") || !strings.Contains(log, "b@xn--bcher-kva.example") {
		t.Errorf("Exim's log lacks the A-label addresses:\n%s", log)
	}
	if strings.Contains(log, "example.com") && strings.Contains(log, "xn--ghb") || strings.Contains(log, "ل") {
		t.Errorf("the UTF-8 local part reached Exim:\n%s", log)
	}

	// A UTF-8 header cannot be downgraded: nothing is sent.
	env = &client.Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	env.UTF8, _ = HeaderNeedsUTF8(strings.NewReader(utf8Msg))
	res, err = Send(ctx, c, env, strings.NewReader(utf8Msg))
	if err == nil || res.Recipients[0].Reply != ReplyCannotDowngrade {
		t.Errorf("UTF-8 header: %v %+v", err, res.Recipients)
	}
}

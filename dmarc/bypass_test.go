package dmarc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// The tests of this file attack the p=reject of example.com (world_test.go)
// with messages from a client its SPF record does not list, unsigned:
// whatever their From fields look like, they must meet that policy.

// TestFromFormsMeetPolicy: every RFC 5322 From form of a p=reject domain,
// obsolete ones included, is evaluated against its policy, not taken for
// nofrom.
func TestFromFormsMeetPolicy(t *testing.T) {
	e := evaluator(world(t), nil)
	for _, from := range []string{
		"From: (The CEO) joe@example.com",
		"From: The CEO joe@example.com", // not RFC 5322, yet MUAs show it
		"From: <joe@example.com >",
		"From: < joe@example.com (x) >",
		"From: CEO <joe@\r\n example.com>",
		"From: <@relay.example.net:joe@example.com>",
		"From: ,joe@example.com,,",
		"From: joe . smith @ example . com",
		"From: joe@example(c).com",
		"From: Mr. Joe Q. Public <joe@example.com>",
		"From : joe@example.com",
		"FROM: \"joe\"@EXAMPLE.COM.",
		"From: joe@example.com\r\n (folded comment",
		"From: =?utf-8?q?The_CEO?= <joe@example.com>",
		"From: =?utf-8?b?PGNlb0BleGFtcGxlLm9yZz4=?= joe@example.com",
		"From: undisclosed:; , joe@example.com",
		"From\r\n : joe@example.com",
	} {
		r := eval(t, e, "", nil, message(from))
		if r.Status != StatusReject {
			t.Errorf("%q: %s", from, show(r))
		}
	}
}

// TestSeveralAuthorsStrictest: several From fields, or several addresses
// in one, are each evaluated (RFC 7489 section 6.6.1), and the strictest
// result is the message's, whatever the order and whatever the other
// authors pass.
func TestSeveralAuthorsStrictest(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	// example.org is p=none; a DKIM pass of example.org passes it.
	for _, fields := range [][]string{
		{"From: ann@example.org", "From: joe@example.com"},
		{"From: joe@example.com", "From: ann@example.org"},
		{"From: ann@example.org, joe@example.com"},
		{"From: Ann <ann@example.org>, The CEO <joe@example.com>"},
		{"From: ann@example.org", "From: garbage", "From: joe@example.com"},
		{"From: list: ann@example.org, joe@example.com;"},
	} {
		msg := sign(t, message(fields...), "example.org")
		r := eval(t, e, "ann@example.org", nil, msg)
		if r.Status != StatusReject || r.FromDomain != "example.com" || len(r.Authors) < 2 {
			t.Errorf("%q: %s, %d authors", fields, show(r), len(r.Authors))
			continue
		}
		var org *Result
		for _, a := range r.Authors {
			if a.FromDomain == "example.org" {
				org = a
			}
		}
		if org == nil || org.Status != StatusAccept || !org.DKIMAligned || r.DKIMAligned {
			t.Errorf("%q: example.org's own result %v, the message's %s", fields, org, show(r))
		}
	}
	// An unusable From field next to a passing one: the message is
	// nofrom, which the session refuses by default.
	r := eval(t, e, "", nil, sign(t, message("From: ann@example.org", "From: undisclosed:;"), "example.org"))
	if r.Status != StatusNoFrom || !errors.Is(r.Err, ErrNoAuthor) || len(r.Authors) != 2 {
		t.Errorf("pass and nofrom: %s", show(r))
	}
	// One author, written twice: one evaluation.
	r = eval(t, e, "", nil, message("From: joe@example.com", "From: JOE@Example.Com."))
	if r.Status != StatusReject || r.Authors != nil {
		t.Errorf("one author twice: %s, %d authors", show(r), len(r.Authors))
	}
	// Too many domains to evaluate: an error, not a result.
	var fields []string
	for i := range DefaultMaxAuthorDomains {
		fields = append(fields, fmt.Sprintf("From: a@d%d.example.org", i))
	}
	fields = append(fields, "From: joe@example.com")
	_, err := e.Evaluate(context.Background(), &Input{IP: clientIP}, strings.NewReader(message(fields...)))
	if !errors.Is(err, ErrTooManyAuthors) {
		t.Errorf("%d authors: %v", len(fields), err)
	}
}

// TestHeaderMemory: header sections of 1 MiB made of tiny fields
// (262144 of them), with a DKIM signature, or of From fields by the
// hundred thousand, good, repeated or bad, are evaluated in memory
// within a small multiple of their size, and the number of allocations
// does not grow with the number of fields.
func TestHeaderMemory(t *testing.T) {
	e := evaluator(world(t), nil)
	in := &Input{IP: clientIP, MailFrom: "joe@example.com"}
	// The signature covers From, Subject and Message-ID; the padding
	// goes after it.
	signed := sign(t, message("From: joe@example.com"), "example.com")
	pad := func(field string) string {
		return strings.Repeat(field, (DefaultMaxHeaderBytes-len(signed))/len(field))
	}
	for _, tt := range []struct {
		name, msg string
		status    Status
	}{
		{"tiny fields", strings.Replace(signed, "\r\nFrom: ", "\r\n"+pad("a:\r\n")+"From: ", 1), StatusAccept},
		{"one From repeated", strings.Replace(signed, "\r\nFrom: ", "\r\n"+pad("From:joe@example.com\r\n")+"From: ", 1), StatusAccept},
		{"bad From fields", strings.Replace(signed, "\r\nFrom: ", "\r\n"+pad("From:<x\r\n")+"From: ", 1), StatusNoFrom},
		{"bad domains", strings.Replace(signed, "\r\nFrom: ", "\r\n"+pad("From:a@b..c\r\n")+"From: ", 1), StatusNoFrom},
		{"forged results", strings.Replace(signed, "\r\nFrom: ", "\r\n"+pad("Authentication-Results:x;none\r\n")+"From: ", 1), StatusAccept},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := e.Evaluate(context.Background(), in, strings.NewReader(tt.msg)); err != nil || r.Status != tt.status {
				t.Fatalf("%v %v", r, err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := e.Evaluate(context.Background(), in, strings.NewReader(tt.msg)); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(tt.msg)); got > limit {
				t.Errorf("%d fields, %d bytes: %d bytes allocated, want at most %d", strings.Count(tt.msg, "\n"), len(tt.msg), got, limit)
			}
			allocs := testing.AllocsPerRun(2, func() {
				if _, err := e.Evaluate(context.Background(), in, strings.NewReader(tt.msg)); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 2000 {
				t.Errorf("%v allocations for one message", allocs)
			}
		})
	}
}

// TestSessionFromAttacks: through the session wrapper with Reject, the
// attack messages are refused with 550 5.7.1 and nothing is delivered;
// DeliverNoFrom delivers the messages without a usable From, and only
// those.
func TestSessionFromAttacks(t *testing.T) {
	dnsSrv := world(t)
	for _, tt := range []struct {
		name, hdr   string
		deliverNone bool
		code        int
		status      Status
	}{
		{"comment before a bare address", "From: (The CEO) joe@example.com\r\n", false, 550, StatusReject},
		{"CFWS in angle brackets", "From: <joe@example.com >\r\n", false, 550, StatusReject},
		{"two From fields", "From: ann@example.org\r\nFrom: joe@example.com\r\n", false, 550, StatusReject},
		{"two addresses", "From: ann@example.org, joe@example.com\r\n", false, 550, StatusReject},
		{"no From", "", false, 550, StatusNoFrom},
		{"unparsable From", "From: <<<>>>\r\n", false, 550, StatusNoFrom},
		{"no From, delivered", "", true, 250, StatusNoFrom},
		{"unparsable From, delivered", "From: ::\r\n", true, 250, StatusNoFrom},
		{"unparsable and reject, DeliverNoFrom", "From: ::\r\nFrom: joe@example.com\r\n", true, 550, StatusReject},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			o := sessionOptions(dnsSrv)
			o.Reject, o.Quarantine, o.DeliverNoFrom = true, true, tt.deliverNone
			srv := startSession(t, rec, o)
			rep := send(t, srv, "x@example.net", tt.hdr+"Subject: hi\r\n\r\nbody\r\n")
			if rep.Code != tt.code || tt.code == 550 && !strings.HasPrefix(rep.Text(), "5.7.1 ") {
				t.Fatalf("reply %v", rep)
			}
			got := rec.deliveries()
			if tt.code == 550 {
				if len(got) != 0 {
					t.Fatalf("refused, yet delivered: %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].result.Status != tt.status || got[0].quarantined ||
				!strings.HasPrefix(got[0].data, "Authentication-Results: mx.example.org;\r\n\tdmarc=permerror") {
				t.Fatalf("deliveries %+v", got)
			}
		})
	}
}

// TestSessionStrictestPerOptions: with several authors, the session
// applies the result its options make strictest. A temperror author
// next to a quarantine one is deferred when Quarantine is set, and
// quarantined when DeliverTempError is set too.
func TestSessionStrictestPerOptions(t *testing.T) {
	dnsSrv := world(t)
	if err := dnsSrv.SetMode("broken.example", dnstest.ServFail(100, "test")); err != nil {
		t.Fatal(err)
	}
	msg := message("From: joe@news.example.com", "From: joe@broken.example")
	rec := &recorder{}
	o := sessionOptions(dnsSrv)
	o.Quarantine = true
	if rep := send(t, startSession(t, rec, o), "x@example.net", msg); rep.Code != 451 {
		t.Fatalf("defer: %v", rep)
	}
	o.DeliverTempError = true
	if rep := send(t, startSession(t, rec, o), "x@example.net", msg); rep.Code != 250 {
		t.Fatalf("quarantine: %v", rep)
	}
	got := rec.deliveries()
	if len(got) != 1 || !got[0].quarantined || got[0].result.Status != StatusQuarantine || len(got[0].result.Authors) != 2 {
		t.Fatalf("deliveries %+v", got)
	}
}

// TestSessionHeaderTooLarge: a header section over the limit is refused
// with 552 5.3.4 (Exim's header_maxsize), unevaluated sessions included,
// and nothing is delivered.
func TestSessionHeaderTooLarge(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{auth: true}
	o := sessionOptions(dnsSrv)
	o.Evaluator = evaluator(dnsSrv, &Options{MaxHeaderBytes: 4096})
	srv := startSession(t, rec, o)
	big := "From: joe@example.com\r\nX-Pad: " + strings.Repeat("x", 900) + strings.Repeat("\r\n "+strings.Repeat("x", 900), 5) + "\r\n\r\nbody\r\n"
	tiny := "From: joe@example.com\r\n" + strings.Repeat("a:\r\n", 2000) + "\r\nbody\r\n"
	for _, msg := range []string{big, tiny} {
		rep := send(t, srv, "x@example.net", msg)
		if rep.Code != 552 || !strings.HasPrefix(rep.Text(), "5.3.4 ") {
			t.Fatalf("reply %v", rep)
		}
		c := dialAuthed(t, srv.Addr)
		c.MustCmd("DATA", 354)
		if rep := c.Cmd(msg + "."); rep.Code != 552 || !strings.HasPrefix(rep.Text(), "5.3.4 ") {
			t.Fatalf("authenticated: reply %v", rep)
		}
	}
	if got := rec.deliveries(); len(got) != 0 {
		t.Fatalf("delivered %+v", got)
	}
	// The default limit, 1 MiB.
	o.Evaluator = evaluator(dnsSrv, nil)
	srv = startSession(t, rec, o)
	pad := "From: joe@example.com\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("x", 1000)+"\r\n", 1100) + "\r\nbody\r\n"
	if rep := send(t, srv, "x@example.net", pad); rep.Code != 552 {
		t.Fatalf("1 MiB: reply %v", rep)
	}
}

// TestSessionForgedResults: Authentication-Results fields that claim our
// authserv-id are removed on every path (RFC 8601 section 5): delivered,
// quarantined, nofrom delivered, and unevaluated; in every spelling:
// case, folding, comments and CFWS before the id, a version after it, a
// quoted id, a final dot, white space before the colon.
func TestSessionForgedResults(t *testing.T) {
	dnsSrv := world(t)
	forged := []string{
		"Authentication-Results: mx.example.org; dmarc=pass header.from=example.com",
		"authentication-results: MX.EXAMPLE.ORG; dmarc=pass",
		"Authentication-Results:\r\n\tmx.example.org;\r\n\tdmarc=pass",
		"Authentication-Results: (our (own)) mx.example.org; dmarc=pass",
		"Authentication-Results:(c)\r\n (d) mx.example.org 1; dmarc=pass",
		"Authentication-Results: mx.example.org 1 ; dmarc=pass",
		"Authentication-Results: mx.example.org(c)1; dmarc=pass",
		"Authentication-Results: \"mx.example.org\"; dmarc=pass",
		"Authentication-Results: mx.example.org.; dmarc=pass",
		"Authentication-Results : mx.example.org; dmarc=pass",
		"Authentication-Results:mx.example.org;dmarc=pass",
	}
	kept := "Authentication-Results: mx.example.org.evil; dmarc=pass\r\nAuthentication-Results: other.example; spf=pass\r\n"
	hdr := strings.Join(forged, "\r\n") + "\r\n" + kept
	for _, tt := range []struct {
		name, from string
		auth       bool
	}{
		{"delivered", "From: joe@example.org\r\n", false},
		{"quarantined", "From: joe@news.example.com\r\n", false},
		{"nofrom delivered", "", false},
		{"unevaluated", "From: joe@example.com\r\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{auth: tt.auth}
			o := sessionOptions(dnsSrv)
			o.Reject, o.Quarantine, o.DeliverNoFrom = true, true, true
			srv := startSession(t, rec, o)
			msg := hdr + tt.from + "Subject: hi\r\n\r\nbody\r\n"
			if tt.auth {
				c := dialAuthed(t, srv.Addr)
				c.MustCmd("DATA", 354)
				c.MustCmd(msg+".", 250)
			} else if rep := send(t, srv, "x@example.net", msg); rep.Code != 250 {
				t.Fatalf("reply %v", rep)
			}
			got := rec.deliveries()
			if len(got) != 1 {
				t.Fatalf("%d deliveries", len(got))
			}
			ours, rest, _ := strings.Cut(got[0].data, "\r\n"+strings.SplitN(kept, "\r\n", 2)[0])
			if !strings.HasPrefix(ours, "Authentication-Results: mx.example.org;") || strings.Count(strings.ToLower(got[0].data), "mx.example.org") != 2 ||
				rest != "\r\n"+strings.SplitN(kept, "\r\n", 2)[1]+tt.from+"Subject: hi\r\n\r\nbody\r\n" {
				t.Fatalf("delivered:\n%s", got[0].data)
			}
		})
	}
}

// dialAuthed opens an authenticated session with a transaction ready for
// DATA.
func dialAuthed(t *testing.T, addr string) *smtptest.Client {
	t.Helper()
	c := smtptest.Dial(t, addr)
	c.Expect(220)
	c.MustCmd("EHLO client.example.com", 250)
	c.MustCmd("AUTH PLAIN AGpvZQBzZWNyZXQ=", 235) // \0joe\0secret
	c.MustCmd("MAIL FROM:<joe@example.com>", 250)
	c.MustCmd("RCPT TO:<x@example.net>", 250)
	return c
}

// TestSessionLogsDeferral: a 451 after a failed evaluation is logged at
// warn level, with the reason, on the options' logger.
func TestSessionLogsDeferral(t *testing.T) {
	dnsSrv := world(t)
	if err := dnsSrv.SetMode("broken.example", dnstest.ServFail(100, "test")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	o := sessionOptions(dnsSrv)
	o.Reject = true
	o.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := startSession(t, &recorder{}, o)
	if rep := send(t, srv, "x@broken.example", message("From: joe@broken.example")); rep.Code != 451 {
		t.Fatalf("reply %v", rep)
	}
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "451") || !strings.Contains(out, "broken.example") {
		t.Fatalf("log:\n%s", out)
	}
}

// discardBackend's sessions read each message to its end and keep
// nothing.
type discardBackend struct{ n int }

func (b *discardBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession{b}, nil }

type discardSession struct{ b *discardBackend }

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }
func (s discardSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	s.b.n += int(n)
	return err
}

// TestSessionHeaderMemory: through the session wrapper, a message of
// 262144 tiny header fields (1 MiB) costs memory within a small multiple
// of its size, the client's side and the SMTP server's included: the
// header section is read once, and no copy of it is made per field.
func TestSessionHeaderMemory(t *testing.T) {
	dnsSrv := world(t)
	be := &discardBackend{}
	o := sessionOptions(dnsSrv)
	o.Reject, o.Quarantine = true, true
	srv := smtptest.Start(t, WrapBackend(be, o))
	msg := "From: joe@example.org\r\n" + strings.Repeat("a:\r\n", (DefaultMaxHeaderBytes-100)/4) +
		"Authentication-Results: mx.example.org; dmarc=pass\r\n\r\nbody\r\n"
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO client.example.com", 250)
	c.MustCmd("MAIL FROM:<x@example.net>", 250)
	c.MustCmd("RCPT TO:<postmaster@mx.test>", 250)
	c.MustCmd("DATA", 354)
	data := msg + "."
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep := c.Cmd(data)
	runtime.ReadMemStats(&after)
	if rep.Code != 250 || be.n < len(msg)-100 {
		t.Fatalf("reply %v, %d bytes delivered", rep, be.n)
	}
	// The client's copies of the message (2), the spool (2, as it
	// grows), the index (1), the header section without the forged
	// field (1); and some room for the race detector, which makes
	// sync.Pool drop buffers.
	got, limit := after.TotalAlloc-before.TotalAlloc, uint64(10*len(msg))
	if got > limit {
		t.Errorf("%d bytes allocated for a message of %d, want at most %d", got, len(msg), limit)
	}
	t.Logf("%d bytes allocated for a message of %d", got, len(msg))
}

package dmarc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// delivery is what the inner session saw of one message.
type delivery struct {
	data        string
	result      *Result
	quarantined bool
}

// recorder is an inner backend that reads the result as an MTA would.
type recorder struct {
	auth bool // offer AUTH PLAIN, password "secret"

	mu  sync.Mutex
	got []delivery
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &recSession{r: r, c: c}
	if r.auth {
		return &authSession{s}, nil
	}
	return s, nil
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

type recSession struct {
	r *recorder
	c *smtp.Conn
}

func (s *recSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *recSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *recSession) Reset()                               {}
func (s *recSession) Logout() error                        { return nil }

func (s *recSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.got = append(s.r.got, delivery{data: string(b), result: FromConn(s.c), quarantined: Quarantined(s.c)})
	s.r.mu.Unlock()
	return nil
}

type authSession struct{ *recSession }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, _, pass string) error {
		if pass != "secret" {
			return errors.New("bad password")
		}
		return nil
	}), nil
}

// startSession serves rec wrapped with o on loopback.
func startSession(t *testing.T, rec *recorder, o *SessionOptions, configure ...func(*smtp.Server)) *smtptest.Server {
	t.Helper()
	return smtptest.Start(t, WrapBackend(rec, o), append([]func(*smtp.Server){func(s *smtp.Server) { s.AllowInsecureAuth = true }}, configure...)...)
}

// send runs one transaction and returns the reply to the end of data.
func send(t *testing.T, srv *smtptest.Server, mailFrom, msg string) smtptest.Reply {
	t.Helper()
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO client.example.com", 250)
	c.MustCmd("MAIL FROM:<"+mailFrom+">", 250)
	c.MustCmd("RCPT TO:<postmaster@mx.test>", 250)
	c.MustCmd("DATA", 354)
	return c.Cmd(dotStuff(msg) + ".")
}

func dotStuff(msg string) string {
	lines := strings.SplitAfter(msg, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "")
}

// spfPassFor makes the SPF hook answer pass for every MAIL FROM: the SPF
// check itself is the spf package's business.
func spfPassFor(c *smtp.Conn) *authres.SPFResult {
	return &authres.SPFResult{Value: authres.ResultPass, From: "joe@example.com", Helo: c.Hostname()}
}

func sessionOptions(dnsSrv *dnstest.Server) *SessionOptions {
	return &SessionOptions{Evaluator: evaluator(dnsSrv, nil), AuthServID: "mx.example.org"}
}

// TestSessionHeader: the inner session gets one Authentication-Results
// field of ours on top, with SPF, DKIM and DMARC, and no forged ones.
func TestSessionHeader(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	o := sessionOptions(dnsSrv)
	o.SPF = spfPassFor
	srv := startSession(t, rec, o)
	msg := sign(t, message("From: joe@example.com"), "example.com")
	forged := "Authentication-Results: mx.example.org; dmarc=pass header.from=example.com\r\n" +
		"Authentication-Results: (comment) \"MX.Example.ORG\";\r\n\tdkim=pass\r\n" +
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=x@example.com\r\n"
	if rep := send(t, srv, "joe@example.com", forged+msg); rep.Code != 250 {
		t.Fatalf("reply %v", rep)
	}
	got := rec.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	want := "Authentication-Results: mx.example.org;\r\n" +
		"\tspf=pass smtp.helo=client.example.com smtp.mailfrom=joe@example.com;\r\n" +
		"\tdkim=pass header.d=example.com header.s=sel;\r\n" +
		"\tdmarc=pass header.from=example.com policy.dmarc=none\r\n" +
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=x@example.com\r\n"
	if !strings.HasPrefix(got[0].data, want+msg[:20]) || !strings.HasSuffix(got[0].data, msg) {
		t.Errorf("delivered\n%s\nwant it to start with\n%s", got[0].data, want)
	}
	if strings.Count(got[0].data, "mx.example.org") != 1 {
		t.Error("forged fields left in")
	}
	if r := got[0].result; r == nil || r.Status != StatusAccept || got[0].quarantined {
		t.Errorf("result %v", got[0])
	}
	// The delivered message still passes: our field is not signed.
	if r := eval(t, evaluator(dnsSrv, nil), "", nil, got[0].data); r.Status != StatusAccept {
		t.Errorf("re-evaluated: %s", show(r))
	}
	// authres.Parse reads our field back.
	v := strings.TrimPrefix(strings.SplitN(got[0].data, "\r\nAuthentication-Results: other", 2)[0], "Authentication-Results: ")
	id, results, err := authres.Parse(strings.ReplaceAll(v, "\r\n\t", " "))
	if err != nil || id != "mx.example.org" || len(results) != 3 {
		t.Errorf("authres.Parse: %q %v %v", id, results, err)
	}
}

// TestSessionEnforcement: reject with 550 5.7.1 and quarantine marks, as
// configured; the history records what was done.
func TestSessionEnforcement(t *testing.T) {
	dnsSrv := world(t)
	hist, err := OpenHistory(t.TempDir()+"/history", "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer hist.Close()
	tests := []struct {
		name        string
		reject      bool
		quarantine  bool
		from        string
		code        int
		quarantined bool
		status      Status
		deliverNone bool // DeliverNoFrom
	}{
		{"reject", true, true, "joe@example.com", 550, false, StatusReject, false},
		{"reject off, quarantine on", false, true, "joe@example.com", 250, true, StatusReject, false},
		{"reject and quarantine off", false, false, "joe@example.com", 250, false, StatusReject, false},
		{"quarantine", true, true, "joe@news.example.com", 250, true, StatusQuarantine, false},
		{"quarantine off", true, false, "joe@news.example.com", 250, false, StatusQuarantine, false},
		{"none", true, true, "joe@none.example.com", 250, false, StatusNone, false},
		{"norecord", true, true, "joe@example.net", 250, false, StatusNoRecord, false},
		{"nofrom", true, true, "", 550, false, StatusNoFrom, false},
		{"nofrom, quarantine only", false, true, "", 250, true, StatusNoFrom, false},
		{"nofrom, delivered", true, true, "", 250, false, StatusNoFrom, true},
		{"nofrom, enforcing nothing", false, false, "", 250, false, StatusNoFrom, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			o := sessionOptions(dnsSrv)
			o.Reject, o.Quarantine, o.History, o.DeliverNoFrom = tt.reject, tt.quarantine, hist, tt.deliverNone
			srv := startSession(t, rec, o)
			var msg string
			if tt.from != "" {
				msg = message("From: " + tt.from)
			} else {
				msg = message()
			}
			rep := send(t, srv, "x@example.net", msg)
			if rep.Code != tt.code {
				t.Fatalf("reply %v", rep)
			}
			got := rec.deliveries()
			if tt.code == 550 {
				want := "5.7.1 Rejected by the DMARC policy of example.com"
				if tt.status == StatusNoFrom {
					want = "5.7.1 No usable author domain in From, refused by DMARC (RFC 7489 section 6.6.1)"
				}
				if len(got) != 0 || rep.Text() != want {
					t.Fatalf("rejected, yet %d deliveries, reply %v", len(got), rep)
				}
				return
			}
			if len(got) != 1 || got[0].result.Status != tt.status || got[0].quarantined != tt.quarantined {
				t.Fatalf("deliveries %+v", got)
			}
		})
	}
	b, _ := os.ReadFile(hist.f.Name())
	if n := strings.Count(string(b), "job "); n != 7 {
		t.Errorf("%d history records, want 7 (nofrom is not recorded)", n)
	}
	if !strings.Contains(string(b), "\naction 0\n") || !strings.Contains(string(b), "\naction 4\n") {
		t.Errorf("history lacks the reject or quarantine action:\n%s", b)
	}
}

// TestSessionAuthenticated: an authenticated session's messages pass
// unevaluated, with StatusOff, and yet lose the Authentication-Results
// fields that claim our authserv-id (RFC 8601 section 5) for our own,
// which says none.
func TestSessionAuthenticated(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{auth: true}
	o := sessionOptions(dnsSrv)
	o.Reject = true
	srv := startSession(t, rec, o)
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO client.example.com", 250)
	c.MustCmd("AUTH PLAIN AGpvZQBzZWNyZXQ=", 235) // \0joe\0secret
	c.MustCmd("MAIL FROM:<joe@example.com>", 250)
	c.MustCmd("RCPT TO:<x@example.net>", 250)
	c.MustCmd("DATA", 354)
	msg := message("From: joe@example.com")
	forged := "Authentication-Results: MX.example.org.; dmarc=pass header.from=example.com\r\n"
	c.MustCmd(forged+msg+".", 250)
	got := rec.deliveries()
	if len(got) != 1 || got[0].data != "Authentication-Results: mx.example.org; none\r\n"+msg ||
		got[0].result.Status != StatusOff || got[0].result.Value != "" {
		t.Fatalf("deliveries %+v", got)
	}
	if got[0].result.AuthResult() != nil {
		t.Error("AuthResult for StatusOff")
	}
}

// TestSessionTempError defers when a policy is enforced, and delivers
// when nothing is, or when asked to.
func TestSessionTempError(t *testing.T) {
	dnsSrv := world(t)
	if err := dnsSrv.SetMode("broken.example", dnstest.ServFail(2, "test")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	o := sessionOptions(dnsSrv)
	o.Reject = true
	srv := startSession(t, rec, o)
	if rep := send(t, srv, "x@broken.example", message("From: joe@broken.example")); rep.Code != 451 || !strings.HasPrefix(rep.Text(), "4.7.1 ") {
		t.Fatalf("reply %v", rep)
	}
	o.Reject, o.Quarantine = false, true
	srv = startSession(t, rec, o)
	if rep := send(t, srv, "x@broken.example", message("From: joe@broken.example")); rep.Code != 451 {
		t.Fatalf("quarantine: reply %v", rep)
	}
	o.DeliverTempError = true
	srv = startSession(t, rec, o)
	if rep := send(t, srv, "x@broken.example", message("From: joe@broken.example")); rep.Code != 250 {
		t.Fatalf("reply %v", rep)
	}
	o.Quarantine, o.DeliverTempError = false, false
	srv = startSession(t, rec, o)
	if rep := send(t, srv, "x@broken.example", message("From: joe@broken.example")); rep.Code != 250 {
		t.Fatalf("reply %v", rep)
	}
	if got := rec.deliveries(); len(got) != 2 || got[1].result.Status != StatusTempError || got[0].result.Status != StatusTempError ||
		!strings.Contains(got[0].data, "dmarc=temperror header.from=broken.example") {
		t.Fatalf("deliveries %+v", got)
	}
}

// TestSessionLargeMessage spools a message larger than SpoolMemory to a
// file, passes it on whole, and removes the file.
func TestSessionLargeMessage(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	o := sessionOptions(dnsSrv)
	o.SpoolMemory = 4 << 10
	o.SpoolDir = t.TempDir()
	srv := startSession(t, rec, o)
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 8<<10) // 528 KiB
	msg := sign(t, "From: joe@example.com\r\nSubject: big\r\n\r\n"+body, "example.com")
	if rep := send(t, srv, "x@example.net", msg); rep.Code != 250 {
		t.Fatalf("reply %v", rep)
	}
	got := rec.deliveries()
	if len(got) != 1 || !strings.HasSuffix(got[0].data, msg) || got[0].result.Status != StatusAccept {
		t.Fatalf("deliveries: %d, status %v", len(got), got)
	}
	left, _ := os.ReadDir(o.SpoolDir)
	if len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}

// TestSessionFailureReports sends failure reports when enabled, and only
// then.
func TestSessionFailureReports(t *testing.T) {
	dnsSrv := world(t)
	sink := &smtptest.Sink{}
	reports := smtptest.Start(t, sink)
	for _, enabled := range []bool{false, true} {
		rec := &recorder{}
		o := sessionOptions(dnsSrv)
		o.FailureReports = enabled
		o.Reporter = NewReporter(&ReporterOptions{Email: "dmarc@example.org", Sender: smtpSender(reports.Addr), Resolver: dnsSrv.Resolver()})
		srv := startSession(t, rec, o)
		if rep := send(t, srv, "x@example.net", message("From: joe@example.com")); rep.Code != 250 {
			t.Fatalf("reply %v", rep)
		}
	}
	got := sink.Messages()
	if len(got) != 1 || got[0].To[0] != "auth-reports@example.com" || !bytes.Contains(got[0].Data, []byte("Feedback-Type: auth-failure")) {
		t.Fatalf("reports %+v", got)
	}
}

// TestSessionLMTP refuses a rejected message for every recipient.
func TestSessionLMTP(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	o := sessionOptions(dnsSrv)
	o.Reject = true
	srv := startSession(t, rec, o, func(s *smtp.Server) { s.LMTP = true })
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("LHLO client.example.com", 250)
	for _, msg := range []string{message("From: joe@example.com"), sign(t, message("From: joe@example.com"), "example.com")} {
		c.MustCmd("MAIL FROM:<x@example.net>", 250)
		c.MustCmd("RCPT TO:<a@mx.test>", 250)
		c.MustCmd("RCPT TO:<b@mx.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(dotStuff(msg) + ".\r\n")
		first, second := c.ReadReply(), c.ReadReply()
		want := 550
		if strings.Contains(msg, "DKIM-Signature") {
			want = 250
		}
		if first.Code != want || second.Code != want {
			t.Fatalf("replies %v, %v", first, second)
		}
	}
	if got := rec.deliveries(); len(got) != 1 || got[0].result.Status != StatusAccept {
		t.Fatalf("deliveries %+v", got)
	}
}

// TestSessionResultCleared: a new transaction forgets the last result.
func TestSessionResultCleared(t *testing.T) {
	dnsSrv := world(t)
	s := WrapSession(&recSession{r: &recorder{}}, nil, sessionOptions(dnsSrv))
	s.result = &Result{Status: StatusAccept}
	if err := s.Mail("a@example.com", nil); err != nil || s.Result() != nil {
		t.Fatalf("Mail: %v, result %v", err, s.Result())
	}
	s.result = &Result{Status: StatusAccept}
	s.Reset()
	if s.Result() != nil {
		t.Fatal("Reset kept the result")
	}
}

// TestSessionChecksOverride: a Check's result joins our
// Authentication-Results field, and its override delivers a message the
// reject policy would have refused; the history records that nothing
// was enforced.
func TestSessionChecksOverride(t *testing.T) {
	dnsSrv := world(t)
	hist, err := OpenHistory(t.TempDir()+"/history", "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer hist.Close()
	var sawMessage bool
	check := func(_ context.Context, c *smtp.Conn, msg io.Reader, r *Result) CheckResult {
		b, _ := io.ReadAll(msg)
		sawMessage = strings.Contains(string(b), "From: joe@example.com")
		if c == nil || r.Status != StatusReject {
			return CheckResult{}
		}
		return CheckResult{
			Result:   &authres.GenericResult{Method: "arc", Value: authres.ResultPass, Params: map[string]string{"header.oldest-pass": "1"}},
			Override: "arc: trusted chain from forwarder.example",
		}
	}
	rec := &recorder{}
	o := sessionOptions(dnsSrv)
	o.Reject, o.Quarantine, o.History, o.Checks = true, true, hist, []Check{check}
	srv := startSession(t, rec, o)
	if rep := send(t, srv, "x@example.net", message("From: joe@example.com")); rep.Code != 250 {
		t.Fatalf("overridden reject refused: %v", rep)
	}
	got := rec.deliveries()
	if len(got) != 1 || got[0].quarantined || got[0].result.Status != StatusReject ||
		got[0].result.Override != "arc: trusted chain from forwarder.example" {
		t.Fatalf("deliveries %+v", got)
	}
	if !sawMessage {
		t.Error("the check did not get the message")
	}
	if !strings.Contains(got[0].data, "\tarc=pass header.oldest-pass=1\r\n") || !strings.Contains(got[0].data, "dmarc=fail") {
		t.Fatalf("Authentication-Results:\n%s", got[0].data)
	}
	b, _ := os.ReadFile(hist.f.Name())
	if !strings.Contains(string(b), "\naction 2\n") || strings.Contains(string(b), "\naction 0\n") {
		t.Fatalf("history does not record an accepted message:\n%s", b)
	}
}

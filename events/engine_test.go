package events_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// recorder keeps every event it is given, in order.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) HandleEvent(_ context.Context, ev events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder) events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *recorder) names() []string {
	var out []string
	for _, ev := range r.events() {
		out = append(out, string(ev.Name))
	}
	return out
}

// vetoOn vetoes the named event with reason.
func vetoOn(name events.Name, reason string) events.Handler {
	return events.HandlerFunc(func(_ context.Context, ev events.Event) error {
		if ev.Name == name {
			return errors.New(reason)
		}
		return nil
	})
}

// countingDialer counts dial attempts and the bytes written on its
// connections.
type countingDialer struct {
	dials   atomic.Int32
	written atomic.Int64
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, d: d}, nil
}

type countingConn struct {
	net.Conn
	d *countingDialer
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.d.written.Add(int64(n))
	return n, err
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quiet() *events.Emitter {
	return &events.Emitter{Logger: discard}
}

func TestVetoConnectMakesNoAttempt(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	rec := &recorder{}
	em := quiet()
	em.Handler = events.Chain(rec, events.DenyConnect(netip.MustParsePrefix("127.0.0.0/8")), vetoOn(events.TCPConnect, "not reached"))
	fwd := &countingDialer{}
	ctx := events.NewContext(ctxT(t), events.Event{MessageID: "m1", Host: "mx.test"})

	_, err := client.Dial(ctx, srv.Addr, &client.Options{Dialer: em.Dialer(fwd)})
	var ve *events.VetoError
	if !errors.As(err, &ve) || ve.Event != events.TCPConnect || !strings.Contains(err.Error(), "are denied") {
		t.Fatalf("Dial: %v, want the DenyConnect veto (first veto wins)", err)
	}
	if n := fwd.dials.Load(); n != 0 {
		t.Fatalf("%d connection attempts after a tcp:connect veto", n)
	}
	evs := rec.events()
	if len(evs) != 1 || evs[0].Name != events.TCPConnect || evs[0].HostAddr.String() != srv.Addr || evs[0].MessageID != "m1" {
		t.Fatalf("events %+v", evs)
	}

	// Another address passes the same policy.
	em.Handler = events.Chain(rec, events.DenyConnect(netip.MustParsePrefix("10.0.0.0/8")))
	c, err := client.Dial(ctx, srv.Addr, &client.Options{Dialer: em.Dialer(fwd)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if fwd.dials.Load() != 1 {
		t.Fatal("allowed address not dialed")
	}
}

// startTLS runs a go-smtp server with STARTTLS and a certificate from a
// test CA for "mx.test" and 127.0.0.1.
func startTLS(t *testing.T) (*smtptest.Server, *smtptest.Sink, *pkitest.CA) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.test", "127.0.0.1"}})
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
	})
	return srv, sink, ca
}

func TestVetoTLSCertRefusesTLS(t *testing.T) {
	srv, sink, ca := startTLS(t)
	rec := &recorder{}
	em := quiet()
	em.Handler = events.Chain(rec, events.HandlerFunc(func(_ context.Context, ev events.Event) error {
		if ev.Name == events.TLSCert && ev.Data == "0" && ev.PeerCert.Subject.CommonName == "mx.test" {
			return errors.New("certificate of mx.test not wanted")
		}
		return nil
	}))
	ctx := events.NewContext(ctxT(t), events.Event{MessageID: "m2", Host: "mx.test"})
	var nextCalled atomic.Bool
	cfg := &tls.Config{RootCAs: ca.Pool(), VerifyConnection: em.VerifyConnection(ctx, func(tls.ConnectionState) error {
		nextCalled.Store(true)
		return nil
	})}

	// TLSRequired: Dial fails with the veto; nothing is sent in clear.
	_, err := client.Dial(ctx, srv.Addr, &client.Options{Dialer: em.Dialer(nil), TLSConfig: cfg, TLSPolicy: client.TLSRequired})
	var ve *events.VetoError
	if !errors.As(err, &ve) || ve.Event != events.TLSCert || !strings.Contains(err.Error(), "certificate of mx.test not wanted") {
		t.Fatalf("Dial: %v, want the tls:cert veto", err)
	}
	if nextCalled.Load() {
		t.Fatal("next VerifyConnection called after a veto")
	}
	want := []string{"tcp:connect", "smtp:connect", "tls:cert", "tls:cert", "tcp:close"}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	evs := rec.events()
	// From the top of the verified chain (the root, depth 1) down.
	if evs[2].Data != "1" || !evs[2].PeerCert.IsCA || evs[3].Data != "0" || evs[3].Host != "mx.test" || evs[3].MessageID != "m2" {
		t.Fatalf("tls:cert events %+v %+v", evs[2], evs[3])
	}

	// TLSOpportunistic: the engine connects again and stays in
	// plaintext (tls_tempfail_tryclear).
	rec.mu.Lock()
	rec.evs = nil
	rec.mu.Unlock()
	c, err := client.Dial(ctx, srv.Addr, &client.Options{Dialer: em.Dialer(nil), TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLS(); ok {
		t.Fatal("TLS in use after the veto")
	}
	res, err := c.Send(ctx, &client.Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if err != nil || res.Recipients[0].Status != client.Accepted || len(sink.Messages()) != 1 {
		t.Fatalf("plaintext delivery after the veto: %v %+v", err, res)
	}
	want = []string{"tcp:connect", "smtp:connect", "tls:cert", "tls:cert", "tcp:close", "tcp:connect", "smtp:connect"}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestVetoBannerClosesConnection(t *testing.T) {
	srv := smtptest.Start(t, &smtptest.Sink{})
	rec := &recorder{}
	em := quiet()
	em.Handler = events.Chain(rec, events.HandlerFunc(func(_ context.Context, ev events.Event) error {
		if ev.Name == events.SMTPConnect && strings.HasPrefix(ev.Data, "220 mx.test") {
			return errors.New("we do not talk to mx.test")
		}
		return nil
	}))
	fwd := &countingDialer{}
	_, err := client.Dial(ctxT(t), srv.Addr, &client.Options{Dialer: em.Dialer(fwd)})
	var ve *events.VetoError
	if !errors.As(err, &ve) || ve.Event != events.SMTPConnect || !strings.Contains(err.Error(), "we do not talk to mx.test") {
		t.Fatalf("Dial: %v, want the smtp:connect veto", err)
	}
	if fwd.dials.Load() != 1 || fwd.written.Load() != 0 {
		t.Fatalf("%d dials, %d bytes written after the banner veto: want 1 and 0 (no EHLO, no QUIT)", fwd.dials.Load(), fwd.written.Load())
	}
	want := []string{"tcp:connect", "smtp:connect", "tcp:close"}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	ev := rec.events()[1]
	if !ev.HostAddr.IsValid() || ev.HostAddr.String() != srv.Addr || !ev.SendingAddr.Addr().IsLoopback() || ev.SendingAddr.Port() == 0 {
		t.Fatalf("smtp:connect addresses %+v", ev)
	}
}

// deliver is one delivery attempt as a queue makes it, wired as doc.go
// shows.
func deliver(ctx context.Context, em *events.Emitter, addr string, env *client.Envelope, msg string) (done bool) {
	tmpl, _ := events.FromContext(ctx)
	tmpl.HostAddr, _ = netip.ParseAddrPort(addr)
	ctx = events.NewContext(ctx, tmpl)
	opts := &client.Options{Hostname: "relay.test", Dialer: em.Dialer(nil)}
	c, err := client.Dial(ctx, addr, opts)
	if err != nil {
		em.HostDefer(ctx, err)
		return false
	}
	res, err := c.Send(ctx, env, strings.NewReader(msg))
	done = true
	for _, r := range res.Recipients {
		em.Recipient(ctx, r.Address, r.Reply)
		done = done && r.Status != client.TempFailed
	}
	if err != nil {
		em.HostDefer(ctx, err)
	}
	c.Close()
	return done
}

func TestEventOrderDeferThenDeliver(t *testing.T) {
	var mails atomic.Int32
	sink := &smtptest.Sink{Reject: func(stage, _ string) error {
		if stage == "MAIL" && mails.Add(1) == 1 {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "busy, come back later"}
		}
		return nil
	}}
	srv := smtptest.Start(t, sink)
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	ctx := events.NewContext(ctxT(t), events.Event{MessageID: "1abcde-000001-XY", Sender: "alice@x.test", Router: "dnslookup", Transport: "remote_smtp", Host: "mx.test"})
	env := &client.Envelope{From: "alice@x.test", To: []string{"bob@y.test"}}

	if deliver(ctx, em, srv.Addr, env, "Subject: hi\r\n\r\nhi\r\n") {
		t.Fatal("first attempt not deferred")
	}
	if !deliver(ctx, em, srv.Addr, env, "Subject: hi\r\n\r\nhi\r\n") {
		t.Fatal("second attempt not done")
	}
	em.Complete(ctx)

	want := []string{
		"tcp:connect", "smtp:connect", "tcp:close", "msg:rcpt:host:defer", "msg:host:defer",
		"tcp:connect", "smtp:connect", "msg:delivery", "tcp:close",
		"msg:complete",
	}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Fatalf("events\n%v\nwant\n%v", got, want)
	}
	evs := rec.events()
	for i, ev := range evs {
		if ev.MessageID != "1abcde-000001-XY" || ev.Sender != "alice@x.test" || ev.Transport != "remote_smtp" || ev.Host != "mx.test" || ev.Time.IsZero() {
			t.Errorf("event %d lacks the template: %+v", i, ev)
		}
		if i > 0 && ev.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d before event %d", i, i-1)
		}
	}
	if d := evs[4]; !strings.Contains(d.Data, "421") || !strings.Contains(d.Data, "busy, come back later") || d.DeferErrno != 0 {
		t.Errorf("msg:host:defer %+v", d)
	}
	if d := evs[7]; !strings.HasPrefix(d.Data, "250 ") || d.Recipient() != "bob@y.test" || d.HostAddr.String() != srv.Addr {
		t.Errorf("msg:delivery %+v", d)
	}
	if len(sink.Messages()) != 1 {
		t.Fatalf("%d messages stored", len(sink.Messages()))
	}
}

func TestRecipientOutcomes(t *testing.T) {
	sink := &smtptest.Sink{Reject: func(stage, arg string) error {
		switch {
		case stage == "RCPT" && strings.HasPrefix(arg, "perm@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case stage == "RCPT" && strings.HasPrefix(arg, "temp@"):
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}}
	srv := smtptest.Start(t, sink)
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	env := &client.Envelope{From: "", To: []string{"ok@y.test", "perm@y.test", "temp@y.test"}}
	if deliver(ctxT(t), em, srv.Addr, env, "Subject: x\r\n\r\nx\r\n") {
		t.Fatal("done with a deferred recipient")
	}
	got := map[string]events.Event{}
	for _, ev := range rec.events() {
		if r := ev.Recipient(); r != "" {
			got[r] = ev
		}
	}
	if ev := got["ok@y.test"]; ev.Name != events.MsgDelivery || !strings.HasPrefix(ev.Data, "250 ") {
		t.Errorf("ok: %+v", ev)
	}
	if ev := got["perm@y.test"]; ev.Name != events.MsgFailDelivery || ev.Data != "550 5.1.1 no such user" {
		t.Errorf("perm: %+v", ev)
	}
	if ev := got["temp@y.test"]; ev.Name != events.MsgRcptHostDefer || ev.Data != "452 4.2.2 mailbox full" {
		t.Errorf("temp: %+v", ev)
	}
}

func TestHostDeferErrno(t *testing.T) {
	// A port nothing listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	if deliver(ctxT(t), em, addr, &client.Envelope{From: "a@x.test", To: []string{"b@y.test"}}, "x\r\n") {
		t.Fatal("delivered to nothing")
	}
	want := []string{"tcp:connect", "msg:host:defer"}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	ev := rec.events()[1]
	if ev.DeferErrno != int(syscall.ECONNREFUSED) || !errors.Is(ev.Err, syscall.ECONNREFUSED) || !strings.Contains(ev.Data, "refused") {
		t.Fatalf("msg:host:defer %+v", ev)
	}
}

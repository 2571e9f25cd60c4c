package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/events"
)

func TestVetoable(t *testing.T) {
	for _, n := range []events.Name{events.TCPConnect, events.TLSCert, events.SMTPConnect} {
		if !n.Vetoable() {
			t.Errorf("%s not vetoable", n)
		}
	}
	for _, n := range []events.Name{events.MsgComplete, events.MsgDelivery, events.MsgRcptHostDefer, events.MsgHostDefer, events.MsgFailDelivery, events.MsgFailInternal, events.TCPClose} {
		if n.Vetoable() {
			t.Errorf("%s vetoable", n)
		}
	}
}

func TestChainFirstVetoWins(t *testing.T) {
	var called []string
	h := func(name string, err error) events.Handler {
		return events.HandlerFunc(func(context.Context, events.Event) error {
			called = append(called, name)
			return err
		})
	}
	c := events.Chain(h("a", nil), nil, h("b", errors.New("veto b")), h("c", errors.New("veto c")))
	em := quiet()
	em.Handler = c
	err := em.Emit(context.Background(), events.Event{Name: events.TCPConnect})
	var ve *events.VetoError
	if !errors.As(err, &ve) || ve.Reason.Error() != "veto b" || !slices.Equal(called, []string{"a", "b"}) {
		t.Fatalf("veto %v after %v", err, called)
	}
	// Not vetoable: every handler runs, the errors are logged, Emit
	// returns nil.
	called = nil
	var logs bytes.Buffer
	em.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if err := em.Emit(context.Background(), events.Event{Name: events.MsgDelivery, MessageID: "m"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(called, []string{"a", "b", "c"}) || !strings.Contains(logs.String(), "veto b") || !strings.Contains(logs.String(), "veto c") {
		t.Fatalf("called %v, logged %s", called, logs.String())
	}
}

func TestDeadline(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	em := &events.Emitter{Timeout: 50 * time.Millisecond, Logger: discard,
		Handler: events.HandlerFunc(func(context.Context, events.Event) error {
			<-block // ignores its context
			return nil
		})}
	start := time.Now()
	err := em.Emit(context.Background(), events.Event{Name: events.SMTPConnect})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("vetoable event with a stuck handler: %v after %v", err, time.Since(start))
	}
	start = time.Now()
	if err := em.Emit(context.Background(), events.Event{Name: events.MsgComplete}); err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("other event with a stuck handler: %v after %v", err, time.Since(start))
	}

	// The caller's deadline bounds a vetoable event; a cancelled
	// caller does not stop a non-vetoable one.
	em = &events.Emitter{Logger: discard, Handler: events.HandlerFunc(func(ctx context.Context, ev events.Event) error {
		<-ctx.Done()
		return ctx.Err()
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := em.Emit(ctx, events.Event{Name: events.TCPConnect}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	var seen error
	em = &events.Emitter{Logger: discard, Handler: events.HandlerFunc(func(ctx context.Context, ev events.Event) error {
		seen = ctx.Err()
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		return nil
	})}
	em.Emit(cctx, events.Event{Name: events.TCPClose})
	if seen != nil {
		t.Fatalf("tcp:close handler saw %v", seen)
	}
}

func TestNilEmitter(t *testing.T) {
	var em *events.Emitter
	if err := em.Emit(context.Background(), events.Event{Name: events.TCPConnect}); err != nil {
		t.Fatal(err)
	}
	em.Recipient(context.Background(), "a@b", nil)
	em.HostDefer(context.Background(), io.EOF)
	em.Complete(context.Background())
	em.FailInternal(context.Background(), io.EOF)
	if err := em.VerifyConnection(context.Background(), nil)(tlsState()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := em.Dialer(nil).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestTemplate(t *testing.T) {
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	tmpl := events.Event{MessageID: "m", Sender: "s@x", LocalPart: "r", Domain: "y", Router: "R", Transport: "T",
		Host: "h", HostAddr: netip.MustParseAddrPort("192.0.2.1:25"), DNSSEC: true, DANE: true}
	ctx := events.NewContext(context.Background(), tmpl)
	if got, ok := events.FromContext(ctx); !ok || got.MessageID != "m" {
		t.Fatal("FromContext")
	}
	if _, ok := events.FromContext(context.Background()); ok {
		t.Fatal("FromContext without a template")
	}
	em.Emit(ctx, events.Event{Name: events.MsgDelivery, Host: "other"})
	ev := rec.events()[0]
	want := tmpl
	want.Name, want.Host, want.Time = events.MsgDelivery, "other", ev.Time
	if ev.Time.IsZero() || fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", ev, want)
	}
}

// serve runs fn on the server side of a loopback connection dialed
// through em.
func serve(t *testing.T, em *events.Emitter, fn func(net.Conn)) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fn(c)
	}()
	c, err := em.Dialer(nil).DialContext(ctxT(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBannerSplitAcrossReads(t *testing.T) {
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	parts := []string{"220-mx.test", " first\r\n220-sec", "ond\r\n22", "0 last\r\n250 extra\r\n"}
	c := serve(t, em, func(c net.Conn) {
		for _, p := range parts {
			c.Write([]byte(p))
			time.Sleep(5 * time.Millisecond)
		}
	})
	got, err := io.ReadAll(c)
	if err != nil || string(got) != strings.Join(parts, "") {
		t.Fatalf("read %q %v", got, err)
	}
	var banners []string
	for _, ev := range rec.events() {
		if ev.Name == events.SMTPConnect {
			banners = append(banners, ev.Data)
		}
	}
	if !slices.Equal(banners, []string{"220-mx.test first\n220-second\n220 last"}) {
		t.Fatalf("banners %q", banners)
	}
	if nc, ok := c.(interface{ NetConn() net.Conn }); !ok || nc.NetConn() == nil {
		t.Fatal("no NetConn")
	}
}

func TestNoBannerWatchOnTLS(t *testing.T) {
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	c := serve(t, em, func(c net.Conn) { c.Write([]byte("\x16\x03\x01 not a reply\r\n220 x\r\n")) })
	io.ReadAll(c)
	c.Close()
	c.Close()
	if got := rec.names(); !slices.Equal(got, []string{"tcp:connect", "tcp:close"}) {
		t.Fatalf("events %v", got)
	}
}

func TestLongBannerTruncated(t *testing.T) {
	rec := &recorder{}
	em := quiet()
	em.Handler = rec
	long := "220-" + strings.Repeat("x", 3000) + "\r\n"
	c := serve(t, em, func(c net.Conn) {
		for range 5 {
			c.Write([]byte(long))
		}
		c.Write([]byte("220 end\r\n"))
	})
	got, _ := io.ReadAll(c)
	if len(got) != 5*len(long)+9 {
		t.Fatalf("read %d bytes", len(got))
	}
	evs := rec.events()
	if len(evs) != 2 || evs[1].Name != events.SMTPConnect || len(evs[1].Data) > events.MaxBannerSize {
		t.Fatalf("events %v, banner of %d bytes", rec.names(), len(evs[len(evs)-1].Data))
	}
}

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	em := quiet()
	em.Handler = events.LogSink(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelInfo)
	ev := events.Event{Name: events.MsgHostDefer, Data: "connection refused", DeferErrno: 111, MessageID: "m1",
		Host: "mx.test", HostAddr: netip.MustParseAddrPort("[2001:db8::1]:25")}
	ev.SetRecipient("bob@y.test")
	em.Emit(context.Background(), ev)
	em.Emit(context.Background(), events.Event{Name: events.MsgComplete, MessageID: "m1"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{`msg=event event=msg:host:defer data="connection refused" errno=111 id=m1 sender=<> rcpt=bob@y.test host=mx.test host_address=[2001:db8::1]:25`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	if !strings.Contains(lines[1], "event=msg:complete id=m1") {
		t.Errorf("line %q", lines[1])
	}
	// Below the level: nothing.
	buf.Reset()
	em.Handler = events.LogSink(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelDebug)
	em.Emit(context.Background(), ev)
	if buf.Len() != 0 {
		t.Fatal(buf.String())
	}
}

func TestFormatReply(t *testing.T) {
	for _, c := range []struct {
		r    *smtp.SMTPError
		want string
	}{
		{nil, ""},
		{&smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK id=1"}, "250 2.0.0 OK id=1"},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.NoEnhancedCode, Message: "a\nb"}, "451 a b"},
		{&smtp.SMTPError{Code: 554}, "554"},
	} {
		if got := events.FormatReply(c.r); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), int(syscall.ECONNREFUSED)},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), int(syscall.ETIMEDOUT)},
		{context.DeadlineExceeded, int(syscall.ETIMEDOUT)},
		{&smtp.SMTPError{Code: 421}, 0},
		{&events.VetoError{Event: events.TCPConnect, Reason: errors.New("no")}, 0},
	} {
		if got := events.Errno(c.err); got != c.want {
			t.Errorf("%v: %d, want %d", c.err, got, c.want)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	for in, want := range map[string][2]string{
		"a@b.test":     {"a", "b.test"},
		`"x@y"@b.test`: {`"x@y"`, "b.test"},
		"postmaster":   {"postmaster", ""},
		"":             {"", ""},
	} {
		if l, d := events.SplitAddress(in); l != want[0] || d != want[1] {
			t.Errorf("%q: %q %q", in, l, d)
		}
	}
	var ev events.Event
	if ev.Recipient() != "" {
		t.Fatal("empty recipient")
	}
}

func TestDenyConnect(t *testing.T) {
	h := events.DenyConnect(netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32"))
	for addr, denied := range map[string]bool{"192.0.2.9:25": true, "[::ffff:192.0.2.9]:25": true, "[2001:db8::1]:25": true, "198.51.100.1:25": false} {
		err := h.HandleEvent(context.Background(), events.Event{Name: events.TCPConnect, HostAddr: netip.MustParseAddrPort(addr)})
		if (err != nil) != denied {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if h.HandleEvent(context.Background(), events.Event{Name: events.SMTPConnect, HostAddr: netip.MustParseAddrPort("192.0.2.9:25")}) != nil {
		t.Error("other event vetoed")
	}
}

func BenchmarkEmit(b *testing.B) {
	em := &events.Emitter{Handler: events.HandlerFunc(func(context.Context, events.Event) error { return nil })}
	ctx := events.NewContext(context.Background(), events.Event{MessageID: "m", Sender: "a@b"})
	b.ReportAllocs()
	for b.Loop() {
		em.Emit(ctx, events.Event{Name: events.MsgDelivery, Data: "250 OK"})
	}
}

func BenchmarkLogSink(b *testing.B) {
	em := &events.Emitter{Handler: events.LogSink(slog.New(slog.NewTextHandler(io.Discard, nil)), slog.LevelInfo)}
	ev := events.Event{Name: events.MsgDelivery, Data: "250 OK", MessageID: "m", Sender: "a@b", Host: "mx", HostAddr: netip.MustParseAddrPort("192.0.2.1:25")}
	ev.SetRecipient("c@d")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		em.Emit(ctx, ev)
	}
}

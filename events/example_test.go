package events_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/events"
)

// One delivery through the client engine with the events wired in, as a
// queue would: the template in the context, the Dialer and
// VerifyConnection adapters in the Options, the outcome hooks after Send.
func Example() {
	// A go-smtp server on loopback that accepts and discards every
	// message.
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }))
	srv.Domain = "mx.example.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer srv.Close()

	em := &events.Emitter{Handler: events.Chain(
		// A worked veto: no connection to these networks.
		events.DenyConnect(netip.MustParsePrefix("192.0.2.0/24")),
		// Print what happens (a real MTA would use events.LogSink and
		// sqlsink).
		events.HandlerFunc(func(_ context.Context, ev events.Event) error {
			fmt.Printf("%-16s id=%s rcpt=%s data=%q\n", ev.Name, ev.MessageID, ev.Recipient(), ev.Data)
			return nil
		}),
	)}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := ln.Addr().String()
	hostAddr, _ := netip.ParseAddrPort(addr)
	ctx = events.NewContext(ctx, events.Event{MessageID: "1qAbCd-000001-Xy", Sender: "alice@example.test",
		Transport: "remote_smtp", Host: "mx.example.test", HostAddr: hostAddr})

	opts := &client.Options{
		Hostname: "relay.example.test",
		Dialer:   em.Dialer(nil),
		// TLS is not offered by this server; where it is, tls:cert is
		// raised per certificate.
		TLSConfig: &tls.Config{VerifyConnection: em.VerifyConnection(ctx, nil)},
	}
	c, err := client.Dial(ctx, addr, opts)
	if err != nil {
		em.HostDefer(ctx, err)
		return
	}
	res, err := c.Send(ctx, &client.Envelope{From: "alice@example.test", To: []string{"bob@example.test"}},
		strings.NewReader("Subject: hi\r\n\r\nHello.\r\n"))
	for _, r := range res.Recipients {
		em.Recipient(ctx, r.Address, r.Reply)
	}
	if err != nil {
		em.HostDefer(ctx, err)
	}
	c.Close()
	em.Complete(ctx)
	// Output:
	// tcp:connect      id=1qAbCd-000001-Xy rcpt= data=""
	// smtp:connect     id=1qAbCd-000001-Xy rcpt= data="220 mx.example.test ESMTP Service Ready"
	// msg:delivery     id=1qAbCd-000001-Xy rcpt=bob@example.test data="250 2.0.0 OK: queued"
	// tcp:close        id=1qAbCd-000001-Xy rcpt= data=""
	// msg:complete     id=1qAbCd-000001-Xy rcpt= data=""
}

// A tcp:connect veto: the client engine makes no connection attempt and
// Dial's error carries the reason.
func ExampleDenyConnect() {
	em := &events.Emitter{
		Handler: events.DenyConnect(netip.MustParsePrefix("127.0.0.0/8")),
		Logger:  slog.New(slog.DiscardHandler),
	}
	_, err := client.Dial(context.Background(), "127.0.0.1:25", &client.Options{Dialer: em.Dialer(nil)})
	var ve *events.VetoError
	fmt.Println(errors.As(err, &ve), ve.Event)
	fmt.Println(err)
	// Output:
	// true tcp:connect
	// client: connect 127.0.0.1:25: events: tcp:connect vetoed: connections to 127.0.0.1 are denied (127.0.0.0/8)
}

// One log line per event, here without the time so that the output is
// stable.
func ExampleLogSink() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	em := &events.Emitter{Handler: events.LogSink(log, slog.LevelInfo)}
	ev := events.Event{Name: events.MsgHostDefer, Data: "connect: connection refused", DeferErrno: 111,
		MessageID: "1qAbCd-000001-Xy", Host: "mx.example.test", HostAddr: netip.MustParseAddrPort("192.0.2.25:25")}
	em.Emit(context.Background(), ev)
	// Output:
	// level=INFO msg=event event=msg:host:defer data="connect: connection refused" errno=111 id=1qAbCd-000001-Xy sender=<> host=mx.example.test host_address=192.0.2.25:25
}

// discardSession is a go-smtp session that accepts every message and keeps none.
type discardSession struct{}

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discardSession) Reset()        {}
func (discardSession) Logout() error { return nil }

//go:build interop

package socks5

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
)

const (
	danteUser = interop.DanteUser
	dantePass = interop.DantePass
)

func startDante(t *testing.T) (port int, logPath string) { return interop.StartDante(t) }

func deliver(t *testing.T, d *Dialer, port int, rcpt string) (*client.Result, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var bound string
	dialer := dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			bound = c.(*Conn).BoundAddr()
		}
		return c, err
	})
	c, err := client.Dial(ctx, interop.Addr(port), &client.Options{Hostname: "relay.test", Dialer: dialer, TLSPolicy: client.TLSNone})
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	res, err := c.Send(ctx, &client.Envelope{From: "a@relay.test", To: []string{rcpt}},
		strings.NewReader("Subject: via dante\r\n\r\nhello\r\n"))
	return res, bound, err
}

// Delivery to Exim 4.96 through Dante with RFC 1929 authentication; a
// first proxy that is down is skipped; a wrong password on every proxy
// fails with a clear error.
func TestInteropDante(t *testing.T) {
	dport, danteLog := startDante(t)
	exim := interop.StartExim(t, "")
	good := Proxy{Host: "127.0.0.1", Port: dport, Auth: AuthName, Username: danteUser, Password: dantePass, Timeout: 10 * time.Second}
	down := Proxy{Host: "127.0.0.1", Port: interop.FreePort(t), Timeout: 2 * time.Second}

	t.Run("delivered", func(t *testing.T) {
		res, bound, err := deliver(t, &Dialer{Proxies: []Proxy{good}}, exim.Port, "one@peer.test")
		if err != nil || res.Recipients[0].Status != client.Accepted {
			t.Fatalf("send: %v %+v", err, res)
		}
		exim.WaitMessages(1, 20*time.Second)
		// Exim was reached by Dante's own connection: the address
		// Dante reported as bound (BND.ADDR, BND.PORT) is the source of
		// the connection that Dante logged towards Exim.
		host, bport, _ := strings.Cut(bound, ":")
		want := fmt.Sprintf("%s.%s 127.0.0.1.%d", host, bport, exim.Port)
		if b, _ := os.ReadFile(danteLog); !strings.Contains(string(b), want) {
			t.Fatalf("Dante's log lacks %q:\n%s", want, b)
		}
		if log := exim.MainLog(); !strings.Contains(log, "<= a@relay.test H=(relay.test) [127.0.0.1]") {
			t.Fatalf("Exim's log:\n%s", log)
		}
	})

	t.Run("failover", func(t *testing.T) {
		res, _, err := deliver(t, &Dialer{Proxies: []Proxy{down, good}}, exim.Port, "two@peer.test")
		if err != nil || res.Recipients[0].Status != client.Accepted {
			t.Fatalf("send: %v %+v", err, res)
		}
		exim.WaitMessages(2, 20*time.Second)
	})

	t.Run("wrong password", func(t *testing.T) {
		bad := good
		bad.Password = "not-the-password"
		bad2 := bad
		bad2.Priority = 1
		_, _, err := deliver(t, &Dialer{Proxies: []Proxy{bad, bad2}}, exim.Port, "three@peer.test")
		if err == nil || !errors.Is(err, ErrAuthRefused) || strings.Contains(err.Error(), "not-the-password") {
			t.Fatalf("err %v", err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("proxy 127.0.0.1:%d: auth: username/password refused", dport)) {
			t.Fatalf("unclear error %v", err)
		}
	})

	t.Run("no auth offered", func(t *testing.T) {
		none := good
		none.Auth = AuthNone
		_, _, err := deliver(t, &Dialer{Proxies: []Proxy{none}}, exim.Port, "four@peer.test")
		if !errors.Is(err, ErrNoAcceptableMethod) {
			t.Fatalf("err %v", err)
		}
	})
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

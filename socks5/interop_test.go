//go:build interop

package socks5

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
)

const (
	danteUser = "smtpkit-socks"
	dantePass = "dante-Pa55"
)

// startDante runs Debian's Dante 1.4 in the foreground on a loopback
// port, requiring RFC 1929 username authentication against the system
// user danteUser (created for the test when missing, as
// ../shared/recipes/socks-proxy-peers.sh does). It is stopped by its pid
// when the test ends.
func startDante(t *testing.T) (port int, logPath string) {
	t.Helper()
	interop.Need(t, "danted", "useradd", "chpasswd")
	if err := exec.Command("id", danteUser).Run(); err != nil {
		if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", danteUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd (tests run as root): %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", danteUser).Run() })
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(danteUser + ":" + dantePass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	dir := t.TempDir()
	port = interop.FreePort(t)
	logPath = filepath.Join(dir, "danted.log")
	conf := fmt.Sprintf(`logoutput: %s/danted.log
internal: 127.0.0.1 port = %d
external: 127.0.0.1
clientmethod: none
socksmethod: username
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  log: connect error
}
`, dir, port)
	path := filepath.Join(dir, "danted.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	interop.Start(t, "danted", "-f", path)
	interop.WaitPort(t, interop.Addr(port), 10*time.Second)
	t.Cleanup(func() {
		if b, err := os.ReadFile(logPath); err == nil {
			t.Logf("danted.log:\n%s", b)
		}
	})
	return port, logPath
}

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

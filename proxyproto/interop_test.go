//go:build interop

package proxyproto

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func startHAProxy(t *testing.T, target string, version string) int {
	return interop.StartHAProxy(t, target, version)
}

func TestInteropHAProxy(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			rec := &recorder{}
			addr := serve(t, loopbackOnly(5*time.Second), rec, nil)
			port := startHAProxy(t, addr, v)
			want := map[string]int{"v1": 1, "v2": 2}[v]

			// A client whose address we know, through HAProxy.
			c := smtptest.Dial(t, interop.Addr(port))
			transaction(t, c)
			info := rec.Infos()[0]
			client := c.Conn().LocalAddr().(*net.TCPAddr).AddrPort()
			if !info.Proxied || info.Version != want || info.ClientAddr != client ||
				info.TargetAddr.Port() != uint16(port) || info.ProxyAddr == client {
				t.Fatalf("info %+v, client %v, HAProxy port %d", info, client, port)
			}
			if got := rec.Messages()[0].RemoteAddr.String(); got != client.String() {
				t.Fatalf("backend saw %s, want %s", got, client)
			}

			// swaks through HAProxy delivers.
			interop.Need(t, "swaks")
			out, err := interop.Run(t, 30*time.Second, "swaks", "--server", interop.Addr(port),
				"--from", "a@x.test", "--to", "b@y.test", "--header", "Subject: via haproxy")
			if err != nil || len(rec.Messages()) != 2 {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			if info := rec.Infos()[1]; !info.Proxied || info.TargetAddr.Port() != uint16(port) {
				t.Fatalf("swaks session info %+v", info)
			}

			// Exim as a client through HAProxy delivers.
			log := interop.EximSend(t, "127.0.0.1", port, "a@client.test", []string{"c@y.test"},
				"Subject: exim via haproxy\n\nhello\n")
			if !strings.Contains(log, "=> c@y.test") || len(rec.Messages()) != 3 {
				t.Fatalf("exim did not deliver:\n%s", log)
			}
			if info := rec.Infos()[2]; !info.Proxied || info.Version != want {
				t.Fatalf("exim session info %+v", info)
			}
		})
	}
}

// HAProxy's header to a listener that does not require it from loopback is
// not believed: it reaches go-smtp as a command and is refused.
func TestInteropHAProxyNotRequired(t *testing.T) {
	rec := &recorder{}
	hosts, _ := ParseHosts("10.0.0.0/8")
	addr := serve(t, &Options{RequiredHosts: hosts}, rec, nil)
	port := startHAProxy(t, addr, "v1")
	c := smtptest.Dial(t, interop.Addr(port))
	c.Expect(220)
	if rep := c.ReadReply(); rep.Code/100 != 5 { // the answer to "PROXY TCP4 ..."
		t.Fatalf("header line: %v", rep)
	}
	c.MustCmd("EHLO client.example", 250)
	c.MustCmd("QUIT", 221)
	if info := rec.Infos()[0]; info.Proxied || info.Required {
		t.Fatalf("header believed: %+v", info)
	}
}

// TLS on connect behind HAProxy v2: the header, then the handshake.
func TestInteropHAProxyImplicitTLS(t *testing.T) {
	rec := &recorder{}
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	addr := serve(t, loopbackOnly(5*time.Second), rec, func(l net.Listener) net.Listener { return tls.NewListener(l, cfg) })
	port := startHAProxy(t, addr, "v2")
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", interop.Addr(port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(tc)
	fmt.Fprint(tc, "EHLO client.example\r\nQUIT\r\n")
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "220 ") || !strings.HasPrefix(lines[len(lines)-1], "221 ") {
		t.Fatalf("dialogue %q", lines)
	}
	if info := rec.Infos()[0]; info.ClientAddr != tc.LocalAddr().(*net.TCPAddr).AddrPort() || info.Version != 2 {
		t.Fatalf("info %+v", info)
	}
}

package proxyproto_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/proxyproto"
)

// A load balancer on loopback sends a v1 header for a client at
// 192.0.2.10; the accepted connection reports that client.
func ExampleNewListener() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	hosts, _ := proxyproto.ParseHosts("127.0.0.0/8, ::1")
	pln := proxyproto.NewListener(ln, &proxyproto.Options{RequiredHosts: hosts})

	lb, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer lb.Close()
	fmt.Fprint(lb, "PROXY TCP4 192.0.2.10 198.51.100.1 41234 25\r\nEHLO client.example\r\n")

	c, err := pln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	info := c.(*proxyproto.Conn).Info()
	fmt.Println("client:", c.RemoteAddr())
	fmt.Println("target:", info.TargetAddr)
	fmt.Println("proxied:", info.Proxied, "version:", info.Version)
	fmt.Println("proxy is loopback:", info.ProxyAddr.Addr().IsLoopback())
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	fmt.Printf("then: %q\n", buf[:n])
	// Output:
	// client: 192.0.2.10:41234
	// target: 198.51.100.1:25
	// proxied: true version: 1
	// proxy is loopback: true
	// then: "EHLO client.example\r\n"
}

// Wiring a go-smtp server: the Listener below, NewBackend around the
// backend, and the PROXY data in NewSession.
func ExampleNewBackend() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	pln := proxyproto.NewListener(ln, &proxyproto.Options{
		RequiredHosts: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		if info, ok := proxyproto.FromConn(c.Conn()); ok && info.Proxied {
			log.Printf("client %v PRX=%v", c.Conn().RemoteAddr(), info.ProxyAddr.Addr())
		}
		return discardSession{}, nil // your session
	})
	srv := smtp.NewServer(proxyproto.NewBackend(be))
	log.Fatal(srv.Serve(pln))
}

func ExampleParseHosts() {
	hosts, err := proxyproto.ParseHosts("10.0.0.0/8, 192.0.2.1 2001:db8::/32")
	fmt.Println(hosts, err)
	// Output: [10.0.0.0/8 192.0.2.1/32 2001:db8::/32] <nil>
}

// discardSession is a go-smtp session that accepts every message and
// keeps none.
type discardSession struct{}

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discardSession) Reset()        {}
func (discardSession) Logout() error { return nil }

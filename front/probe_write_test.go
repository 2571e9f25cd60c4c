package front_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// RFC 2920 section 3.1: a client may pipeline a whole transaction and
// read the replies afterwards. Replies to a group larger than the front's
// write buffer go out while the group is still being read; each such
// write must get its own Timeouts.Write, not the deadline of the last
// explicit flush, which passed long ago on a connection older than
// Timeouts.Write.
func TestProbeWriteDeadlineOnLargeGroup(t *testing.T) {
	srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{
		Timeouts: front.Timeouts{Write: 300 * time.Millisecond},
	}, func(s *smtp.Server) { s.MaxRecipients = 200 })
	c := smtptest.Dial(t, srv.Addr)
	c.Timeout = 5 * time.Second
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)
	time.Sleep(time.Second) // older than Timeouts.Write
	var b strings.Builder
	b.WriteString("MAIL FROM:<s@x.test>\r\n")
	const n = 150
	for i := range n {
		fmt.Fprintf(&b, "RCPT TO:<recipient-number-%03d@example.test>\r\n", i)
	}
	c.Write(b.String())
	c.Expect(250)
	for i := range n {
		if rep := c.ReadReply(); rep.Err != nil || rep.Code != 250 {
			t.Fatalf("RCPT %d: %v", i, rep)
		}
	}
	c.MustCmd("QUIT", 221)
}

// A client that pipelines commands and never reads a reply fills the
// socket buffers; the front's write then blocks. It must be cut within
// Timeouts.Write of that write, so that the session's goroutines end.
// MAIL repeated gets "503 nested MAIL" each time: no limit on commands
// without a transaction, no protocol error, counts against that flood.
func TestProbeNonReadingClientIsCut(t *testing.T) {
	srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{
		Timeouts: front.Timeouts{Write: 300 * time.Millisecond},
	})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	flood := []byte("EHLO x\r\n" + strings.Repeat("MAIL FROM:<s@x.test>\r\n", 1000))
	cut := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		conn.SetWriteDeadline(deadline)
		for {
			if _, err := conn.Write(flood); err != nil {
				cut <- err
				return
			}
		}
	}()
	select {
	case err := <-cut:
		var ne net.Error
		if asNetErr(err, &ne) && ne.Timeout() {
			t.Fatalf("the front kept reading a client that never reads: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no end")
	}
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// RFC 3207 section 5 (CVE-2011-0411): a command pipelined after
// STARTTLS in the same packet must never be executed as if sent under
// TLS. The front refuses the whole; go-smtp alone drops its buffer at
// the handshake. In neither is the RSET answered after TLS.
func TestProbeSTARTTLSInjection(t *testing.T) {
	scfg, ccfg := fronttest.TLSConfig(t)
	plain := fronttest.Plain(t, &fronttest.Backend{}, func(s *smtp.Server) { s.TLSConfig = scfg })
	srv := fronttest.Start(t, &fronttest.Backend{}, nil, func(s *smtp.Server) { s.TLSConfig = scfg })
	for name, addr := range map[string]string{"plain": plain, "front": srv.Addr} {
		t.Run(name, func(t *testing.T) {
			c := smtptest.Dial(t, addr)
			c.Timeout = 3 * time.Second
			c.Expect(220)
			c.MustCmd("EHLO client.test", 250)
			c.Write("STARTTLS\r\nNOOP injected\r\n")
			rep := c.ReadReply()
			if rep.Code != 220 {
				return // refused: nothing runs under TLS
			}
			tc := tls.Client(c.Conn(), ccfg)
			tc.SetDeadline(time.Now().Add(3 * time.Second))
			if err := tc.Handshake(); err != nil {
				return
			}
			// Whatever comes unasked under TLS is the injected NOOP's reply.
			tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			buf := make([]byte, 512)
			if n, err := tc.Read(buf); n > 0 {
				t.Fatalf("a reply under TLS before any command: %q (%v)", buf[:n], err)
			}
			io.WriteString(tc, "QUIT\r\n")
		})
	}
}

// RFC 3207 and RFC 5321 section 4.5.3.2: a client that sends its TLS
// ClientHello a byte at a time after STARTTLS is cut within the
// handshake timeout, whatever the pace.
func TestProbeTrickledClientHello(t *testing.T) {
	scfg, _ := fronttest.TLSConfig(t)
	srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{
		Timeouts: front.Timeouts{Handshake: 500 * time.Millisecond},
	}, func(s *smtp.Server) { s.TLSConfig = scfg })
	c := smtptest.Dial(t, srv.Addr)
	c.Timeout = 5 * time.Second
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)
	c.MustCmd("STARTTLS", 220)
	// A plausible record header, then filler, 50 ms apart.
	hello := "\x16\x03\x01\x02\x00" + strings.Repeat("\x01", 512)
	start := time.Now()
	for i := 0; i < len(hello); i++ {
		c.Conn().SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Conn().Write([]byte{hello[i]}); err != nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the handshake was not cut")
		}
		time.Sleep(50 * time.Millisecond)
		c.Conn().SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [64]byte
		if _, err := c.Conn().Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return // closed
		}
	}
}

// Without Timeouts.Handshake, a shorter Timeouts.Command bounds the TLS
// handshake: the ClientHello is client input like a command line, and a
// server configured to cut a trickled line after a second must not keep
// a trickled handshake for a minute.
func TestProbeHandshakeBoundedByCommandTimeout(t *testing.T) {
	scfg, _ := fronttest.TLSConfig(t)
	srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{
		Timeouts: front.Timeouts{Command: 300 * time.Millisecond},
	}, func(s *smtp.Server) { s.TLSConfig = scfg })
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)
	c.MustCmd("STARTTLS", 220)
	hello := "\x16\x03\x01\x02\x00" + strings.Repeat("\x01", 512)
	closed := make(chan struct{})
	go func() {
		c.Conn().SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c.Conn())
		close(closed)
	}()
	// 100 bytes, 50 ms apart: 5 s, far past the command timeout.
	for i := 0; i < 100; i++ {
		select {
		case <-closed:
			return
		case <-time.After(50 * time.Millisecond):
		}
		c.Conn().SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Conn().Write([]byte{hello[i]}); err != nil {
			return
		}
	}
	t.Fatal("the trickled handshake outlived the command timeout many times over")
}

package front_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

const msg = "Subject: hi\r\n\r\nhello\r\n..dot\r\n"

func greet(t *testing.T, addr string) *smtptest.Client {
	t.Helper()
	c := smtptest.Dial(t, addr)
	c.Expect(220)
	return c
}

func TestEHLOAndDelivery(t *testing.T) {
	before := runtime.NumGoroutine()
	be := &fronttest.Backend{Refuse: fronttest.DefaultRefuse}
	srvTLS, _ := fronttest.TLSConfig(t)
	srv := fronttest.Start(t, be, &front.Options{Hostname: "front.test", TLSConfig: srvTLS})
	c := greet(t, srv.Addr)
	rep := c.MustCmd("EHLO client.test", 250)
	text := rep.Text()
	if rep.Lines[0] != "front.test Hello client.test" {
		t.Errorf("first EHLO line %q", rep.Lines[0])
	}
	for _, want := range []string{"PIPELINING", "CHUNKING", "STARTTLS", "SIZE 10485760"} {
		if !strings.Contains(text, want) {
			t.Errorf("EHLO lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "AUTH") || strings.Contains(text, "REQUIRETLS") {
		t.Errorf("EHLO offers AUTH or REQUIRETLS in plaintext:\n%s", text)
	}
	if rep := c.MustCmd("HELO client.test", 250); len(rep.Lines) != 1 {
		t.Errorf("HELO reply has %d lines", len(rep.Lines))
	}
	c.MustCmd("LHLO client.test", 500)
	c.MustCmd("EHLO client.test", 250)
	c.MustCmd("MAIL FROM:<a@x.test> BODY=8BITMIME", 250)
	c.MustCmd("RCPT TO:<b@y.test>", 250)
	c.MustCmd("RCPT TO:<badrcpt@y.test>", 550)
	c.MustCmd("RCPT TO:<c@y.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(250)
	// BDAT, in two chunks, the second pipelined with a RSET-free MAIL.
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	c.MustCmd("RCPT TO:<d@y.test>", 250)
	c.Write("BDAT 5\r\nhelloBDAT 6 LAST\r\n world")
	c.Expect(250)
	c.Expect(250)
	c.MustCmd("QUIT", 221)
	msgs := be.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d copies, want 3: %+v", len(msgs), msgs)
	}
	if got := string(msgs[0].Data); got != "Subject: hi\r\n\r\nhello\r\n.dot\r\n" {
		t.Errorf("data %q", got)
	}
	if got := string(msgs[2].Data); got != "hello world" {
		t.Errorf("BDAT data %q", got)
	}
	if msgs[0].Remote != c.Conn().LocalAddr().String() {
		t.Errorf("session saw remote %s, want the client's %s", msgs[0].Remote, c.Conn().LocalAddr())
	}
	c.Close()
	fronttest.Goroutines(t, before+4)
}

func TestSTARTTLS(t *testing.T) {
	be := &fronttest.Backend{}
	srvTLS, cliTLS := fronttest.TLSConfig(t)
	srv := fronttest.Start(t, be, &front.Options{TLSConfig: srvTLS}, func(s *smtp.Server) {
		s.EnableREQUIRETLS = true
	})
	c := greet(t, srv.Addr)
	c.MustCmd("EHLO client.test", 250)
	c.StartTLS(cliTLS)
	text := c.MustCmd("EHLO client.test", 250).Text()
	if strings.Contains(text, "STARTTLS") || !strings.Contains(text, "REQUIRETLS") {
		t.Errorf("EHLO after TLS:\n%s", text)
	}
	c.MustCmd("STARTTLS", 502)
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	c.MustCmd("RCPT TO:<b@y.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(250)
	if m := be.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("session did not see TLS: %+v", m)
	}
}

func TestImplicitTLS(t *testing.T) {
	be := &fronttest.Backend{}
	srvTLS, cliTLS := fronttest.TLSConfig(t)
	inner := smtp.NewServer(be)
	inner.Domain = "mx.test"
	fs := front.New(inner, &front.Options{TLSConfig: srvTLS})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fs.ServeTLS(l)
	defer fs.Close()
	conn, err := tls.Dial("tcp", l.Addr().String(), cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 512)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte("EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"))
	var got string
	for !strings.Contains(got, "354") {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%v after %q", err, got)
		}
		got += string(buf[:n])
	}
	conn.Write([]byte("x\r\n.\r\n"))
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "250") {
		t.Fatalf("end of data: %q", buf[:n])
	}
	if m := be.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("session did not see TLS: %+v", m)
	}
}

// TestMixedWithoutPRDR: a session that answers per recipient although no
// extension can tell the client makes the whole message 451.
func TestMixedWithoutPRDR(t *testing.T) {
	be := &fronttest.Backend{Refuse: fronttest.DefaultRefuse}
	srv := fronttest.Start(t, be, nil)
	c := greet(t, srv.Addr)
	c.MustCmd("EHLO client.test", 250)
	for _, tc := range []struct {
		rcpts []string
		want  int
	}{
		{[]string{"ok@y.test", "refuse@y.test"}, 451},
		{[]string{"refuse1@y.test", "refuse2@y.test"}, 550},
		{[]string{"defer@y.test", "refuse2@y.test"}, 451},
		{[]string{"ok1@y.test", "ok2@y.test"}, 250},
	} {
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		for _, r := range tc.rcpts {
			c.MustCmd("RCPT TO:<"+r+">", 250)
		}
		c.MustCmd("DATA", 354)
		c.Write(msg + ".\r\n")
		if rep := c.ReadReply(); rep.Code != tc.want {
			t.Errorf("%v: %v, want %d", tc.rcpts, rep, tc.want)
		}
	}
}

// TestBatching: the replies to a pipelined group leave in one write (RFC
// 2920 section 3.1).
func TestBatching(t *testing.T) {
	srv := fronttest.Start(t, &fronttest.Backend{}, nil)
	c := greet(t, srv.Addr)
	c.MustCmd("EHLO client.test", 250)
	c.Write("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n")
	time.Sleep(50 * time.Millisecond)
	buf := make([]byte, 4096)
	c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Conn().Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(buf[:n]), "\r\n"); got != 4 {
		t.Errorf("one read holds %d replies, want 4: %q", got, buf[:n])
	}
}

func TestLimits(t *testing.T) {
	before := runtime.NumGoroutine()
	srvTLS, _ := fronttest.TLSConfig(t)
	srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{
		TLSConfig: srvTLS,
		Limits:    front.Limits{LineLength: 100, NonMailCommands: 5},
		Timeouts:  front.Timeouts{Command: 300 * time.Millisecond, Data: 300 * time.Millisecond, Handshake: 300 * time.Millisecond},
	}, func(s *smtp.Server) { s.MaxMessageBytes = 1000 })

	closed := func(t *testing.T, c *smtptest.Client) {
		t.Helper()
		if rep := c.ReadReply(); rep.Err == nil {
			t.Errorf("connection still open: %v", rep)
		}
	}
	t.Run("long line", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO "+strings.Repeat("x", 200), 500)
		closed(t, c)
	})
	t.Run("non-mail commands", func(t *testing.T) {
		c := greet(t, srv.Addr)
		for i := 0; i < 5; i++ {
			c.MustCmd("NOOP", 250)
		}
		c.MustCmd("NOOP", 421)
		closed(t, c)
	})
	t.Run("slow client", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.Expect(421)
		closed(t, c)
	})
	t.Run("slow data", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		c.MustCmd("RCPT TO:<b@y.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write("half a line")
		c.Expect(421)
		closed(t, c)
	})
	t.Run("garbage after STARTTLS", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.Write("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
		c.Expect(554)
		closed(t, c)
	})
	t.Run("garbage instead of TLS", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.MustCmd("STARTTLS", 220)
		c.Write("this is not a ClientHello\r\n")
		closed(t, c)
	})
	t.Run("BDAT that lies", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		c.MustCmd("RCPT TO:<b@y.test>", 250)
		c.Write("BDAT 500 LAST\r\nshort")
		c.Expect(421)
		closed(t, c)
	})
	t.Run("BDAT too big", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		c.MustCmd("RCPT TO:<b@y.test>", 250)
		c.Write("BDAT 2000 LAST\r\n" + strings.Repeat("x", 2000))
		c.Expect(552)
		c.MustCmd("RCPT TO:<b@y.test>", 502)
		c.MustCmd("QUIT", 221)
	})
	t.Run("DATA too big", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		c.MustCmd("RCPT TO:<b@y.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(strings.Repeat("0123456789\r\n", 200) + ".\r\n")
		c.Expect(552)
		c.MustCmd("NOOP", 250)
	})
	t.Run("AUTH without TLS", func(t *testing.T) {
		c := greet(t, srv.Addr)
		c.MustCmd("EHLO c.test", 250)
		c.MustCmd("AUTH PLAIN AHVAcA==", 538)
	})
	srv.Front.Close()
	fronttest.Goroutines(t, before)
}

// TestClose: Close ends sessions under way and leaves nothing behind.
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	inner := smtp.NewServer(&fronttest.Backend{})
	fs := front.New(inner, nil)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- fs.Serve(l) }()
	c := greet(t, l.Addr().String())
	c.MustCmd("EHLO c.test", 250)
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := fs.Shutdown(ctx); err == nil {
		t.Error("Shutdown with a session open returned nil")
	}
	if err := <-done; err != front.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	if rep := c.ReadReply(); rep.Err == nil {
		t.Errorf("session still open: %v", rep)
	}
	fronttest.Goroutines(t, before)
}

func TestFromConn(t *testing.T) {
	if _, ok := front.FromConn(nil); ok {
		t.Error("FromConn(nil)")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := front.FromConn(a); ok {
		t.Error("FromConn(pipe)")
	}
}

func ExampleNew() {
	// A go-smtp server, configured as usual.
	inner := smtp.NewServer(&fronttest.Backend{})
	inner.Domain = "mx.example.org"
	inner.MaxMessageBytes = 10 << 20
	// The front takes it over and serves the clients.
	fs := front.New(inner, &front.Options{ /* TLSConfig, Extensions... */ })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go fs.Serve(l)
	defer fs.Close()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("HELO client.example.org\r\nQUIT\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var all []byte
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			break
		}
	}
	fmt.Print(strings.ReplaceAll(string(all), "\r", ""))
	// Output:
	// 220 mx.example.org ESMTP
	// 250 mx.example.org Hello client.example.org
	// 221 2.0.0 Bye
}

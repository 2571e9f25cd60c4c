package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// testTimeout bounds every test step, so that a bug shows as a failure,
// not a hang.
const testTimeout = 10 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// dial opens a connection with test options and closes it at the end.
func dialT(t testing.TB, addr string, o *Options) *Conn {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.Hostname == "" {
		o.Hostname = "client.test"
	}
	c, err := Dial(testCtx(t), addr, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send sends msg and fails the test on a Go error.
func send(t testing.TB, c *Conn, env *Envelope, msg string) *Result {
	t.Helper()
	res, err := c.Send(testCtx(t), env, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return res
}

// statuses renders a result as "addr=status code,..." for comparisons.
func statuses(res *Result) string {
	var parts []string
	for _, r := range res.Recipients {
		s := r.Address + "=" + r.Status.String()
		if r.Reply != nil {
			s += " " + itoa(r.Reply.Code)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// modes are the four ways a transaction can go.
var modes = []struct {
	name   string
	ignore []string
}{
	{"pipelined-bdat", nil},
	{"pipelined-data", []string{"CHUNKING"}},
	{"lockstep-bdat", []string{"PIPELINING"}},
	{"lockstep-data", []string{"PIPELINING", "CHUNKING"}},
}

// tlsServer is a go-smtp server with STARTTLS, a certificate for mx.test
// and 127.0.0.1 from a fresh CA, and a backend that records TLS.
type tlsServer struct {
	*smtptest.Server
	Sink *smtptest.Sink
	CA   *pkitest.CA
	be   *recordingBackend
}

func startTLS(t *testing.T, configure ...func(*smtp.Server)) *tlsServer {
	t.Helper()
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.test", "127.0.0.1"}})
	sink := &smtptest.Sink{}
	be := &recordingBackend{Sink: sink}
	cfg := append([]func(*smtp.Server){func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
	}}, configure...)
	srv := smtptest.Start(t, be, cfg...)
	return &tlsServer{Server: srv, Sink: sink, CA: ca, be: be}
}

// recordingBackend wraps a Sink and records, per delivered message, the
// EHLO name and whether the session was under TLS; with Mechs set it
// offers AUTH.
type recordingBackend struct {
	Sink  *smtptest.Sink
	Mechs map[string]func() sasl2server

	mu    sync.Mutex
	seen  []sessionInfo
	authd []string
}

type sessionInfo struct {
	Helo string
	TLS  bool
}

// sasl2server is go-sasl's Server, named here to keep imports light.
type sasl2server interface {
	Next(response []byte) (challenge []byte, done bool, err error)
}

func (b *recordingBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := b.Sink.NewSession(c)
	if err != nil {
		return nil, err
	}
	rs := &recordingSession{Session: s, b: b, c: c}
	if b.Mechs != nil {
		return &authSession{rs}, nil
	}
	return rs, nil
}

func (b *recordingBackend) sessions() []sessionInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sessionInfo(nil), b.seen...)
}

type recordingSession struct {
	smtp.Session
	b *recordingBackend
	c *smtp.Conn
}

func (s *recordingSession) Data(r io.Reader) error {
	_, isTLS := s.c.TLSConnectionState()
	s.b.mu.Lock()
	s.b.seen = append(s.b.seen, sessionInfo{Helo: s.c.Hostname(), TLS: isTLS})
	s.b.mu.Unlock()
	return s.Session.Data(r)
}

// script is one connection of a scripted raw server.
type script struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

var errScript = errors.New("script failed")

// serve runs handler on the first connection to a loopback listener and
// returns its address; the test waits for the handler at the end.
func serve(t *testing.T, handler func(s *script)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := &script{t: t, c: c, br: bufio.NewReader(c)}
		defer func() {
			if r := recover(); r != nil && r != errScript {
				panic(r)
			}
		}()
		handler(s)
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("scripted server did not finish")
		}
	})
	return ln.Addr().String()
}

// write sends raw text.
func (s *script) write(text string) {
	s.c.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(s.c, text); err != nil {
		s.t.Errorf("script: write: %v", err)
		panic(errScript)
	}
}

// line reads one line without its CRLF.
func (s *script) line() string {
	s.c.SetReadDeadline(time.Now().Add(testTimeout))
	l, err := s.br.ReadString('\n')
	if err != nil {
		s.t.Errorf("script: read: %v", err)
		panic(errScript)
	}
	return strings.TrimRight(l, "\r\n")
}

// expect reads a line and checks that it starts with prefix (ignoring
// case).
func (s *script) expect(prefix string) string {
	l := s.line()
	if !strings.HasPrefix(strings.ToUpper(l), strings.ToUpper(prefix)) {
		s.t.Errorf("script: got %q, want %q...", l, prefix)
		panic(errScript)
	}
	return l
}

// greet sends the banner, reads EHLO and answers with the keywords.
func (s *script) greet(keywords ...string) {
	s.write("220 script.test ESMTP\r\n")
	s.expect("EHLO ")
	reply := "250-script.test\r\n"
	for _, k := range keywords {
		reply += "250-" + k + "\r\n"
	}
	s.write(reply + "250 SIZE 1000000\r\n")
}

// data reads a DATA body up to the lone dot and returns it, unstuffed.
func (s *script) data() string {
	var b strings.Builder
	for {
		l := s.line()
		if l == "." {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
}

// quit answers a QUIT if one comes, or EOF.
func (s *script) quit() {
	s.c.SetReadDeadline(time.Now().Add(testTimeout))
	l, err := s.br.ReadString('\n')
	if err != nil {
		return
	}
	if strings.HasPrefix(strings.ToUpper(l), "QUIT") {
		s.write("221 bye\r\n")
		return
	}
	s.t.Errorf("script: got %q, want QUIT", l)
}

// loopServer is a scripted server that greets with keywords, then answers
// each command with reply(cmd) until QUIT or EOF. DATA's content is read
// to the dot and reply(".") answers it; a BDAT chunk is read and
// reply("BDAT n [LAST]") answers it. An empty reply closes the
// connection. log waits for the session to end and returns the commands
// received (DATA content as one entry starting with "data:").
func loopServer(t *testing.T, keywords []string, reply func(cmd string) string) (addr string, log func() []string) {
	t.Helper()
	var cmds []string
	done := make(chan struct{})
	addr = serve(t, func(s *script) {
		defer close(done)
		s.greet(keywords...)
		for {
			s.c.SetReadDeadline(time.Now().Add(testTimeout))
			l, err := s.br.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.TrimRight(l, "\r\n")
			cmds = append(cmds, cmd)
			up := strings.ToUpper(cmd)
			var r string
			switch {
			case strings.HasPrefix(up, "BDAT "):
				f := strings.Fields(cmd)
				n := 0
				for _, d := range f[1] {
					n = n*10 + int(d-'0')
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(s.br, b); err != nil {
					return
				}
				cmds = append(cmds, "data:"+string(b))
				r = reply(cmd)
			case up == "DATA":
				r = reply(cmd)
				if strings.HasPrefix(r, "354") {
					s.write(r)
					cmds = append(cmds, "data:"+s.data())
					r = reply(".")
				}
			default:
				r = reply(cmd)
			}
			if r == "" {
				return
			}
			s.write(r)
			if up == "QUIT" || strings.HasPrefix(r, "421") {
				return
			}
		}
	})
	return addr, func() []string {
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Fatal("scripted session did not end")
		}
		return cmds
	}
}

// okReply is the reply of an accommodating server.
func okReply(cmd string) string {
	up := strings.ToUpper(cmd)
	switch {
	case up == "DATA":
		return "354 go ahead\r\n"
	case up == ".", strings.HasSuffix(up, " LAST"):
		return "250 2.0.0 queued\r\n"
	case up == "QUIT":
		return "221 2.0.0 bye\r\n"
	}
	return "250 2.0.0 ok\r\n"
}

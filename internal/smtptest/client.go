package smtptest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout bounds every read and write of a Client, so that a test
// never hangs on a server that stopped talking.
const DefaultTimeout = 10 * time.Second

// Reply is one SMTP reply, or the error that ended the attempt to read it.
type Reply struct {
	Code  int
	Lines []string // text of each line, without code and separator
	Err   error    // read error (io.EOF when the server closed)
}

// Text is the reply's lines joined by "\n".
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

func (r Reply) String() string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	return fmt.Sprintf("%d %s", r.Code, r.Text())
}

// Client speaks raw SMTP lines to a server.
type Client struct {
	t       testing.TB
	conn    net.Conn
	r       *bufio.Reader
	Timeout time.Duration
}

// Dial connects to addr; the banner is left for the caller to read with
// ReadReply. The connection is closed when the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, DefaultTimeout)
	if err != nil {
		t.Fatalf("smtptest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Client{t: t, conn: conn, r: bufio.NewReader(conn), Timeout: DefaultTimeout}
}

// Conn returns the current connection (a *tls.Conn after StartTLS).
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Write sends raw bytes as they are; it fails the test on a write error.
func (c *Client) Write(raw string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	if _, err := c.conn.Write([]byte(raw)); err != nil {
		c.t.Fatalf("smtptest: write: %v", err)
	}
}

// Cmd sends one command line (CRLF is added) and reads the reply.
func (c *Client) Cmd(line string) Reply {
	c.t.Helper()
	c.Write(line + "\r\n")
	return c.ReadReply()
}

// ReadReply reads one possibly multi-line reply.
func (c *Client) ReadReply() Reply {
	var rep Reply
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			rep.Err = err
			return rep
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			rep.Err = fmt.Errorf("smtptest: short reply line %q", line)
			return rep
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			rep.Err = fmt.Errorf("smtptest: bad reply line %q", line)
			return rep
		}
		rep.Code = code
		text := line[3:]
		more := strings.HasPrefix(text, "-")
		if len(text) > 0 {
			text = text[1:]
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep
		}
	}
}

// Expect reads a reply and fails the test unless its code is code.
func (c *Client) Expect(code int) Reply {
	c.t.Helper()
	rep := c.ReadReply()
	if rep.Err != nil || rep.Code != code {
		c.t.Fatalf("smtptest: want %d, got %v", code, rep)
	}
	return rep
}

// MustCmd sends a command and fails the test unless the reply has code.
func (c *Client) MustCmd(line string, code int) Reply {
	c.t.Helper()
	c.Write(line + "\r\n")
	return c.Expect(code)
}

// StartTLS sends STARTTLS, expects 220 and performs the handshake.
func (c *Client) StartTLS(cfg *tls.Config) {
	c.t.Helper()
	c.MustCmd("STARTTLS", 220)
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.Timeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("smtptest: TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

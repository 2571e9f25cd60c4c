package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// ErrNegotiationFailed is Exim's reply to every command but QUIT from a
// required host whose PROXY negotiation failed. Exim sends no enhanced
// code; 5.7.0 (RFC 3463: other security or policy status) is added.
var ErrNegotiationFailed = &smtp.SMTPError{
	Code:         503,
	EnhancedCode: smtp.EnhancedCode{5, 7, 0},
	Message:      "Command refused, required Proxy negotiation failed",
}

// maxRefused is how many commands a failed connection may send before it
// is closed with 421 (RFC 5321 section 3.8), so that it cannot hold a
// session open forever. Exim has no such limit beyond its timeouts.
const maxRefused = 20

// maxCommandLine bounds a refused command line: RFC 5321 section
// 4.5.3.1.4 allows 512 octets; longer lines are read and dropped in
// pieces of this size.
const maxCommandLine = 512

type refuseState int

const (
	refuseUndecided refuseState = iota
	refuseFilter                // server spoke first: plaintext SMTP, refuse here
	refusePass                  // server read first (implicit TLS): Backend refuses
)

// refusal settles, on the first Read or Write after a failed negotiation,
// who refuses the commands. An SMTP server speaks first (RFC 5321 section
// 3.1: the banner), so a Write first means the bytes above are plaintext
// SMTP and the Conn answers 503 itself, exactly as Exim does: the banner
// goes out, every command line but QUIT gets ErrNegotiationFailed and
// never reaches the server, QUIT is passed up so the server says 221 and
// closes. A Read first means a layer above reads before the banner, such
// as TLS on connect (port 465): the bytes are not SMTP lines, so the Conn
// passes them through and Backend refuses at the SMTP level.
func (c *Conn) refusal(first refuseState) refuseState {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.refuse == refuseUndecided {
		c.refuse = first
	}
	return c.refuse
}

// refuseRead answers command lines until a QUIT, which it returns.
func (c *Conn) refuseRead(p []byte) (int, error) {
	for len(c.pending) == 0 {
		line, err := c.readLine()
		if err != nil {
			return 0, err
		}
		if bytes.EqualFold(bytes.TrimSpace(line), []byte("QUIT")) {
			c.pending = []byte("QUIT\r\n")
			break
		}
		c.refused++
		if c.refused > maxRefused {
			c.reply("421 4.7.0 Too many refused commands, closing connection")
			return 0, io.EOF
		}
		e := ErrNegotiationFailed
		c.reply(fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message))
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// readLine reads one line; a line longer than the buffer is returned
// truncated, the rest dropped.
func (c *Conn) readLine() ([]byte, error) {
	if c.br == nil {
		c.br = bufio.NewReaderSize(c.raw, maxCommandLine)
	}
	line, err := c.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	// Too long: keep the head, skip to the end of the line.
	head := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = c.br.ReadSlice('\n')
	}
	return head, err
}

func (c *Conn) reply(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw.Write([]byte(s + "\r\n"))
}

// NewBackend wraps a go-smtp Backend for Exim's failure behaviour when the
// Conn cannot refuse commands itself (TLS on connect, see Conn): a
// session from a required host whose negotiation failed is refused with
// ErrNegotiationFailed at EHLO or HELO, so no transaction can start
// (go-smtp itself answers 502 to MAIL, RCPT and DATA without a session).
// Connections that did not come through a Listener pass unchanged.
func NewBackend(be smtp.Backend) smtp.Backend { return backend{be} }

type backend struct{ smtp.Backend }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if info, ok := FromConn(c.Conn()); ok && info.Err != nil {
		return nil, ErrNegotiationFailed
	}
	return b.Backend.NewSession(c)
}

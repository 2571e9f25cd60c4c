package client

import (
	"bytes"
	"context"
	"fmt"
	"net"

	"github.com/emersion/go-smtp"
)

// SMTPClient hands the connection over to a go-smtp *smtp.Client, for what
// the engine does not do (VRFY, LMTP-free extras, a caller's own code).
//
// go-smtp's client reads the banner and says EHLO itself, lazily. The
// connection it gets replays the banner the engine read, swallows the
// first EHLO, HELO or LHLO line it writes and answers it with the engine's
// last EHLO (or HELO) reply, so it knows the server's capabilities (after
// STARTTLS and AUTH, if the engine did them) without a round trip. From
// then on the bytes pass through.
//
// An unfinished transaction is reset first. Afterwards the *smtp.Client
// owns the connection: the Conn's methods fail with ErrClosed and its Close
// does nothing. go-smtp's TLSConnectionState does not see TLS through the
// wrapper; Conn.TLS still reports it, and the wrapper has NetConn(), the
// method *tls.Conn has, to walk down to the TLS connection.
func (c *Conn) SMTPClient() (*smtp.Client, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if c.dirty {
		stop := c.watch(context.Background())
		err := c.rset()
		stop()
		if err != nil {
			return nil, err
		}
	}
	rc := &replayConn{Conn: c.conn, hello: c.hello.wire()}
	rc.out = append(rc.out, c.banner.wire()...)
	// Whatever the server sent unasked is replayed after the EHLO reply.
	if n := c.br.Buffered(); n > 0 {
		extra, _ := c.br.Peek(n)
		rc.after = append([]byte(nil), extra...)
	}
	c.err = errHandedOver
	cl := smtp.NewClient(rc)
	cl.CommandTimeout = c.opts.Timeouts.Command
	cl.SubmissionTimeout = c.opts.Timeouts.DataEnd
	return cl, nil
}

// replayConn is the connection given to go-smtp's Client.
type replayConn struct {
	net.Conn
	out     []byte // to be read before the network
	hello   []byte // the reply to give to the first greeting command
	after   []byte // read-ahead bytes, after the greeting reply
	line    []byte // the first command line, until complete
	greeted bool   // the first command line went by
}

// NetConn returns the wrapped connection, as *tls.Conn does.
func (r *replayConn) NetConn() net.Conn { return r.Conn }

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.out) > 0 {
		n := copy(p, r.out)
		r.out = r.out[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

func (r *replayConn) Write(p []byte) (int, error) {
	if r.greeted {
		return r.Conn.Write(p)
	}
	r.line = append(r.line, p...)
	i := bytes.IndexByte(r.line, '\n')
	if i < 0 {
		if len(r.line) > MaxReplyLineLength {
			return 0, fmt.Errorf("client: handed-over client wrote a line longer than %d bytes", MaxReplyLineLength)
		}
		return len(p), nil
	}
	r.greeted = true
	first, rest := r.line[:i+1], r.line[i+1:]
	r.line = nil
	if isGreeting(first) {
		r.out = append(r.out, r.hello...)
		r.out = append(r.out, r.after...)
	} else {
		// Not a greeting: let it through, and the server answer it.
		r.out = append(r.out, r.after...)
		rest = append(first, rest...)
	}
	if len(rest) > 0 {
		if _, err := r.Conn.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// isGreeting reports whether line is EHLO, HELO or LHLO.
func isGreeting(line []byte) bool {
	if len(line) < 4 {
		return false
	}
	cmd := string(bytes.ToUpper(line[:4]))
	if cmd != "EHLO" && cmd != "HELO" && cmd != "LHLO" {
		return false
	}
	return len(line) == 4 || line[4] == ' ' || line[4] == '\r' || line[4] == '\n'
}

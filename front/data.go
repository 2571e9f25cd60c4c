package front

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// dataScanner finds the end of DATA content, "CRLF.CRLF" (RFC 5321
// section 4.1.1.4), byte for byte as go-smtp's reader does, so that the
// front and go-smtp agree on where the message ends: a line counts as
// begun only after CR LF, and the data starts at a line's beginning. It
// also measures lines as go-smtp's line limit does, from one LF to the
// next (RFC 5321 section 4.5.3.1.6).
type dataScanner struct {
	state int
	// limit is the longest line allowed, CRLF included.
	limit int
	// lineLen counts the octets after the last LF.
	lineLen int
	// newline is set when the last scan consumed an LF.
	newline bool
}

const (
	scanLineStart = iota
	scanDot       // "." at a line's start
	scanDotCR     // ".\r" at a line's start
	scanCR        // "\r"
	scanText      // inside a line
	scanEnd       // ".\r\n" seen
)

// scanResult says where a scan stopped.
type scanResult int

const (
	scanMore    scanResult = iota // all of p is data, the end is to come
	scanFound                     // the end marker ends the data
	scanTooLong                   // a line exceeds the limit
)

// scan consumes p and returns how many bytes belong to the message data:
// up to the end marker included (scanFound), up to the byte that makes a
// line too long excluded (scanTooLong), or all of p (scanMore).
func (s *dataScanner) scan(p []byte) (int, scanResult) {
	s.newline = false
	// Where a line grows past the limit: once lineLen octets follow
	// the last LF, one more without LF makes the line, with its LF,
	// longer than limit.
	cut, cur := len(p), s.lineLen
	for off := 0; off < len(p); {
		k := bytes.IndexByte(p[off:], '\n')
		seg := k
		if k < 0 {
			seg = len(p) - off
		}
		if s.limit > 0 && cur+seg >= s.limit {
			cut = off + s.limit - 1 - cur
			break
		}
		if k < 0 {
			cur += seg
			break
		}
		cur, off = 0, off+k+1
		s.newline = true
	}
	n, end := s.scanEnd(p[:cut])
	if end {
		return n, scanFound
	}
	s.lineLen = cur
	if cut < len(p) {
		return cut, scanTooLong
	}
	return n, scanMore
}

// scanEnd runs go-smtp's state machine over p; inside a line only CR
// matters, so it skips to the next one.
func (s *dataScanner) scanEnd(p []byte) (n int, end bool) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch s.state {
		case scanLineStart:
			switch b {
			case '.':
				s.state = scanDot
			case '\r':
				s.state = scanCR
			default:
				s.state = scanText
			}
		case scanDot:
			if b == '\r' {
				s.state = scanDotCR
			} else {
				s.state = scanText
			}
		case scanDotCR:
			if b == '\n' {
				s.state = scanEnd
				return i + 1, true
			}
			s.state = scanText
		case scanCR:
			if b == '\n' {
				s.state = scanLineStart
			} else {
				s.state = scanText
			}
		case scanText:
			k := bytes.IndexByte(p[i:], '\r')
			if k < 0 {
				return len(p), false
			}
			i += k
			s.state = scanCR
		}
	}
	return len(p), false
}

// data relays DATA (RFC 5321 section 4.1.1.4): after go-smtp's 354, the
// content goes through as it is (dot-stuffed) up to the end marker. Each
// line must arrive within Timeouts.Data, the whole message within
// Timeouts.Message.
func (c *Conn) data(line string) error {
	rep, err := c.innerCmd(line)
	if err != nil {
		return c.innerFailed(err)
	}
	c.reply(rep.code, rep.text())
	if rep.code != 354 {
		return nil
	}
	o := &c.srv.opts
	c.msgDeadline = time.Now().Add(o.Timeouts.Message)
	sc := dataScanner{limit: o.Limits.DataLineLength}
	// lineWait is how long the current line kept the front waiting for
	// the client; time spent handing data to go-smtp does not count.
	var lineWait time.Duration
	for {
		if c.br.Buffered() == 0 {
			start := time.Now()
			if err := c.fill(start.Add(o.Timeouts.Data - lineWait)); err != nil {
				return err
			}
			lineWait += time.Since(start)
		}
		p, _ := c.br.Peek(c.br.Buffered())
		n, res := sc.scan(p)
		if sc.newline {
			lineWait = 0 // a line began in this input
		}
		if err := c.innerWrite(p[:n]); err != nil {
			return c.innerFailed(err)
		}
		c.br.Discard(n)
		switch res {
		case scanFound:
			return c.endOfData(true)
		case scanTooLong:
			return c.dataLineTooLong()
		}
	}
}

// dataLineTooLong ends a message with a line over Limits.DataLineLength
// as go-smtp ends it when it reads from the client itself: the session's
// reader fails with smtp.ErrTooLongLine, the client gets the session's
// reply, then go-smtp's "500 5.4.0" as it closes, and so does the front.
// The rest of the line is never read.
func (c *Conn) dataLineTooLong() error {
	c.log.Warn("front: message data line too long", "limit", c.srv.opts.Limits.DataLineLength)
	c.ic.fail(smtp.ErrTooLongLine)
	if err := c.endOfData(false); err != nil {
		return err
	}
	rep, err := c.innerReply()
	if err != nil {
		// go-smtp closed without a word: say what it says.
		c.reply(500, "5.4.0 Too long line, closing connection")
		return errClose
	}
	c.reply(rep.code, rep.text())
	return errClose
}

// bdat relays BDAT (RFC 3030 section 2): the command, then exactly the
// announced number of octets, whatever they hold. Each read of the chunk
// must come within Timeouts.Data, the chunks of a message (and the BDAT
// commands between them) within Timeouts.Message.
func (c *Conn) bdat(line, arg string) error {
	args := strings.Fields(arg)
	last := len(args) == 2 && strings.EqualFold(args[1], "LAST")
	var size uint64
	var err error
	if len(args) >= 1 {
		// The same rule as go-smtp: a size that does not parse there
		// makes it read no chunk.
		size, err = strconv.ParseUint(args[0], 10, 32)
	}
	if len(args) == 0 || len(args) > 2 || (len(args) == 2 && !last) || err != nil {
		return c.relay(line)
	}
	o := &c.srv.opts
	if c.msgDeadline.IsZero() {
		c.msgDeadline = time.Now().Add(o.Timeouts.Message)
	}
	if !c.inTx || len(c.rcpts) == 0 {
		// Out of a transaction go-smtp answers at once, then reads the
		// chunk: an empty one is enough to have its answer, the client's
		// chunk is read and dropped here (the chunk follows the command
		// whatever the reply).
		rep, err := c.innerCmd("BDAT 0")
		if err != nil {
			return c.innerFailed(err)
		}
		c.reply(rep.code, rep.text())
		err = c.discard(int64(size))
		c.msgDeadline = time.Time{}
		return err
	}
	if max := c.srv.inner.MaxMessageBytes; max > 0 && c.bdatBytes+int64(size) > max {
		// Refuse without handing the chunk over; it is still read
		// (RFC 3030 section 2), and the transaction ends as go-smtp
		// ends it.
		if err := c.discard(int64(size)); err != nil {
			return err
		}
		if _, err := c.innerCmd("RSET"); err != nil {
			return c.innerFailed(err)
		}
		c.resetTx()
		c.reply(552, "5.3.4 Message size exceeds the fixed maximum")
		return nil
	}
	if err := c.innerWrite([]byte(line + "\r\n")); err != nil {
		return c.innerFailed(err)
	}
	for left := int64(size); left > 0; {
		if c.br.Buffered() == 0 {
			if err := c.fill(time.Now().Add(o.Timeouts.Data)); err != nil {
				return err
			}
		}
		p, _ := c.br.Peek(int(min(int64(c.br.Buffered()), left)))
		if err := c.innerWrite(p); err != nil {
			return c.innerFailed(err)
		}
		c.br.Discard(len(p))
		left -= int64(len(p))
	}
	c.bdatBytes += int64(size)
	if last {
		return c.endOfData(true)
	}
	rep, err := c.innerReply()
	if err != nil {
		return c.innerFailed(err)
	}
	if rep.code/100 != 2 {
		c.resetTx() // go-smtp resets the transaction after a failed chunk
	}
	c.reply(rep.code, rep.text())
	return nil
}

// discard reads and drops n octets of client input.
func (c *Conn) discard(n int64) error {
	for n > 0 {
		if c.br.Buffered() == 0 {
			if err := c.fill(time.Now().Add(c.srv.opts.Timeouts.Data)); err != nil {
				return err
			}
		}
		k, _ := c.br.Discard(int(min(int64(c.br.Buffered()), n)))
		n -= int64(k)
	}
	return nil
}

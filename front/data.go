package front

import (
	"strconv"
	"strings"
)

// dataScanner finds the end of DATA content, "CRLF.CRLF" (RFC 5321
// section 4.1.1.4), byte for byte as go-smtp's reader does, so that the
// front and go-smtp agree on where the message ends: a line counts as
// begun only after CR LF, and the data starts at a line's beginning.
type dataScanner struct{ state int }

const (
	scanLineStart = iota
	scanDot       // "." at a line's start
	scanDotCR     // ".\r" at a line's start
	scanCR        // "\r"
	scanText      // inside a line
	scanEnd       // ".\r\n" seen
)

// scan consumes p and returns how many bytes belong to the message data,
// the end marker included, and whether the end was reached.
func (s *dataScanner) scan(p []byte) (n int, end bool) {
	for i, b := range p {
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
			if b == '\r' {
				s.state = scanCR
			}
		}
	}
	return len(p), false
}

// data relays DATA (RFC 5321 section 4.1.1.4): after go-smtp's 354, the
// content goes through as it is (dot-stuffed) up to the end marker.
func (c *Conn) data(line string) error {
	rep, err := c.innerCmd(line)
	if err != nil {
		return c.innerFailed(err)
	}
	c.reply(rep.code, rep.text())
	if rep.code != 354 {
		return nil
	}
	var sc dataScanner
	for {
		if c.br.Buffered() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
			c.nc.SetReadDeadline(timeFrom(c.srv.opts.Timeouts.Data))
			if _, err := c.br.Peek(1); err != nil {
				return c.readFailed(err)
			}
		}
		p, _ := c.br.Peek(c.br.Buffered())
		n, end := sc.scan(p)
		if err := c.innerWrite(p[:n]); err != nil {
			return c.innerFailed(err)
		}
		c.br.Discard(n)
		if end {
			return c.endOfData()
		}
	}
}

// bdat relays BDAT (RFC 3030 section 2): the command, then exactly the
// announced number of octets, whatever they hold.
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
	if max := c.srv.inner.MaxMessageBytes; max > 0 && c.bdatBytes+int64(size) > max {
		// Refuse without handing the chunk over; it is still read
		// (RFC 3030 section 2: the chunk follows the command whatever
		// the reply), and the transaction ends as go-smtp ends it.
		if err := c.discard(int64(size)); err != nil {
			return err
		}
		rep, err := c.innerCmd("RSET")
		if err != nil {
			return c.innerFailed(err)
		}
		_ = rep
		c.resetTx()
		c.reply(552, "5.3.4 Message size exceeds the fixed maximum")
		return nil
	}
	if err := c.innerWrite([]byte(line + "\r\n")); err != nil {
		return c.innerFailed(err)
	}
	for left := int64(size); left > 0; {
		if c.br.Buffered() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
			c.nc.SetReadDeadline(timeFrom(c.srv.opts.Timeouts.Data))
			if _, err := c.br.Peek(1); err != nil {
				return c.readFailed(err)
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
	if last && len(c.rcpts) > 0 {
		return c.endOfData()
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
			if err := c.flush(); err != nil {
				return err
			}
			c.nc.SetReadDeadline(timeFrom(c.srv.opts.Timeouts.Data))
			if _, err := c.br.Peek(1); err != nil {
				return c.readFailed(err)
			}
		}
		k, _ := c.br.Discard(int(min(int64(c.br.Buffered()), n)))
		n -= int64(k)
	}
	return nil
}

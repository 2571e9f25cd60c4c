package client

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
)

// BodyType says what the message holds, for the BODY parameter of MAIL.
type BodyType int

const (
	// BodyAuto, the zero value, finds out. When the server advertises
	// 8BITMIME, an io.Seeker message (an *os.File, a *bytes.Reader) is
	// scanned and rewound; any other reader is read ahead by PeekSize
	// bytes: 8-bit content there, or a message longer than that, sends
	// BODY=8BITMIME, which RFC 6152 allows for 7-bit content too. A
	// message is never held in memory whole.
	BodyAuto BodyType = iota
	// Body7Bit is US-ASCII text: no BODY parameter.
	Body7Bit
	// Body8Bit is text with 8-bit bytes: BODY=8BITMIME when advertised
	// (RFC 6152); without it the message is sent as it is, as Exim and
	// Postfix do.
	Body8Bit
	// BodyBinary is sent byte for byte with BODY=BINARYMIME and BDAT
	// (RFC 3030 section 3); a server without both refuses it before MAIL
	// (ErrRefused, 554 5.6.3).
	BodyBinary
)

func (b BodyType) String() string {
	switch b {
	case BodyAuto:
		return "auto"
	case Body7Bit:
		return "7bit"
	case Body8Bit:
		return "8bitmime"
	case BodyBinary:
		return "binarymime"
	}
	return "BodyType(?)"
}

// localError is a failure to read the caller's message, as opposed to a
// failure of the connection.
type localError struct{ err error }

func (e *localError) Error() string { return "client: reading the message: " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// srcReader tags the message's read errors as local.
type srcReader struct{ r io.Reader }

func (s srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &localError{err}
	}
	return n, err
}

// prepareBody settles BodyAuto and, when the caller gave no Size and the
// server takes SIZE (RFC 1870), estimates it. It returns the reader to
// send from, which may hold read-ahead bytes.
//
// With noPeek, a message that is not an io.ReadSeeker is not read: BodyAuto
// declares BODY=8BITMIME where advertised (RFC 6152 allows it for 7-bit
// content) and SIZE is sent only when the caller gave it.
func (c *Conn) prepareBody(env *Envelope, msg io.Reader, noPeek bool) (BodyType, int64, io.Reader, error) {
	body, size := env.Body, env.Size
	want8 := body == BodyAuto && c.hasExt("8BITMIME")
	wantSize := size <= 0 && c.hasExt("SIZE")
	if body == BodyAuto && !want8 {
		body = Body7Bit // nothing to declare
	}
	if !want8 && !wantSize {
		return body, size, msg, nil
	}
	if rs, ok := msg.(io.ReadSeeker); ok {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			return c.scanSeeker(rs, start, body, size, want8, wantSize)
		}
	}
	if noPeek {
		if want8 {
			body = Body8Bit
		}
		return body, size, msg, nil
	}
	if c.peek == nil {
		c.peek = bufio.NewReaderSize(msg, PeekSize)
	} else {
		c.peek.Reset(msg)
	}
	p, err := c.peek.Peek(PeekSize)
	whole := errors.Is(err, io.EOF)
	if err != nil && !whole {
		return body, size, nil, &localError{err}
	}
	if want8 {
		body = Body7Bit
		if !whole || has8Bit(p) {
			body = Body8Bit
		}
	}
	if wantSize && whole {
		size = int64(len(p))
	}
	return body, size, c.peek, nil
}

// scanSeeker reads a seekable message for 8-bit bytes and its size, then
// rewinds it.
func (c *Conn) scanSeeker(rs io.ReadSeeker, start int64, body BodyType, size int64, want8, wantSize bool) (BodyType, int64, io.Reader, error) {
	if want8 {
		body = Body7Bit
		buf := c.scratch()
		for {
			n, err := rs.Read(buf)
			if has8Bit(buf[:n]) {
				body = Body8Bit
				break
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return body, size, nil, &localError{err}
			}
		}
	}
	if wantSize {
		end, err := rs.Seek(0, io.SeekEnd)
		if err != nil {
			return body, size, nil, &localError{err}
		}
		size = end - start
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return body, size, nil, &localError{err}
	}
	return body, size, rs, nil
}

// scratch is a read buffer reused across messages.
func (c *Conn) scratch() []byte {
	if c.rbuf == nil {
		c.rbuf = make([]byte, 32<<10)
	}
	return c.rbuf
}

// has8Bit reports whether p has a byte above 127, eight bytes at a time.
func has8Bit(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
		p = p[8:]
	}
	for _, b := range p {
		if b >= 0x80 {
			return true
		}
	}
	return false
}

// textWriter turns a message into SMTP text (RFC 5321 section 2.3.8):
// every line ends in CRLF, whether it ended in CRLF, LF or a lone CR, so
// that no bare CR or LF reaches the server (no "SMTP smuggling"); the last
// line gets its CRLF when it lacks one. With stuff, a line starting with
// "." gets another one (RFC 5321 section 4.5.2), for DATA.
type textWriter struct {
	w     io.Writer
	stuff bool
	bol   bool // at the beginning of a line
	cr    bool // the last byte seen was a CR, its line end not yet written
	err   error
}

var crlf = []byte("\r\n")

func newTextWriter(w io.Writer, stuff bool) *textWriter {
	return &textWriter{w: w, stuff: stuff, bol: true}
}

func (t *textWriter) put(p []byte) {
	if t.err == nil && len(p) > 0 {
		_, t.err = t.w.Write(p)
	}
}

func (t *textWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && t.err == nil {
		if t.cr {
			t.cr = false
			t.put(crlf)
			t.bol = true
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		if t.bol {
			if t.stuff && p[0] == '.' {
				t.put([]byte{'.'})
			}
			t.bol = false
		}
		lf := bytes.IndexByte(p, '\n')
		seg := p
		if lf >= 0 {
			seg = p[:lf]
		}
		cr := bytes.IndexByte(seg, '\r')
		switch {
		case cr >= 0 && cr < len(seg)-1: // a lone CR inside the line
			t.put(p[:cr])
			t.put(crlf)
			p, t.bol = p[cr+1:], true
		case cr >= 0 && lf >= 0: // CRLF: copied as it is
			t.put(p[:lf+1])
			p, t.bol = p[lf+1:], true
		case cr >= 0: // CR at the end: an LF may follow in the next write
			t.put(p[:cr])
			p, t.cr = nil, true
		case lf >= 0: // bare LF
			t.put(p[:lf])
			t.put(crlf)
			p, t.bol = p[lf+1:], true
		default:
			t.put(p)
			p = nil
		}
	}
	if t.err != nil {
		return 0, t.err
	}
	return n, nil
}

// end completes the last line.
func (t *textWriter) end() error {
	if t.cr || !t.bol {
		t.put(crlf)
		t.cr, t.bol = false, true
	}
	return t.err
}

// appendWriter appends to a byte slice.
type appendWriter struct{ b *[]byte }

func (a appendWriter) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// chunker cuts a message into BDAT chunks (RFC 3030 section 2) of size
// bytes (the last one shorter), text normalised as for DATA but without
// dot-stuffing, or bytes as they are for BINARYMIME.
type chunker struct {
	c    *Conn
	src  io.Reader
	tw   *textWriter // nil for binary
	text textWriter  // tw points here for text
	buf  []byte      // normalised bytes not yet sent
	sent int         // bytes of buf returned by the last call
	read []byte
	size int
	eof  bool
}

func (c *Conn) newChunker(src io.Reader, binary bool) *chunker {
	k := &chunker{c: c, src: srcReader{src}, size: c.opts.Limits.ChunkSize, read: c.scratch(), buf: c.cbuf[:0]}
	if !binary {
		k.text = textWriter{w: appendWriter{&k.buf}, bol: true}
		k.tw = &k.text
	}
	return k
}

// next returns the next chunk, and whether it is the last. The chunk is
// valid until the next call.
func (k *chunker) next() ([]byte, bool, error) {
	if k.sent > 0 {
		k.buf = k.buf[:copy(k.buf, k.buf[k.sent:])]
		k.sent = 0
	}
	for !k.eof && len(k.buf) < k.size {
		want := min(len(k.read), k.size-len(k.buf))
		n, err := k.src.Read(k.read[:want])
		if n > 0 {
			if k.tw != nil {
				k.tw.Write(k.read[:n])
			} else {
				k.buf = append(k.buf, k.read[:n]...)
			}
		}
		if errors.Is(err, io.EOF) {
			k.eof = true
			if k.tw != nil {
				k.tw.end()
			}
		} else if err != nil {
			return nil, false, err
		}
	}
	k.c.cbuf = k.buf // keep the grown buffer for the next message
	if len(k.buf) > k.size {
		k.sent = k.size
		return k.buf[:k.size], false, nil
	}
	k.sent = len(k.buf)
	return k.buf, k.eof, nil
}

// bdatCommand is "BDAT size" with " LAST" on the last chunk (RFC 3030
// section 2).
func bdatCommand(n int, last bool) string {
	if last {
		return "BDAT " + strconv.Itoa(n) + " LAST"
	}
	return "BDAT " + strconv.Itoa(n)
}

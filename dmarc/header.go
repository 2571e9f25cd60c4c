package dmarc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// DefaultMaxHeaderBytes bounds the header section read into memory, the
// size of Exim's header_maxsize default; the body is streamed.
const DefaultMaxHeaderBytes = 1 << 20

// ErrHeaderTooLarge is wrapped by the error of Evaluate when the header
// section exceeds Options.MaxHeaderBytes. Such a message cannot be
// evaluated and must be refused; the session wrapper answers 552 5.3.4,
// as Exim does past header_maxsize.
var ErrHeaderTooLarge = errors.New("header section too large")

// A header is the header section of a message as received, read once:
// its bytes and where each field starts. The index costs four bytes a
// field, in chunks that are never copied, and the bytes grow by
// doubling, so that a header section of many tiny fields stays within a
// small multiple of its size.
type header struct {
	// raw is the header section, the empty line that ends it included.
	raw []byte
	// starts holds the offset in raw of each field, then the offset
	// where the fields end (the empty line, or the end of raw), in
	// chunks of startsChunk.
	starts [][]uint32
	n      int // offsets in starts
}

const startsChunk = 1024

// start returns the i-th offset of starts.
func (h *header) start(i int) int { return int(h.starts[i/startsChunk][i%startsChunk]) }

func (h *header) addStart(off int) {
	if h.n%startsChunk == 0 {
		h.starts = append(h.starts, make([]uint32, 0, startsChunk))
	}
	c := &h.starts[len(h.starts)-1]
	*c = append(*c, uint32(off))
	h.n++
}

// count is the number of fields.
func (h *header) count() int {
	if h.n == 0 {
		return 0
	}
	return h.n - 1
}

// field returns field i, 0 being the topmost.
func (h *header) field(i int) field { return field(h.raw[h.start(i):h.start(i+1)]) }

// end is the offset of the empty line that ends the fields.
func (h *header) end() int {
	if h.n == 0 {
		return 0
	}
	return h.start(h.n - 1)
}

// appendRaw appends b to h.raw, doubling its capacity as it grows.
func (h *header) appendRaw(b []byte) {
	if len(h.raw)+len(b) > cap(h.raw) {
		n := max(2*cap(h.raw), 4096, len(h.raw)+len(b))
		raw := make([]byte, len(h.raw), n)
		copy(raw, h.raw)
		h.raw = raw
	}
	h.raw = append(h.raw, b...)
}

// A field is one header field as received: name, colon, body, folded
// lines and line ends included (RFC 5322 section 2.2). A line with no
// colon that is not a continuation is a field of its own.
type field []byte

// name is the field name as go-msgauth's DKIM verifier reads it too:
// the text before the first colon, white space around it removed (RFC
// 5322 section 4.5.3 allows white space before the colon); the whole
// field when it has no colon.
func (f field) name() []byte {
	n := []byte(f)
	if i := bytes.IndexByte(n, ':'); i >= 0 {
		n = n[:i]
	}
	return bytes.TrimSpace(n)
}

// is reports whether the field's name is name, compared without regard
// to case (RFC 5322 section 1.2.2).
func (f field) is(name string) bool {
	n := f.name()
	return len(n) == len(name) && bytes.EqualFold(n, []byte(name))
}

// looselyIs is is with the control characters of the name dropped, as
// some readers drop them ("From\x00:" is a From field to them): for the
// fields whose every reading counts, From and Authentication-Results.
func (f field) looselyIs(name string) bool {
	if f.is(name) {
		return true
	}
	n := f.name()
	if bytes.IndexFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		return false
	}
	n = bytes.TrimSpace(bytes.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, n))
	return len(n) == len(name) && bytes.EqualFold(n, []byte(name))
}

// body is the field body, folded as received: everything after the
// first colon, nil for a field with no colon.
func (f field) body() []byte {
	if i := bytes.IndexByte(f, ':'); i >= 0 {
		return f[i+1:]
	}
	return nil
}

// value is the field body unfolded (RFC 5322 section 2.2.3), without the
// final line end and surrounding white space.
func (f field) value() string {
	s := strings.ReplaceAll(string(f.body()), "\r\n", "")
	s = strings.ReplaceAll(s, "\n", "")
	return strings.TrimSpace(s)
}

// readHeader reads the header section of a message from br, up to and
// including the empty line that ends it (or the end of the message), at
// most max bytes. Every byte it takes from br is in the returned header's
// raw bytes, on errors too: a line is never lost. Past max it fails with
// an error wrapping ErrHeaderTooLarge, having read at most one line, or
// one buffer of br, beyond the limit.
func readHeader(br *bufio.Reader, max int) (*header, error) {
	if max <= 0 || max > math.MaxUint32-1 {
		max = math.MaxUint32 - 1
	}
	h := &header{}
	for {
		line, err := br.ReadSlice('\n')
		start := len(h.raw)
		h.appendRaw(line)
		// A line longer than the buffer: gather it whole, or up to the
		// limit.
		for errors.Is(err, bufio.ErrBufferFull) && len(h.raw) <= max {
			line, err = br.ReadSlice('\n')
			h.appendRaw(line)
		}
		if len(h.raw) > max {
			return h, fmt.Errorf("%w: over %d bytes", ErrHeaderTooLarge, max)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return h, err
		}
		if h.indexLine(start) {
			return h, nil
		}
		if errors.Is(err, io.EOF) {
			h.addStart(len(h.raw))
			return h, nil
		}
	}
}

// headerOf is readHeader for a message held in memory whole: the header
// section is indexed where it is, not copied.
func headerOf(msg []byte, max int) (*header, error) {
	if max <= 0 || max > math.MaxUint32-1 {
		max = math.MaxUint32 - 1
	}
	h := &header{}
	for start := 0; ; {
		end := len(msg)
		if i := bytes.IndexByte(msg[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		if end > max {
			h.raw = msg[:start]
			return h, fmt.Errorf("%w: over %d bytes", ErrHeaderTooLarge, max)
		}
		h.raw = msg[:end]
		if h.indexLine(start) {
			return h, nil
		}
		if end == len(msg) {
			h.addStart(end)
			return h, nil
		}
		start = end
	}
}

// indexLine indexes the line of h.raw that starts at start, the last:
// a field of its own, a continuation, or the empty line that ends the
// header section, for which it reports true.
func (h *header) indexLine(start int) bool {
	line := h.raw[start:]
	switch {
	case len(line) == 0:
		// End of input.
	case isBlankLine(line):
		h.addStart(start)
		return true
	case (line[0] == ' ' || line[0] == '\t') && h.n > 0:
		// A continuation line (RFC 5322 section 2.2.3).
	default:
		h.addStart(start)
	}
	return false
}

func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

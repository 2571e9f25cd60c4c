package dmarc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultMaxHeaderBytes bounds the header section read into memory, the
// size of Exim's header_maxsize default; the body is streamed.
const DefaultMaxHeaderBytes = 1 << 20

// errHeaderTooLarge is wrapped when the header section exceeds the limit.
var errHeaderTooLarge = errors.New("header section too large")

// A field is one header field as received: its name and its raw bytes,
// name, folded lines and line ends included (RFC 5322 section 2.2).
type field struct {
	name string
	raw  []byte
}

// value is the field body unfolded (RFC 5322 section 2.2.3), without the
// name, colon and final line end.
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte(":"))
	s := strings.ReplaceAll(string(v), "\r\n", "")
	s = strings.ReplaceAll(s, "\n", "")
	return strings.TrimSpace(s)
}

// readHeader reads the header section of a message from br, up to and
// including the empty line that ends it (or the end of the message), at
// most max bytes. It returns the fields and the raw bytes read. A line
// with no colon that is not a continuation becomes a field with no name.
func readHeader(br *bufio.Reader, max int) ([]field, []byte, error) {
	var (
		raw    []byte
		fields []field
	)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(raw)+len(buf) <= max {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if len(raw)+len(line) > max {
			return fields, raw, fmt.Errorf("%w: over %d bytes", errHeaderTooLarge, max)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fields, raw, err
		}
		start := len(raw)
		raw = append(raw, line...)
		line = raw[start:]
		switch {
		case len(line) == 0:
			// End of input.
		case isBlankLine(line):
			return fields, raw, nil
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			f := &fields[len(fields)-1]
			f.raw = raw[len(raw)-len(f.raw)-len(line):]
		default:
			name := ""
			if i := bytes.IndexByte(line, ':'); i > 0 {
				name = string(bytes.TrimRight(line[:i], " \t"))
			}
			fields = append(fields, field{name: name, raw: line})
		}
		if errors.Is(err, io.EOF) {
			return fields, raw, nil
		}
	}
}

func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

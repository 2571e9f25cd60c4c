package requiretls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxHeader bounds the header section TLSRequiredNo reads.
const maxHeader = 1 << 20

// headerScan finds the TLS-Required header fields (RFC 8689 section 3) of
// a message fed to it in pieces, keeping only what it needs.
type headerScan struct {
	line    []byte // the current physical line, up to maxLine octets
	long    bool   // the current line went past maxLine
	inField bool   // the current field is TLS-Required
	value   []byte // its unfolded value, bounded
	done    bool   // the header section has ended
	seen    bool   // a TLS-Required field was found
	allNo   bool   // every one said "No"
	n       int
}

// maxLine keeps the start of a line, enough for a field name and a
// TLS-Required value; the rest of a longer line is dropped.
const maxLine = 256

func (h *headerScan) write(p []byte) {
	for len(p) > 0 && !h.done {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLine - len(h.line); room > 0 {
			h.line = append(h.line, chunk[:min(room, len(chunk))]...)
		}
		if len(h.line)+len(chunk) > maxLine {
			h.long = true
		}
		h.n += len(chunk)
		if i < 0 {
			return
		}
		h.n++
		h.endLine()
		p = p[i+1:]
	}
}

// endLine handles a complete physical line (RFC 5322 section 2.2:
// fields, folded with leading white space, ended by an empty line).
func (h *headerScan) endLine() {
	line := bytes.TrimSuffix(h.line, []byte("\r"))
	h.line, h.long = h.line[:0], false
	switch {
	case len(line) == 0:
		h.endField()
		h.done = true
	case line[0] == ' ' || line[0] == '\t':
		if h.inField && len(h.value) < maxLine {
			h.value = append(h.value, line...)
		}
	default:
		h.endField()
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isField(line) {
			h.done = true // not a header field: the header is over
			return
		}
		if bytes.EqualFold(bytes.TrimRight(name, " \t"), []byte("TLS-Required")) {
			h.inField = true
			h.value = append(h.value[:0], value...)
		}
	}
}

// isField reports whether line starts a header field (RFC 5322 section
// 2.2 and 3.6.8): a field name of ftext (printable ASCII but ":"), white
// space before the colon allowed (section 4.5.8, obsolete syntax), then
// ":".
func isField(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	name = bytes.TrimRight(name, " \t")
	if !ok || len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func (h *headerScan) endField() {
	if !h.inField {
		return
	}
	h.inField = false
	v := bytes.Trim(h.value, " \t\r\n")
	if !h.seen {
		h.allNo = true
	}
	h.seen = true
	// tls-required = "TLS-Required:" [FWS] "No" CRLF (section 3); any
	// other value is not "No".
	if !bytes.EqualFold(v, []byte("No")) {
		h.allNo = false
	}
}

// finish ends the scan at the end of the message.
func (h *headerScan) finish() {
	if !h.done {
		if len(h.line) > 0 {
			h.endLine()
		}
		h.endField()
		h.done = true
	}
}

// no reports whether the message has TLS-Required fields that all say No.
func (h *headerScan) no() bool { return h.seen && h.allNo }

// TLSRequiredNo reads the header section of a message and reports whether
// it has a TLS-Required header field and every such field says "No" (RFC
// 8689 section 3; case and white space do not matter, RFC 5322 folding
// is undone). It does not look at REQUIRETLS: a message that has it
// ignores the header (section 4.2.2). It reads no further than the
// empty line that ends the header section, and at most 1 MiB.
func TLSRequiredNo(msg io.Reader) (bool, error) {
	var h headerScan
	buf := make([]byte, 4096)
	for !h.done {
		n, err := msg.Read(buf)
		h.write(buf[:n])
		if h.n > maxHeader && !h.done {
			return false, fmt.Errorf("requiretls: header section over %d octets", maxHeader)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("requiretls: reading the header: %w", err)
		}
	}
	h.finish()
	return h.no(), nil
}

// scanReader passes a message through, scanning its header on the way,
// and calls after once the header section is over.
type scanReader struct {
	r     io.Reader
	h     *headerScan
	after func()
}

func (s *scanReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.h.done {
		return n, err
	}
	s.h.write(p[:n])
	if errors.Is(err, io.EOF) {
		s.h.finish()
	}
	if s.h.done {
		s.after()
	}
	return n, err
}

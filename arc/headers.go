package arc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A field is one header field as it came in: raw holds the name, colon,
// value and any folded continuation lines with their own line breaks
// (CRLF or bare LF), but not the line break that ends the field.
type field struct {
	raw   []byte
	name  string // lower case, without trailing white space; "" when the line has no colon
	colon int    // index of the colon in raw, -1 if none
}

// value returns the field's value: everything after the colon.
func (f *field) value() string {
	if f.colon < 0 {
		return ""
	}
	return string(f.raw[f.colon+1:])
}

// Header names that ARC gives a meaning to (RFC 8617 section 4.1).
const (
	nameAAR = "arc-authentication-results"
	nameAMS = "arc-message-signature"
	nameAS  = "arc-seal"
	nameAR  = "authentication-results"
)

// isARCName reports whether the lower-case name is one of the three ARC
// header fields.
func isARCName(name string) bool {
	return name == nameAAR || name == nameAMS || name == nameAS
}

// Errors from readHeader when the header section is past a limit.
var (
	errTooManyFields = errors.New("too many header fields")
	errHeaderTooBig  = errors.New("header section too large")
)

// headerLimitError marks a header section past a configured limit, as
// opposed to an I/O error from the reader.
type headerLimitError struct{ err error }

func (e *headerLimitError) Error() string { return e.err.Error() }
func (e *headerLimitError) Unwrap() error { return e.err }

// readHeader reads the header section of a message (RFC 5322 section
// 2.1) from br, up to and including the empty line that ends it, or to
// the end of input for a message without a body. Lines may end in CRLF
// or a bare LF. It stops with a *headerLimitError past maxFields fields
// or maxBytes bytes; other errors come from br.
func readHeader(br *bufio.Reader, maxFields, maxBytes int) ([]field, error) {
	var (
		fields []field
		buf    []byte // all raw header bytes; fields slice into it
		starts []int  // start of each field in buf
		total  int
	)
	finish := func() []field {
		// Slice fields out of buf only now: buf may move while growing.
		for i := range fields {
			end := len(buf)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			raw := buf[starts[i]:end]
			raw = trimLineEnd(raw)
			fields[i].raw = raw[:len(raw):len(raw)]
		}
		return fields
	}
	for {
		line, err := readLine(br, maxBytes-total)
		total += len(line)
		if len(line) > 0 {
			if isBlankLine(line) {
				return finish(), nil
			}
			if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
				// A continuation line (RFC 5322 section 2.2.3).
				buf = append(buf, line...)
			} else {
				if len(fields) == maxFields {
					return nil, &headerLimitError{fmt.Errorf("%w: more than %d", errTooManyFields, maxFields)}
				}
				starts = append(starts, len(buf))
				buf = append(buf, line...)
				fields = append(fields, fieldHead(line))
			}
		}
		if err == io.EOF {
			return finish(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readLine returns the next line with its line break, at most max bytes
// of it.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == nil || err == io.EOF {
		if len(line) > max {
			return nil, &headerLimitError{errHeaderTooBig}
		}
		return line, err
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	long := append([]byte(nil), line...)
	for {
		if len(long) > max {
			return nil, &headerLimitError{errHeaderTooBig}
		}
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
		if err != bufio.ErrBufferFull {
			if len(long) > max {
				return nil, &headerLimitError{errHeaderTooBig}
			}
			return long, err
		}
	}
}

// fieldHead parses the name of a field from its first line.
func fieldHead(line []byte) field {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return field{colon: -1}
	}
	name := bytes.TrimRight(line[:colon], " \t")
	return field{name: strings.ToLower(string(name)), colon: colon}
}

// isBlankLine reports whether line is the empty line that ends the
// header section.
func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// trimLineEnd removes one trailing CRLF or LF.
func trimLineEnd(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// selectHeaders picks the fields that a signature's h= list names, as RFC
// 6376 section 5.4.2 says: for each name, the last instance not picked
// yet, counting from the bottom of the header; a name with no instance
// left picks nothing. Names must be lower case; empty names pick nothing.
func selectHeaders(fields []field, names []string) []*field {
	picked := make([]*field, 0, len(names))
	var byName map[string][]int // indices of each name's fields, top to bottom
	used := make(map[string]int, len(names))
	for _, name := range names {
		if name == "" {
			continue
		}
		if byName == nil {
			byName = make(map[string][]int)
			for i := range fields {
				byName[fields[i].name] = append(byName[fields[i].name], i)
			}
		}
		idx := byName[name]
		n := used[name]
		used[name] = n + 1
		if n < len(idx) {
			picked = append(picked, &fields[idx[len(idx)-1-n]])
		}
	}
	return picked
}

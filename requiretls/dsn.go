package requiretls

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DSNContent returns what a delivery status notification for a REQUIRETLS
// message may return of it: the header section only, with the empty line
// that ends it, as if the message had RET=HDRS (RFC 8689 section 5; RFC
// 3461 section 4.3). The DSN itself must be sent REQUIRETLS: its
// Envelope goes through a Delivery. It reads at most 1 MiB.
//
// The header section is its fields (RFC 5322 section 2.2: a field name
// of printable ASCII other than ":", then ":"), each with its folded
// lines. A line that is neither, in a malformed message without the
// empty line, is the start of the body, as the TLS-Required scan and
// Exim take it: it and what follows stay out.
func DSNContent(msg io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(msg, maxHeader+1))
	var out []byte
	inField := false
	for {
		start := len(out)
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			out = append(out, chunk...)
			if len(out) > maxHeader {
				return nil, fmt.Errorf("requiretls: header section over %d octets", maxHeader)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("requiretls: reading the header: %w", err)
		}
		line := out[start:]
		switch {
		case string(line) == "\n" || string(line) == "\r\n":
			return out, nil
		case len(line) == 0:
		case line[0] == ' ' || line[0] == '\t':
			if !inField {
				return out[:start], nil
			}
		case isField(line):
			inField = true
		default:
			return out[:start], nil
		}
		if err != nil {
			return out, nil
		}
	}
}

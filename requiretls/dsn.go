package requiretls

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DSNContent returns what a delivery status notification for a REQUIRETLS
// message may return of it: the header section only, with the empty line
// that ends it, as if the message had RET=HDRS (RFC 8689 section 5; RFC
// 3461 section 4.3). The DSN itself must be sent REQUIRETLS: its
// Envelope goes through a Delivery. It reads at most 1 MiB.
func DSNContent(msg io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(msg, maxHeader+1))
	var out bytes.Buffer
	start := true
	for {
		line, err := br.ReadSlice('\n')
		out.Write(line)
		if out.Len() > maxHeader {
			return nil, fmt.Errorf("requiretls: header section over %d octets", maxHeader)
		}
		if start && (string(line) == "\n" || string(line) == "\r\n") {
			return out.Bytes(), nil
		}
		start = err == nil
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return out.Bytes(), nil
		default:
			return nil, fmt.Errorf("requiretls: reading the header: %w", err)
		}
	}
}

package dmarc

import (
	"fmt"

	"github.com/smtpkit/smtpkit/internal/idnaconv"
)

// toASCII turns the U-labels of a domain into A-labels, as a mail receiver
// must to look names up (RFC 5891 section 5), by the conversion smtputf8
// and spf use too (internal/idnaconv: UTS 46 mapping, IDNA2008 code
// points). ASCII names are left as they are.
func toASCII(d string) (string, error) {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idnaconv.ToASCII(d)
			if err != nil {
				return "", fmt.Errorf("IDNA: %w", err)
			}
			return a, nil
		}
	}
	return d, nil
}

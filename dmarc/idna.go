package dmarc

import (
	"fmt"

	"golang.org/x/net/idna"
)

// toASCII turns the U-labels of a domain into A-labels, as a mail receiver
// must to look names up (RFC 5891 section 5), with the UTS 46 mapping of
// golang.org/x/net/idna's lookup profile (lower case, NFC). ASCII names
// are left as they are.
func toASCII(d string) (string, error) {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", fmt.Errorf("IDNA: %w", err)
			}
			return a, nil
		}
	}
	return d, nil
}

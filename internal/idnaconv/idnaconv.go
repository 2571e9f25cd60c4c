// Package idnaconv is the one conversion of domains to A-labels that
// smtputf8, dmarc and spf share: IDNA2008 lookup processing (RFC 5891
// section 5) with the UTS #46 non-transitional mapping and the code point
// rules of RFC 5892, as Exim's libidn2 applies them. "☃.net" is refused
// by all three alike.
package idnaconv

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// acePrefix starts every A-label (RFC 5890 section 2.3.2.1).
const acePrefix = "xn--"

// Profile is IDNA2008 lookup processing (RFC 5891 section 5) with the
// UTS #46 non-transitional mapping, as Exim's libidn2 applies it: case
// folded, NFC, "ß" kept (straße.de is xn--strae-oqa.de), DNS length
// limits (labels of 1 to 63 octets, names up to 253), the Bidi rule (RFC
// 5893), the joiner rules (RFC 5892 appendix A.1, A.2), and only letters,
// digits and hyphens in ASCII labels.
var Profile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.VerifyDNSLength(true),
	idna.BidiRule(),
	idna.CheckJoiners(true),
	idna.CheckHyphens(true),
	idna.StrictDomainName(true),
)

// Map is the profile's conversion after the one mapping in which
// UTS #46 (as golang.org/x/net/idna's Unicode 15.0 tables have it) and
// IDNA2008 part: U+1E9E LATIN CAPITAL LETTER SHARP S, which case folding
// turns into "ss" but lower-casing (RFC 5895 section 2, the mapping
// before IDNA2008) into ß, which is PVALID (RFC 5892 section 2.6). So
// "straẞe.de" is "straße.de", xn--strae-oqa.de, as non-transitional
// processing keeps ß itself apart from "ss".
func Map(domain string) (string, error) {
	return Profile.ToASCII(strings.ReplaceAll(domain, "\u1E9E", "\u00DF"))
}

// ToASCII converts domain to A-labels: a domain of ASCII only is returned
// as it is (no case change, no check); any other must be valid UTF-8, is
// mapped and converted by Profile, and its U-labels must then pass Check.
func ToASCII(domain string) (string, error) {
	ascii := true
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return domain, nil
	}
	if !utf8.ValidString(domain) {
		return "", errors.New("invalid UTF-8")
	}
	a, err := Map(domain)
	if err != nil {
		return "", err
	}
	if err := Check(a); err != nil {
		return "", err
	}
	return a, nil
}

package smtputf8

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/internal/idnaconv"
	"golang.org/x/text/unicode/norm"
)

// Limits of RFC 5321 section 4.5.3.1, in octets (so a UTF-8 local part
// holds fewer than 64 characters).
const (
	MaxLocalPartLength = 64  // section 4.5.3.1.1
	MaxDomainLength    = 255 // section 4.5.3.1.2
	MaxPathLength      = 256 // section 4.5.3.1.3, with the angle brackets
)

var (
	// ErrNeedsSMTPUTF8 is wrapped by CheckAddress's error for a non-ASCII
	// address in a transaction without the SMTPUTF8 parameter.
	ErrNeedsSMTPUTF8 = errors.New("smtputf8: non-ASCII address without SMTPUTF8")
	// ErrAddressSyntax is wrapped by CheckAddress's error for an address
	// that is not an RFC 6531 Mailbox, or not valid UTF-8.
	ErrAddressSyntax = errors.New("smtputf8: bad address syntax")
)

// CheckAddress checks an envelope address, as go-smtp hands it to a
// session (without angle brackets), for a transaction whose MAIL command
// did (smtputf8 true) or did not carry the SMTPUTF8 parameter.
//
// Without SMTPUTF8, a non-ASCII address is an error wrapping
// ErrNeedsSMTPUTF8 (RFC 6531 section 3.5: 553 5.6.7). Otherwise the
// address must be a Mailbox of RFC 5321 section 4.1.2 as RFC 6531 section
// 3.3 extends it: UTF8-non-ascii allowed in atext and qtextSMTP and
// U-labels as sub-domains; the UTF-8 must be well formed (RFC 3629: no
// overlong form, surrogate or value past U+10FFFF) and carry no C1
// control (RFC 6530 section 10.1); U-labels must be valid IDNA2008 (see
// DomainToALabel); and the lengths of RFC 5321 section 4.5.3.1 hold.
// Errors wrap ErrAddressSyntax. The empty null reverse-path is not an
// address: callers handle it first.
func CheckAddress(addr string, smtputf8 bool) error {
	if !smtputf8 && !isASCII(addr) {
		return fmt.Errorf("%w: %q", ErrNeedsSMTPUTF8, addr)
	}
	if err := checkMailbox(addr); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrAddressSyntax, addr, err)
	}
	return nil
}

func checkMailbox(addr string) error {
	if !utf8.ValidString(addr) {
		return errors.New("invalid UTF-8")
	}
	if len(addr)+2 > MaxPathLength {
		return errors.New("path too long")
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return errors.New("no @")
	}
	local, domain := addr[:at], addr[at+1:]
	if err := checkLocalPart(local); err != nil {
		return err
	}
	return checkDomain(domain)
}

func checkLocalPart(local string) error {
	if local == "" {
		return errors.New("empty local part")
	}
	if len(local) > MaxLocalPartLength {
		return errors.New("local part too long")
	}
	if local[0] == '"' {
		return checkQuoted(local)
	}
	// Dot-string = Atom *("." Atom)
	for atom := range strings.SplitSeq(local, ".") {
		if atom == "" {
			return errors.New("empty atom in local part")
		}
		for _, r := range atom {
			if !isAtext(r) {
				return fmt.Errorf("character %q not allowed in an atom", r)
			}
		}
	}
	return nil
}

// isAtext is atext of RFC 5322 section 3.2.3 with UTF8-non-ascii (RFC
// 6531 section 3.3), less the C1 controls.
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r < utf8.RuneSelf:
		return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
	}
	return nonASCIIOK(r)
}

func nonASCIIOK(r rune) bool {
	return r != utf8.RuneError && !(r >= 0x80 && r <= 0x9f)
}

// checkQuoted checks Quoted-string of RFC 5321 section 4.1.2, with
// UTF8-non-ascii in qtextSMTP (RFC 6531 section 3.3).
func checkQuoted(q string) error {
	if len(q) < 2 || q[len(q)-1] != '"' {
		return errors.New("unterminated quoted string")
	}
	body := q[1 : len(q)-1]
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRuneInString(body[i:])
		switch {
		case r == '\\':
			// quoted-pairSMTP = %d92 %d32-126
			if i+1 >= len(body) || body[i+1] < 32 || body[i+1] > 126 {
				return errors.New("bad quoted pair")
			}
			i += 2
			continue
		case r == '"':
			return errors.New("unescaped quote")
		case r < utf8.RuneSelf:
			// qtextSMTP = %d32-33 / %d35-91 / %d93-126
			if r < 32 || r > 126 {
				return fmt.Errorf("character %q not allowed in a quoted string", r)
			}
		default:
			if !nonASCIIOK(r) {
				return fmt.Errorf("character %q not allowed in a quoted string", r)
			}
		}
		i += n
	}
	return nil
}

// checkDomain checks Domain or address-literal (RFC 5321 section 4.1.2,
// 4.1.3), with U-labels (RFC 6531 section 3.3).
func checkDomain(domain string) error {
	if domain == "" {
		return errors.New("empty domain")
	}
	if len(domain) > MaxDomainLength {
		return errors.New("domain too long")
	}
	if domain[0] == '[' {
		return checkLiteral(domain)
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return errors.New("empty domain label")
		}
		if !isASCII(label) {
			continue // checked below, with the whole domain
		}
		// sub-domain = Let-dig [Ldh-str]
		for i := 0; i < len(label); i++ {
			c := label[i]
			letDig := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
			if !letDig && (c != '-' || i == 0 || i == len(label)-1) {
				return fmt.Errorf("bad domain label %q", label)
			}
		}
	}
	if !isASCII(domain) {
		if _, err := DomainToALabel(domain); err != nil {
			return err
		}
	}
	return nil
}

// checkLiteral checks address-literal (RFC 5321 section 4.1.3).
func checkLiteral(lit string) error {
	if len(lit) < 3 || lit[len(lit)-1] != ']' {
		return errors.New("bad address literal")
	}
	body := lit[1 : len(lit)-1]
	if v6, ok := strings.CutPrefix(body, "IPv6:"); ok {
		if a, err := netip.ParseAddr(v6); err != nil || !a.Is6() || a.Zone() != "" {
			return errors.New("bad IPv6 address literal")
		}
		return nil
	}
	if tag, content, ok := strings.Cut(body, ":"); ok {
		// General-address-literal = Standardized-tag ":" 1*dcontent
		// Standardized-tag = Ldh-str
		if tag == "" || content == "" || strings.HasSuffix(tag, "-") {
			return errors.New("bad address literal")
		}
		for i := 0; i < len(tag); i++ {
			c := tag[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("bad address literal tag")
			}
		}
		for i := 0; i < len(content); i++ {
			if c := content[i]; c < 33 || c > 126 || c == '[' || c == '\\' || c == ']' {
				return errors.New("bad address literal")
			}
		}
		return nil
	}
	if a, err := netip.ParseAddr(body); err != nil || !a.Is4() {
		return errors.New("bad IPv4 address literal")
	}
	return nil
}

// Key returns the form of addr to compare or index by, leaving addr as it
// is: the local part in NFC (RFC 6530 section 10.1 asks that addresses be
// compared normalised, and RFC 6531 section 3.3 that they not be altered
// in transit; case is kept, RFC 5321 section 2.4), "@", and the domain as
// lower-case A-labels (so "Bücher.example", "bücher.EXAMPLE" and
// "xn--bcher-kva.example" are one domain). A domain that does not convert
// is lower-cased and put in NFC instead.
func Key(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return norm.NFC.String(addr)
	}
	local, domain := norm.NFC.String(addr[:at]), addr[at+1:]
	if !isASCII(domain) || hasALabel(domain) {
		if a, err := idnaconv.Map(domain); err == nil {
			domain = a
		} else {
			domain = norm.NFC.String(domain)
		}
	}
	return local + "@" + strings.ToLower(domain)
}

// Equal reports whether a and b name the same mailbox: Key(a) == Key(b).
func Equal(a, b string) bool { return Key(a) == Key(b) }

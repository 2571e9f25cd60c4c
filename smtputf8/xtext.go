package smtputf8

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrXtext is wrapped by DecodeXtext's errors.
var ErrXtext = errors.New("smtputf8: bad utf-8-addr-xtext")

// isQCHAR is QCHAR of RFC 6533 section 3: printable ASCII but "+", "="
// and "\".
func isQCHAR(c rune) bool {
	return c >= 0x21 && c <= 0x7e && c != '+' && c != '=' && c != '\\'
}

// EncodeXtext encodes addr as utf-8-addr-xtext (RFC 6533 section 3): every
// QCHAR as itself, anything else (a non-ASCII character, "+", "=", "\",
// a space) as EmbeddedUnicodeChar "\x{HEXPOINT}", upper-case hexadecimal
// without leading zeros, at least two digits. The result is ASCII: the
// form for the ORCPT parameter to a server without SMTPUTF8 and for the
// address fields of a message/delivery-status part.
func EncodeXtext(addr string) string { return encodeX(addr, false) }

// EncodeUnitext encodes addr as utf-8-addr-unitext (RFC 6533 section 3):
// as EncodeXtext, but non-ASCII characters stay as they are (QUCHAR): the
// form for ORCPT with SMTPUTF8 and for message/global-delivery-status.
func EncodeUnitext(addr string) string { return encodeX(addr, true) }

func encodeX(addr string, unitext bool) string {
	var b strings.Builder
	b.Grow(len(addr))
	for _, r := range addr {
		if isQCHAR(r) || (unitext && r >= utf8.RuneSelf && r != utf8.RuneError) {
			b.WriteRune(r)
			continue
		}
		fmt.Fprintf(&b, `\x{%02X}`, r)
	}
	return b.String()
}

// DecodeXtext decodes utf-8-addr-xtext or utf-8-addr-unitext (RFC 6533
// section 3), as found in ORCPT and in DSN address fields after "utf-8;".
// It refuses what the grammar does not allow: a raw "+", "=", space or
// control, a "\" that does not start "\x{" with 1 to 6 hexadecimal digits
// and "}", a code point that is a surrogate, zero or past U+10FFFF, and
// invalid UTF-8.
func DecodeXtext(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: invalid UTF-8", ErrXtext)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\\':
			rest := s[i:]
			if !strings.HasPrefix(rest, `\x{`) {
				return "", fmt.Errorf("%w: \"\\\" not followed by \"x{\"", ErrXtext)
			}
			end := strings.IndexByte(rest, '}')
			if end < 4 || end > 9 {
				return "", fmt.Errorf("%w: bad EmbeddedUnicodeChar", ErrXtext)
			}
			hex := rest[3:end]
			v, err := strconv.ParseUint(hex, 16, 32)
			if err != nil || hex[0] == '+' || hex[0] == '-' {
				return "", fmt.Errorf("%w: bad HEXPOINT %q", ErrXtext, hex)
			}
			if v == 0 || v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
				return "", fmt.Errorf("%w: HEXPOINT %q out of range", ErrXtext, hex)
			}
			b.WriteRune(rune(v))
			i += end + 1
			continue
		case isQCHAR(r), r >= utf8.RuneSelf:
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("%w: character %q must be encoded", ErrXtext, r)
		}
		i += n
	}
	return b.String(), nil
}

// DSNAddress returns addr as an address field of a delivery status
// notification (Original-Recipient, Final-Recipient: RFC 3464 section
// 2.3.1, 2.3.2): "rfc822;" and the address when it is ASCII, otherwise
// the "utf-8" address type of RFC 6533 section 3 with utf-8-addr-xtext,
// or, when global is true (a message/global-delivery-status part, the
// DSN type RFC 6533 defines), with utf-8-addr-unitext.
func DSNAddress(addr string, global bool) string {
	if isASCII(addr) {
		return "rfc822;" + addr
	}
	if global {
		return "utf-8;" + EncodeUnitext(addr)
	}
	return "utf-8;" + EncodeXtext(addr)
}

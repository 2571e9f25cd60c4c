package smtputf8

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/internal/idnaconv"
)

// ACEPrefix starts an A-label (RFC 5890 section 2.3.2.5), and the
// converted form of a local part in Exim's utf8_localpart_to_alabel.
const ACEPrefix = "xn--"

// MaxConvertLength bounds the input of the conversions, in octets: four
// times the 255 octets of a domain (RFC 5321 section 4.5.3.1.2), far above
// the 64 octets of a local part (section 4.5.3.1.1), so that hostile input
// costs little (Punycode is quadratic).
const MaxConvertLength = 1024

// ErrConversion is wrapped by every error of the conversions.
var ErrConversion = errors.New("smtputf8: conversion failed")

func convErr(op, s string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s %q", ErrConversion, op, s)
	}
	return fmt.Errorf("%w: %s %q: %w", ErrConversion, op, s, err)
}

// DomainToALabel converts a domain to the form DNS lookups use, as Exim's
// ${utf8_domain_to_alabel:...}: a domain of ASCII only is returned as it
// is (no case change, no check: "_25._tcp" names stay untouched); any
// other is processed as IDNA2008 lookup with the UTS #46 non-transitional
// mapping (upper case folded, NFC applied: "Bücher.EXAMPLE" gives
// "xn--bcher-kva.example", "straße.de" and "straẞe.de" "xn--strae-oqa.de"),
// and must then pass the strict checks: DNS lengths, no empty label, the
// Bidi and joiner rules, and the code points IDNA2008 allows (RFC 5892
// section 3: letters, marks and digits, but no symbols, so "☃.net" fails
// as in Exim, and none of the old Hangul jamo or the marks of the
// symbol and musical blocks). A trailing dot is kept.
func DomainToALabel(domain string) (string, error) {
	if isASCII(domain) {
		return domain, nil
	}
	if len(domain) > MaxConvertLength {
		return "", convErr("domain to A-label", domain[:32]+"...", errors.New("too long"))
	}
	if !utf8.ValidString(domain) {
		return "", convErr("domain to A-label", domain, errors.New("invalid UTF-8"))
	}
	a, err := idnaconv.ToASCII(domain)
	if err != nil {
		return "", convErr("domain to A-label", domain, err)
	}
	return a, nil
}

// DomainFromALabel converts a domain back to U-labels, as Exim's
// ${utf8_domain_from_alabel:...}: a domain without any A-label is
// returned as it is; otherwise every label is checked as DomainToALabel
// checks, lower-cased (Exim leaves an upper-case "XN--" label alone; this
// decodes it) and A-labels decoded.
func DomainFromALabel(domain string) (string, error) {
	if !hasALabel(domain) {
		return domain, nil
	}
	if len(domain) > MaxConvertLength {
		return "", convErr("domain from A-label", domain[:32]+"...", errors.New("too long"))
	}
	u, err := idnaconv.Profile.ToUnicode(domain)
	if err != nil {
		return "", convErr("domain from A-label", domain, err)
	}
	a, err := idnaconv.Map(u)
	if err != nil {
		return "", convErr("domain from A-label", domain, err)
	}
	if err := idnaconv.Check(a); err != nil {
		return "", convErr("domain from A-label", domain, err)
	}
	return u, nil
}

// hasALabel reports whether a label of domain starts with the ACE prefix,
// in any case.
func hasALabel(domain string) bool {
	for label := range strings.SplitSeq(domain, ".") {
		if len(label) >= 4 && strings.EqualFold(label[:4], ACEPrefix) {
			return true
		}
	}
	return false
}

// LocalPartToALabel converts a local part as Exim's
// ${utf8_localpart_to_alabel:...}: one of ASCII only is returned as it
// is; any other becomes "xn--" followed by the RFC 3492 Punycode encoding
// of the whole local part, dots included, case kept ("ل" gives "xn--ghb",
// "Jörg.Müller" "xn--Jrg.Mller-07a4e"). The input must be valid UTF-8.
//
// The result is not a valid A-label and need not be a valid local part:
// it is a stable ASCII name for the mailbox (a Maildir folder, a log key),
// not something to send in an envelope.
func LocalPartToALabel(local string) (string, error) {
	if isASCII(local) {
		return local, nil
	}
	if len(local) > MaxConvertLength {
		return "", convErr("local part to A-label", local[:32]+"...", errors.New("too long"))
	}
	if !utf8.ValidString(local) {
		return "", convErr("local part to A-label", local, errors.New("invalid UTF-8"))
	}
	p, err := punyEncode(local)
	if err != nil {
		return "", convErr("local part to A-label", local, err)
	}
	return ACEPrefix + p, nil
}

// LocalPartFromALabel reverses LocalPartToALabel, as Exim's
// ${utf8_localpart_from_alabel:...}: the input must start with "xn--",
// in lower case (Exim: "bad alabel prefix" otherwise), and the rest is
// decoded as RFC 3492 Punycode, dots included ("xn--ghb" gives "ل").
// Decoding is strict: only base-36 digits after the last "-", no basic
// code point encoded as a delta, no surrogate or value past U+10FFFF.
func LocalPartFromALabel(alabel string) (string, error) {
	if !strings.HasPrefix(alabel, ACEPrefix) {
		return "", convErr("local part from A-label", alabel, errors.New("bad A-label prefix"))
	}
	if len(alabel) > MaxConvertLength {
		return "", convErr("local part from A-label", alabel[:32]+"...", errors.New("too long"))
	}
	u, err := punyDecode(alabel[len(ACEPrefix):])
	if err != nil {
		return "", convErr("local part from A-label", alabel, err)
	}
	return u, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrSyntax is wrapped by the error of a check whose record, or a record
// it includes or redirects to, does not follow the ABNF of RFC 7208
// section 12; the result is permerror (section 4.6), even when a term
// before the error already matched.
var ErrSyntax = errors.New("syntax error in SPF record")

// maxRecordTerms bounds the terms of one record. A TXT answer is at most
// 64 KiB, so this is only a guard against a record made of tiny terms.
const maxRecordTerms = 1 << 12

// mechKind is one of the mechanisms of RFC 7208 section 5.
type mechKind int

const (
	mechAll mechKind = iota
	mechInclude
	mechA
	mechMX
	mechPTR
	mechIP4
	mechIP6
	mechExists
)

// mechanism is one directive of a record (RFC 7208 section 4.6.1).
type mechanism struct {
	qualifier Result   // pass, fail, softfail or neutral (section 4.6.2)
	kind      mechKind // which mechanism
	text      string   // the term as written, without its qualifier
	domain    string   // the domain-spec, unexpanded; "" for <domain>
	prefix    netip.Prefix
	cidr4     int // a and mx: the ip4-cidr-length, 32 when absent
	cidr6     int // a and mx: the ip6-cidr-length, 128 when absent
}

// counts reports whether the mechanism counts against the lookup limit
// of RFC 7208 section 4.6.4.
func (m *mechanism) counts() bool {
	switch m.kind {
	case mechInclude, mechA, mechMX, mechPTR, mechExists:
		return true
	}
	return false
}

// record is a parsed SPF record (RFC 7208 section 4.5 and section 12).
type record struct {
	mechanisms []mechanism
	redirect   string // the redirect= domain-spec, "" when absent
	exp        string // the exp= domain-spec, "" when absent
}

// isSPFRecord reports whether a TXT string is an SPF version 1 record:
// exactly "v=spf1", or "v=spf1" then a space (RFC 7208 section 4.5). The
// version is compared without case, as the ABNF of section 12 is.
func isSPFRecord(t string) bool {
	return len(t) >= 6 && strings.EqualFold(t[:6], "v=spf1") && (len(t) == 6 || t[6] == ' ')
}

// parseRecord parses an SPF record against the ABNF of RFC 7208 section
// 12, entirely: a syntax error anywhere makes the record unusable
// (section 4.6), so nothing is evaluated before the whole record parses.
func parseRecord(s string) (*record, error) {
	if !isSPFRecord(s) {
		return nil, fmt.Errorf("%w: no v=spf1 version", ErrSyntax)
	}
	r := &record{}
	// record = version terms *SP; terms = *( 1*SP ( directive / modifier ) )
	// Only SP separates terms: a tab or any other control character
	// is part of a term and makes it invalid.
	n := 0
	for term := range strings.SplitSeq(s[6:], " ") {
		if term == "" {
			continue
		}
		if n++; n > maxRecordTerms {
			return nil, fmt.Errorf("%w: more than %d terms", ErrSyntax, maxRecordTerms)
		}
		name, val, isModifier := splitModifier(term)
		if isModifier {
			// Section 6: redirect and exp at most once each; their
			// values are domain-specs (section 6.1 and section 6.2),
			// which an empty value is not.
			lower := strings.ToLower(name)
			switch lower {
			case "redirect", "exp":
				value := &r.redirect
				if lower == "exp" {
					value = &r.exp
				}
				if *value != "" {
					return nil, fmt.Errorf("%w: %s= twice", ErrSyntax, lower)
				}
				if err := checkDomainSpec(val); err != nil {
					return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, term, err)
				}
				*value = val
			default:
				// unknown-modifier = name "=" macro-string; its value
				// is never expanded, but must be a valid macro-string
				// (section 6, Appendix A).
				if err := checkMacroString(val, false); err != nil {
					return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, term, err)
				}
			}
			continue
		}
		m, err := parseMechanism(term)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, term, err)
		}
		r.mechanisms = append(r.mechanisms, m)
	}
	return r, nil
}

// splitModifier splits term at its "=" if it is a modifier: name "="
// value, with name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) (RFC 7208
// section 12). A term whose first character out of that set is not "="
// is a directive.
func splitModifier(term string) (name, value string, ok bool) {
	i := 0
	for i < len(term) && (isAlpha(term[i]) || i > 0 && (isDigit(term[i]) || term[i] == '-' || term[i] == '_' || term[i] == '.')) {
		i++
	}
	if i == 0 || i == len(term) || term[i] != '=' {
		return "", "", false
	}
	return term[:i], term[i+1:], true
}

// parseMechanism parses a directive: [ qualifier ] mechanism (RFC 7208
// section 4.6.1 and section 5).
func parseMechanism(term string) (mechanism, error) {
	m := mechanism{qualifier: Pass, cidr4: 32, cidr6: 128}
	switch term[0] {
	case '+':
		m.qualifier, term = Pass, term[1:]
	case '-':
		m.qualifier, term = Fail, term[1:]
	case '~':
		m.qualifier, term = SoftFail, term[1:]
	case '?':
		m.qualifier, term = Neutral, term[1:]
	}
	m.text = term
	end := strings.IndexAny(term, ":/")
	if end < 0 {
		end = len(term)
	}
	name, rest := strings.ToLower(term[:end]), term[end:]
	switch name {
	case "all":
		m.kind = mechAll
		if rest != "" {
			return m, errors.New("all takes no arguments")
		}
	case "include", "exists":
		m.kind = mechInclude
		if name == "exists" {
			m.kind = mechExists
		}
		// include = "include" ":" domain-spec; exists likewise.
		if !strings.HasPrefix(rest, ":") {
			return m, fmt.Errorf("%s needs a domain-spec", name)
		}
		m.domain = rest[1:]
		if err := checkDomainSpec(m.domain); err != nil {
			return m, err
		}
	case "a", "mx":
		m.kind = mechA
		if name == "mx" {
			m.kind = mechMX
		}
		// a = "a" [ ":" domain-spec ] [ dual-cidr-length ]. A domain-spec
		// never ends in "/" DIGITs (its domain-end is a toplabel or a
		// macro-expand), so the CIDR lengths are taken from the right,
		// and a ":" or "/" before them is part of the domain-spec.
		var err error
		rest, m.cidr4, m.cidr6, err = cutDualCIDR(rest)
		if err != nil {
			return m, err
		}
		if rest != "" {
			if rest[0] != ':' {
				return m, fmt.Errorf("unexpected %q after %s", rest, name)
			}
			m.domain = rest[1:]
			if err := checkDomainSpec(m.domain); err != nil {
				return m, err
			}
		}
	case "ptr":
		m.kind = mechPTR
		if rest != "" {
			if rest[0] != ':' {
				return m, fmt.Errorf("unexpected %q after ptr", rest)
			}
			m.domain = rest[1:]
			if err := checkDomainSpec(m.domain); err != nil {
				return m, err
			}
		}
	case "ip4", "ip6":
		m.kind = mechIP4
		bits := 32
		if name == "ip6" {
			m.kind, bits = mechIP6, 128
		}
		if !strings.HasPrefix(rest, ":") {
			return m, fmt.Errorf("%s needs a network", name)
		}
		network := rest[1:]
		length := bits
		if i := strings.IndexByte(network, '/'); i >= 0 {
			var ok bool
			if length, ok = cidrLength(network[i+1:], bits); !ok {
				return m, fmt.Errorf("bad CIDR length in %s", term)
			}
			network = network[:i]
		}
		// ip4-network = qnum "." qnum "." qnum "." qnum, without leading
		// zeros, which netip.ParseAddr refuses too; ip6-network is the
		// text form of RFC 4291 section 2.2, without a zone.
		ip, err := netip.ParseAddr(network)
		if err != nil || ip.Zone() != "" || (name == "ip4") != ip.Is4() {
			return m, fmt.Errorf("bad %s network %q", name, network)
		}
		m.prefix = netip.PrefixFrom(ip, length).Masked()
	default:
		return m, fmt.Errorf("unknown mechanism %q", name)
	}
	return m, nil
}

// cutDualCIDR takes a dual-cidr-length = [ ip4-cidr-length ] [ "/"
// ip6-cidr-length ] off the end of s (RFC 7208 section 5.6).
func cutDualCIDR(s string) (rest string, cidr4, cidr6 int, err error) {
	cidr4, cidr6 = 32, 128
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) {
		var ok bool
		if cidr6, ok = cidrLength(s[i+2:], 128); !ok {
			return "", 0, 0, fmt.Errorf("bad ip6-cidr-length %q", s[i+2:])
		}
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && allDigits(s[i+1:]) {
		var ok bool
		if cidr4, ok = cidrLength(s[i+1:], 32); !ok {
			return "", 0, 0, fmt.Errorf("bad ip4-cidr-length %q", s[i+1:])
		}
		s = s[:i]
	}
	return s, cidr4, cidr6, nil
}

// cidrLength parses "0" / %x31-39 *DIGIT up to max (RFC 7208 section 12):
// no leading zeros.
func cidrLength(s string, max int) (int, bool) {
	if s == "" || len(s) > 3 || !allDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= max
}

// checkDomainSpec checks domain-spec = macro-string domain-end, with
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 section
// 7.1), and the macro letters a domain-spec may use (section 7.2: not c,
// r or t). The literal part must also make a usable name (section 4.3
// and section 4.8): no empty label (two dots in a row, or a leading
// dot) and no label over 63 octets.
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain-spec")
	}
	if err := checkMacroString(s, false); err != nil {
		return err
	}
	if !strings.HasSuffix(macroSkeleton(s), "%") {
		d := strings.TrimSuffix(s, ".")
		i := strings.LastIndexByte(d, '.')
		if i < 0 {
			return fmt.Errorf("domain-spec %q is a single label", s)
		}
		if !isTopLabel(d[i+1:]) {
			return fmt.Errorf("domain-spec %q does not end in a valid toplabel", s)
		}
	}
	// Labels of literal text only: a macro may expand to anything.
	for label := range strings.SplitSeq(strings.TrimSuffix(macroSkeleton(s), "."), ".") {
		if strings.IndexByte(label, '%') >= 0 {
			continue
		}
		if label == "" {
			return fmt.Errorf("empty label in domain-spec %q", s)
		}
		if len(label) > 63 {
			return fmt.Errorf("label longer than 63 octets in domain-spec %q", s)
		}
	}
	return nil
}

// macroSkeleton replaces each macro-expand of the macro-string s
// (already checked) with a single "%", so that the dots of delimiters
// are not taken for label separators.
func macroSkeleton(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == '{' {
			i += strings.IndexByte(s[i:], '}')
		}
		b.WriteByte('%')
	}
	return b.String()
}

// isTopLabel reports whether s is a toplabel (RFC 7208 section 7.1):
// ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" )
// alphanum ). That is letters, digits and inner hyphens, not all digits,
// neither starting nor ending with a hyphen.
func isTopLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	letter, hyphen := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isAlpha(c):
			letter = true
		case isDigit(c):
		case c == '-':
			hyphen = true
		default:
			return false
		}
	}
	return letter || hyphen
}

// checkMacroString checks the syntax of a macro-string (or, with explain,
// an explain-string) of RFC 7208 section 7.1 without expanding it.
func checkMacroString(s string, explain bool) error {
	_, err := expandMacros(s, &macroEnv{}, explain)
	return err
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

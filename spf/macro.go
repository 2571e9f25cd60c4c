package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// maxDomainLen is the longest expanded domain-spec used in a query: RFC
// 7208 section 7.3 has the left side truncated, label by label, to fit.
const maxDomainLen = 253

// maxMacroParts caps a DIGIT transformer (RFC 7208 section 7.3), so that a
// record cannot make the parser count to a huge number; no value has more
// parts than this.
const maxMacroParts = 1 << 12

// ErrMacro is wrapped by errors from macro expansion: a macro-string that
// does not follow RFC 7208 section 7.1.
var ErrMacro = errors.New("invalid macro")

// macroEnv holds the values of the macro letters of RFC 7208 section 7.2
// for one check_host() call.
type macroEnv struct {
	sender   string     // s: <sender>
	local    string     // l: local-part of <sender>
	origin   string     // o: domain of <sender>
	domain   string     // d: <domain>, the current domain
	ip       netip.Addr // i, c, v: <ip>, unmapped
	helo     string     // h: HELO/EHLO domain
	receiver string     // r: the receiving host, or "unknown"
	now      time.Time  // t: the current time

	// ptr returns the validated domain name of ip (p), or "unknown". It
	// is only called if a macro asks for it, since it costs lookups.
	ptr func() string
}

// maxExplainLen bounds the expansion of an explain-string: the text is
// cut to maxCommentLen for the reply anyway (explain.go), so the rest is
// checked for syntax but not built.
const maxExplainLen = 4 * maxCommentLen

// keepDomainLen is how much of the right end of an expanding domain-spec
// is kept: truncation (RFC 7208 section 7.3) only ever keeps the
// rightmost maxDomainLen octets and a trailing dot, and the label
// boundary before them, so the text left of these can be dropped as the
// expansion goes, which bounds its memory whatever the record repeats.
const keepDomainLen = 2 * maxDomainLen

// expandMacros expands the macro-string s of RFC 7208 section 7.1. With
// explain set it is an explain-string (section 6.2): spaces are allowed and
// so are the macro letters c, r and t (section 7.2), and the text is cut
// after maxExplainLen octets; otherwise it is a domain-spec, and the result
// is truncated to maxDomainLen (section 7.3). The whole of s is checked
// either way.
func expandMacros(s string, env *macroEnv, explain bool) (string, error) {
	var b []byte
	// A macro-expand repeated in s expands once: the values do not
	// change during one expansion.
	var seen map[string]string
	write := func(v string) {
		switch {
		case explain:
			if room := maxExplainLen - len(b); room > 0 {
				b = append(b, v[:min(len(v), room)]...)
			}
		case len(v) > keepDomainLen:
			b = append(b[:0], v[len(v)-keepDomainLen:]...)
		default:
			b = append(b, v...)
			if len(b) > 2*keepDomainLen {
				n := copy(b, b[len(b)-keepDomainLen:])
				b = b[:n]
			}
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+1 == len(s) {
				return "", fmt.Errorf("%w: %q ends in %%", ErrMacro, s)
			}
			i++
			switch s[i] {
			case '%':
				write("%")
			case '_':
				write(" ")
			case '-':
				write("%20")
			case '{':
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return "", fmt.Errorf("%w: unterminated %%{ in %q", ErrMacro, s)
				}
				body := s[i+1 : i+end]
				v, ok := seen[body]
				if !ok {
					var err error
					if v, err = expandOne(body, env, explain); err != nil {
						return "", err
					}
					if seen == nil {
						seen = make(map[string]string)
					}
					seen[body] = v
				}
				write(v)
				i += end
			default:
				return "", fmt.Errorf("%w: %%%c in %q", ErrMacro, s[i], s)
			}
		case c == ' ' && explain, 0x21 <= c && c <= 0x7e:
			// macro-literal: %x21-24 / %x26-7E; "%" was handled above.
			write(s[i : i+1])
		default:
			return "", fmt.Errorf("%w: character %q in %q", ErrMacro, c, s)
		}
	}
	out := string(b)
	if !explain {
		out = truncateDomain(out)
	}
	return out, nil
}

// expandOne expands the inside of one "%{...}": macro-letter transformers
// *delimiter (RFC 7208 section 7.1), as section 7.3 says.
func expandOne(m string, env *macroEnv, explain bool) (string, error) {
	if m == "" {
		return "", fmt.Errorf("%w: empty %%{}", ErrMacro)
	}
	letter := m[0]
	upper := 'A' <= letter && letter <= 'Z'
	if upper {
		letter += 'a' - 'A'
	}
	var value string
	switch letter {
	case 's':
		value = env.sender
	case 'l':
		value = env.local
	case 'o':
		value = env.origin
	case 'd':
		value = env.domain
	case 'i':
		value = dotIP(env.ip)
	case 'p':
		value = "unknown"
		if env.ptr != nil {
			value = env.ptr()
		}
	case 'v':
		value = "in-addr"
		if env.ip.Is6() {
			value = "ip6"
		}
	case 'h':
		value = env.helo
	case 'c', 'r', 't':
		// Section 7.2: these three only in "exp" text.
		if !explain {
			return "", fmt.Errorf("%w: %%{%c} outside an explanation", ErrMacro, letter)
		}
		switch letter {
		case 'c':
			value = env.ip.String()
		case 'r':
			value = env.receiver
			if value == "" {
				value = "unknown"
			}
		case 't':
			value = strconv.FormatInt(env.now.Unix(), 10)
		}
	default:
		return "", fmt.Errorf("%w: macro letter %q", ErrMacro, m[0])
	}

	// transformers = *DIGIT [ "r" ]
	rest := m[1:]
	keep := 0 // all parts
	n := 0
	for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
		if keep < maxMacroParts {
			keep = keep*10 + int(rest[n]-'0')
		}
		n++
	}
	if n > 0 && keep == 0 {
		// Section 7.3: a DIGIT transformer must be nonzero.
		return "", fmt.Errorf("%w: zero DIGIT transformer in %%{%s}", ErrMacro, m)
	}
	rest = rest[n:]
	reverse := false
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		reverse = true
		rest = rest[1:]
	}
	// *delimiter; "." is the default (section 7.3).
	delims := "."
	if rest != "" {
		if strings.Trim(rest, ".-+,/_=") != "" {
			return "", fmt.Errorf("%w: bad delimiter in %%{%s}", ErrMacro, m)
		}
		delims = rest
	}

	if n > 0 || reverse || delims != "." {
		parts := splitAny(value, delims)
		if reverse {
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
		if n > 0 && keep < len(parts) {
			parts = parts[len(parts)-keep:]
		}
		value = strings.Join(parts, ".")
	}
	if upper {
		value = urlEscape(value)
	}
	return value, nil
}

// splitAny splits s at every byte that is in delims.
func splitAny(s, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// dotIP is the "i" macro (RFC 7208 section 7.3): dotted decimal for IPv4,
// dot-separated nibbles for IPv6.
func dotIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	b := make([]byte, 0, 63)
	for i, x := range a {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[x>>4], '.', hex[x&0xf])
	}
	return string(b)
}

// urlEscape escapes what is not "unreserved" in RFC 3986 section 2.3, as
// RFC 7208 section 7.3 asks of uppercase macro letters.
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
	}
	return b.String()
}

// truncateDomain removes labels from the left of an expanded domain-spec
// until it is no longer than maxDomainLen (RFC 7208 section 7.3). A
// trailing dot (domain-end = "." toplabel ".") is not counted, as the
// 253 octets of a name are without it.
func truncateDomain(d string) string {
	dot := strings.HasSuffix(d, ".")
	if dot {
		d = d[:len(d)-1]
	}
	for len(d) > maxDomainLen {
		i := strings.IndexByte(d, '.')
		if i < 0 {
			d = d[len(d)-maxDomainLen:]
			break
		}
		d = d[i+1:]
	}
	if dot {
		d += "."
	}
	return d
}

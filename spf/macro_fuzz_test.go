package spf

import (
	"strings"
)

// referenceExpand expands s the plain way, building all of it before
// truncating (RFC 7208 section 7.3) or cutting an explanation, with the
// same macro values as expandMacros. It gives "", false where s is not
// a macro-string.
func referenceExpand(s string, env *macroEnv, explain bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+1 < len(s) && s[i+1] == '%':
			b.WriteByte('%')
			i++
		case c == '%' && i+1 < len(s) && s[i+1] == '_':
			b.WriteByte(' ')
			i++
		case c == '%' && i+1 < len(s) && s[i+1] == '-':
			b.WriteString("%20")
			i++
		case c == '%' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", false
			}
			v, err := expandOne(s[i+2:i+end], env, explain)
			if err != nil {
				return "", false
			}
			b.WriteString(v)
			i += end
		case c == ' ' && explain, 0x21 <= c && c <= 0x7e && c != '%':
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	out := b.String()
	if explain {
		return out[:min(len(out), maxExplainLen)], true
	}
	return truncateDomain(out), true
}

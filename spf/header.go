package spf

import (
	"strings"
	"unicode/utf8"
)

// maxHeaderLine is the line length headers are folded to (RFC 5322
// section 2.1.1: lines SHOULD be no longer than 78 characters).
const maxHeaderLine = 78

// receivedSPF renders the Received-SPF header field of RFC 7208 section
// 9.1, or X-SPF-Guess for a best-guess outcome (Exim's name):
//
//	Received-SPF: pass (comment) client-ip=192.0.2.1;
//		envelope-from="a@example.com"; helo=mail.example.com;
//		receiver=mx.example.org; identity=mailfrom; mechanism="ip4:192.0.2.1";
func receivedSPF(o *Outcome) string {
	name := "Received-SPF:"
	if o.Guessed {
		name = "X-SPF-Guess:"
	}
	words := []string{string(o.Result)}
	comment := strings.Fields(commentText(o.HeaderComment))
	if len(comment) > 0 {
		comment[0] = "(" + comment[0]
		comment[len(comment)-1] += ")"
		words = append(words, comment...)
	}
	kv := func(key, value string) {
		words = append(words, key+"="+headerValue(value)+";")
	}
	if o.IP.IsValid() {
		kv("client-ip", o.IP.String())
	}
	if o.Identity == MailFrom && o.Sender != "" {
		kv("envelope-from", o.Sender)
	}
	if o.HELO != "" {
		kv("helo", o.HELO)
	}
	if o.Receiver != "" {
		kv("receiver", o.Receiver)
	}
	kv("identity", string(o.Identity))
	if o.Mechanism != "" {
		kv("mechanism", o.Mechanism)
	}
	if o.problem != "" {
		kv("problem", o.problem)
	}
	return fold(name, words)
}

// fold joins words after the field name with spaces, breaking the line
// with CRLF TAB (folding white space, RFC 5322 section 3.2.2) before a
// word that would take it past maxHeaderLine. A word longer than a line
// gets one to itself.
func fold(name string, words []string) string {
	var b strings.Builder
	b.WriteString(name)
	line := len(name)
	for _, w := range words {
		n := utf8.RuneCountInString(w)
		if line+1+n > maxHeaderLine && line > len(name) {
			b.WriteString("\r\n\t")
			line = 1
		} else {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += n
	}
	return b.String()
}

// commentText makes s fit a comment (RFC 5322 section 3.2.2): parentheses
// and backslashes are quoted, controls and invalid UTF-8 replaced.
func commentText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "?") {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < ' ' || r == 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headerValue renders a key-value-pair value (RFC 7208 section 9.1):
// a dot-atom as it is, anything else as a quoted-string (RFC 5322
// section 3.2.4), with controls replaced.
func headerValue(v string) string {
	if isDotAtom(v) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(v, "?") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < ' ' || r == 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isDotAtom reports whether s is a dot-atom-text (RFC 5322 section 3.2.3).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

package arc

import (
	"errors"
	"fmt"
	"strings"
)

// A tag is one tag=value pair of a tag list (RFC 6376 section 3.2), the
// syntax of ARC-Seal, ARC-Message-Signature and DKIM key records. The
// value keeps any folding white space inside it; the white space around
// it is gone.
type tag struct {
	name  string
	value string
}

// A tagList is a parsed tag list, in the order written.
type tagList []tag

// Errors of parseTags, wrapped with the position.
var (
	errEmptyTagSpec = errors.New("empty tag-spec")
	errTagName      = errors.New("bad tag name")
	errTagNoEquals  = errors.New(`tag without "="`)
	errTagValue     = errors.New("bad character in tag value")
	errTagDuplicate = errors.New("duplicate tag")
)

// parseTags parses a tag list (RFC 6376 section 3.2):
//
//	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  =  ALPHA *ALNUMPUNC
//	tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//	tval      =  1*VALCHAR
//
// Tag names are case-sensitive. A tag named twice makes the whole list
// invalid (section 3.2: "if a tag name does occur more than once, the
// entire tag-list is invalid"), and so does an empty tag-spec such as
// the one between ";;". One trailing ";" is allowed. Bytes above 0x7e are
// accepted in values (RFC 8616 allows UTF-8 in some of them).
func parseTags(s string) (tagList, error) {
	var l tagList
	var seen map[string]bool
	i := skipFWS(s, 0)
	if i == len(s) {
		return l, nil
	}
	for {
		// tag-name
		start := i
		if i < len(s) && isAlpha(s[i]) {
			i++
			for i < len(s) && (isAlpha(s[i]) || isDigit(s[i]) || s[i] == '_') {
				i++
			}
		}
		if i == start {
			if i == len(s) || s[i] == ';' {
				return nil, fmt.Errorf("at byte %d: %w", start, errEmptyTagSpec)
			}
			return nil, fmt.Errorf("at byte %d: %w", start, errTagName)
		}
		name := s[start:i]
		i = skipFWS(s, i)
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("tag %q: %w", name, errTagNoEquals)
		}
		i = skipFWS(s, i+1)
		// tag-value: up to the next ";" or the end, without trailing FWS.
		vstart := i
		for i < len(s) && s[i] != ';' {
			c := s[i]
			if (c < 0x21 && !isFWS(c)) || c == 0x7f {
				return nil, fmt.Errorf("tag %q: %w", name, errTagValue)
			}
			i++
		}
		vend := i
		for vend > vstart && isFWS(s[vend-1]) {
			vend--
		}
		if seen != nil {
			if seen[name] {
				return nil, fmt.Errorf("tag %q: %w", name, errTagDuplicate)
			}
			seen[name] = true
		} else {
			for _, t := range l {
				if t.name == name {
					return nil, fmt.Errorf("tag %q: %w", name, errTagDuplicate)
				}
			}
			if len(l) == 16 {
				// Long lists (only hostile ones are): a set, so that
				// the check stays linear.
				seen = make(map[string]bool)
				for _, t := range l {
					seen[t.name] = true
				}
				seen[name] = true
			}
		}
		l = append(l, tag{name: name, value: s[vstart:vend]})
		if i == len(s) {
			return l, nil
		}
		// At ";": the end, or another tag-spec.
		i = skipFWS(s, i+1)
		if i == len(s) {
			return l, nil
		}
	}
}

// get returns the value of the tag named name.
func (l tagList) get(name string) (string, bool) {
	for _, t := range l {
		if t.name == name {
			return t.value, true
		}
	}
	return "", false
}

// has reports whether the list holds a tag named name.
func (l tagList) has(name string) bool {
	_, ok := l.get(name)
	return ok
}

// skipFWS returns the index of the first byte at or after i that is not
// folding white space.
func skipFWS(s string, i int) int {
	for i < len(s) && isFWS(s[i]) {
		i++
	}
	return i
}

// isFWS reports whether c can be part of folding white space (RFC 5322
// section 3.2.2). Bare CR and LF are accepted too: messages arrive with
// either line ending.
func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isWSP reports whether c is WSP (RFC 5234 appendix B.1): space or tab.
func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// stripFWS returns s without any white space, for base64 values (b=, bh=,
// p=) where RFC 6376 section 3.5 lets FWS appear anywhere.
func stripFWS(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if !isFWS(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// parseDigits parses 1*max DIGIT, as RFC 6376 uses for t=, x= and l=.
func parseDigits(s string, max int) (int64, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// validDomain reports whether s is a domain name as d= and s= need it
// (RFC 6376 section 3.5: sub-domain *("." sub-domain)): dot-separated
// labels of letters, digits, hyphens and underscores (seen in selectors),
// none empty, at most 63 bytes each and 253 in all, no leading or
// trailing hyphen. Non-ASCII names must come as A-labels.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

package dmarc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// errBadDomain is wrapped when a name is not a usable domain.
var errBadDomain = errors.New("not a usable domain name")

// normalizeDomain makes name comparable: lower case A-labels (RFC 5890),
// no trailing dot. It fails for names that are not host names, such as
// domain literals or names with empty labels.
func normalizeDomain(name string) (string, error) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	if name == "" || strings.HasPrefix(name, "[") || !utf8.ValidString(name) {
		// Bytes that are not UTF-8 (RFC 6532 section 3.1) name no
		// domain; the IDNA mapping would make one up.
		return "", fmt.Errorf("%q: %w", name, errBadDomain)
	}
	a, err := toASCII(name)
	if err != nil {
		return "", fmt.Errorf("%q: %w: %w", name, errBadDomain, err)
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", fmt.Errorf("%q: %w: too long", name, errBadDomain)
	}
	for l := range strings.SplitSeq(a, ".") {
		if l == "" || len(l) > 63 || !isLDH(l) {
			return "", fmt.Errorf("%q: %w: bad label", name, errBadDomain)
		}
	}
	return a, nil
}

// isLDH reports whether a lower-case label is letters, digits and
// hyphens, not at either end (RFC 5321 section 4.1.2, sub-domain): a
// name with other characters, which the address grammar's atext allows
// ("bank.example?"), is no host name, and a mail reader may show it as
// the name it ends like.
func isLDH(l string) bool {
	if l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// sameDomain compares normalised names.
func sameDomain(a, b string) bool { return strings.EqualFold(a, b) }

// labelCount is the number of labels of a normalised name.
func labelCount(d string) int { return strings.Count(d, ".") + 1 }

// parent removes the leftmost label, "" for a single label.
func parent(d string) string {
	_, p, ok := strings.Cut(d, ".")
	if !ok {
		return ""
	}
	return p
}

// lastLabels keeps the n rightmost labels of d.
func lastLabels(d string, n int) string {
	for labelCount(d) > n {
		d = parent(d)
	}
	return d
}

package dmarc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// A SuffixList is a public suffix list read from a file in the format of
// https://publicsuffix.org/list/ (effective_tld_names.dat): one rule per
// line, "//" comments, "*." wildcards and "!" exceptions. It is what
// Exim's dmarc_tld_file names, and lets the operator decide the
// organisational domains (RFC 7489 section 3.2) instead of the list
// compiled into golang.org/x/net/publicsuffix. It is safe for concurrent
// use.
type SuffixList struct {
	rules map[string]byte // A-label rule without "!" -> ruleExact, ruleWild or ruleExcept
}

const (
	ruleExact  = 1
	ruleWild   = 2 // the rule "*.<key>"
	ruleExcept = 4
)

// LoadSuffixList reads a public suffix list file.
func LoadSuffixList(path string) (*SuffixList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dmarc: suffix list: %w", err)
	}
	defer f.Close()
	return ParseSuffixList(f)
}

// ParseSuffixList reads a public suffix list. Only the first word of each
// line counts (the list's own rule); lines that are not domain names are
// an error, with their line number.
func ParseSuffixList(r io.Reader) (*SuffixList, error) {
	l := &SuffixList{rules: map[string]byte{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		rule := strings.Fields(line)[0]
		kind := byte(ruleExact)
		switch {
		case strings.HasPrefix(rule, "!"):
			kind, rule = ruleExcept, rule[1:]
		case strings.HasPrefix(rule, "*."):
			kind, rule = ruleWild, rule[2:]
		}
		d, err := normalizeDomain(rule)
		if err != nil || strings.Contains(d, "*") {
			return nil, fmt.Errorf("dmarc: suffix list line %d: bad rule %q", n, line)
		}
		l.rules[d] |= kind
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dmarc: suffix list: %w", err)
	}
	return l, nil
}

// PublicSuffix returns the public suffix of a normalised domain by the
// list's algorithm: an exception rule wins, else the matching rule with
// the most labels, else the implicit rule "*".
func (l *SuffixList) PublicSuffix(domain string) string {
	best := lastLabels(domain, 1) // the implicit "*" rule
	n := labelCount(domain)
	for k := 1; k <= n; k++ {
		s := lastLabels(domain, k)
		if l.rules[s]&ruleExcept != 0 {
			// The exception rule's own name is registrable: its
			// suffix is one label shorter.
			return parent(s)
		}
		if l.rules[s]&ruleExact != 0 {
			best = s
		}
		if k > 1 && l.rules[parent(s)]&ruleWild != 0 {
			best = s
		}
	}
	return best
}

// OrganizationalDomain returns the organisational domain of a domain (RFC
// 7489 section 3.2): its public suffix and one label more. A name that is
// itself a public suffix is its own organisational domain.
func (l *SuffixList) OrganizationalDomain(domain string) string {
	d, err := normalizeDomain(domain)
	if err != nil {
		return strings.ToLower(domain)
	}
	ps := l.PublicSuffix(d)
	if ps == d || ps == "" {
		return d
	}
	return lastLabels(d, labelCount(ps)+1)
}

// pslOrgDomain is OrganizationalDomain with the Public Suffix List of
// golang.org/x/net/publicsuffix.
func pslOrgDomain(d string) string {
	od, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		// d is itself a public suffix (or oddly formed).
		return d
	}
	return od
}

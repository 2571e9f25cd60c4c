package arc

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// An ams is a parsed ARC-Message-Signature (RFC 8617 section 4.1.2): a
// DKIM-Signature (RFC 6376 section 3.5) with i= the instance and no v=.
type ams struct {
	f        *field
	instance int
	algo     algorithm
	sig      []byte // b=
	bodyHash []byte // bh=
	hc, bc   canon  // c=
	domain   string // d=
	selector string // s=
	headers  []string
	length   int64 // l=, -1 without
	t, x     int64 // t= and x=, -1 without
}

// A seal is a parsed ARC-Seal (RFC 8617 section 4.1.3).
type arcSeal struct {
	f        *field
	instance int
	algo     algorithm
	sig      []byte // b=
	cv       string // cv=: none, pass or fail (section 4.1.3.1)
	domain   string
	selector string
	t        int64
}

// Chain validation states: the cv= values (RFC 8617 section 4.1.3.1)
// and the validator's results (section 5.2).
const (
	cvNone = "none"
	cvPass = "pass"
	cvFail = "fail"
)

var errMissingTag = errors.New("missing tag")

// parseInstance parses an i= value: 1 to MaxInstances (RFC 8617 section
// 4.2.1).
func parseInstance(v string) (int, error) {
	n, ok := parseDigits(v, 4)
	if !ok || n < 1 {
		return 0, fmt.Errorf("bad instance i=%q", v)
	}
	if n > MaxInstances {
		return 0, fmt.Errorf("instance i=%d above %d (RFC 8617 section 4.2.1)", n, MaxInstances)
	}
	return int(n), nil
}

// required returns the value of a tag that must be there and not empty.
func required(tags tagList, name string) (string, error) {
	v, ok := tags.get(name)
	if !ok {
		return "", fmt.Errorf("%w %s=", errMissingTag, name)
	}
	if v == "" {
		return "", fmt.Errorf("empty %s=", name)
	}
	return v, nil
}

// decodeB64 decodes a base64 tag value, white space ignored (RFC 6376
// section 3.5, b= and bh=).
func decodeB64(name, v string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(stripFWS(v))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad base64 in %s=", name)
	}
	return b, nil
}

// parseCommon reads the tags the AMS and the AS share: i=, a=, b=, d=,
// s= and t=.
func parseCommon(tags tagList) (instance int, algo algorithm, sig []byte, domain, selector string, t int64, err error) {
	v, err := required(tags, "i")
	if err != nil {
		return
	}
	if instance, err = parseInstance(v); err != nil {
		return
	}
	if v, err = required(tags, "a"); err != nil {
		return
	}
	if algo, err = parseAlgorithm(v); err != nil {
		return
	}
	if v, err = required(tags, "b"); err != nil {
		return
	}
	if sig, err = decodeB64("b", v); err != nil {
		return
	}
	if domain, err = required(tags, "d"); err != nil {
		return
	}
	if !validDomain(domain) {
		err = fmt.Errorf("bad domain d=%q", domain)
		return
	}
	if selector, err = required(tags, "s"); err != nil {
		return
	}
	if !validDomain(selector) {
		err = fmt.Errorf("bad selector s=%q", selector)
		return
	}
	t = -1
	if v, ok := tags.get("t"); ok {
		// t= is optional and never checked against the clock (the
		// conformance suite signs in 1970), but must be a number.
		n, ok := parseDigits(v, 12)
		if !ok {
			err = fmt.Errorf("bad timestamp t=%q", v)
			return
		}
		t = n
	}
	return
}

// parseAMS parses the ARC-Message-Signature field f.
func parseAMS(f *field) (*ams, error) {
	tags, err := parseTags(f.value())
	if err != nil {
		return nil, err
	}
	m := &ams{f: f, length: -1, x: -1}
	if m.instance, m.algo, m.sig, m.domain, m.selector, m.t, err = parseCommon(tags); err != nil {
		return nil, err
	}
	v, err := required(tags, "bh")
	if err != nil {
		return nil, err
	}
	if m.bodyHash, err = decodeB64("bh", v); err != nil {
		return nil, err
	}
	if len(m.bodyHash) != sha256.Size {
		return nil, errors.New("bh= is not a SHA-256 hash")
	}
	// c= defaults to simple/simple (RFC 6376 section 3.5, which RFC 8617
	// section 4.1.2 imports); see the conformance overrides in doc.go.
	if v, ok := tags.get("c"); ok {
		if m.hc, m.bc, err = parseCanon(v); err != nil {
			return nil, err
		}
	}
	h, ok := tags.get("h")
	if !ok {
		return nil, fmt.Errorf("%w h=", errMissingTag)
	}
	if strings.TrimSpace(h) != "" {
		for _, name := range strings.Split(h, ":") {
			name = strings.ToLower(strings.Trim(name, " \t\r\n"))
			if name == nameAS {
				// RFC 8617 section 4.1.2: the AMS does not sign ARC-Seal
				// fields; one that claims to cannot be valid.
				return nil, errors.New("h= lists ARC-Seal")
			}
			m.headers = append(m.headers, name)
		}
	}
	if v, ok := tags.get("l"); ok {
		n, ok := parseDigits(v, 18)
		if !ok {
			return nil, fmt.Errorf("bad body length l=%q", v)
		}
		m.length = n
	}
	if v, ok := tags.get("x"); ok {
		n, ok := parseDigits(v, 12)
		if !ok || m.t >= 0 && n < m.t {
			return nil, fmt.Errorf("bad expiry x=%q", v)
		}
		m.x = n
	}
	return m, nil
}

// parseARCSeal parses the ARC-Seal field f.
func parseARCSeal(f *field) (*arcSeal, error) {
	tags, err := parseTags(f.value())
	if err != nil {
		return nil, err
	}
	s := &arcSeal{f: f}
	if s.instance, s.algo, s.sig, s.domain, s.selector, s.t, err = parseCommon(tags); err != nil {
		return nil, err
	}
	if tags.has("h") {
		// RFC 8617 section 4.1.3: the AS has no h= tag; its scope is
		// fixed (section 5.1.1).
		return nil, errors.New("h= in ARC-Seal")
	}
	cv, err := required(tags, "cv")
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(cv) {
	case cvNone, cvPass, cvFail:
		s.cv = strings.ToLower(cv)
	default:
		return nil, fmt.Errorf("bad chain validation status cv=%q", cv)
	}
	return s, nil
}

// parseAAR splits an ARC-Authentication-Results value (RFC 8617 section
// 4.1.1: arc-info = instance [CFWS] ";" authres-payload, with instance =
// [CFWS] "i" [CFWS] "=" [CFWS] arc-instance) into its instance and the
// payload, which must hold at least an authserv-id.
func parseAAR(v string) (int, string, error) {
	i := skipCFWS(v, 0)
	if i == len(v) || v[i] != 'i' {
		return 0, "", errors.New("does not start with i=")
	}
	i = skipCFWS(v, i+1)
	if i == len(v) || v[i] != '=' {
		return 0, "", errors.New("does not start with i=")
	}
	i = skipCFWS(v, i+1)
	start := i
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	n, err := parseInstance(v[start:i])
	if err != nil {
		return 0, "", err
	}
	i = skipCFWS(v, i)
	if i == len(v) || v[i] != ';' {
		return 0, "", errors.New(`no ";" after the instance`)
	}
	payload := strings.Trim(v[i+1:], " \t\r\n")
	if payload == "" {
		return 0, "", errors.New("no authserv-id")
	}
	return n, payload, nil
}

// maxCommentDepth bounds the nesting of comments skipCFWS follows.
const maxCommentDepth = 16

// skipCFWS returns the index after any comments and folding white space
// at i (RFC 5322 section 3.2.2). An unclosed or too deeply nested comment
// runs to the end.
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch {
		case isFWS(s[i]):
			i++
		case s[i] == '(':
			depth := 0
			for ; i < len(s); i++ {
				c := s[i]
				if c == '\\' {
					i++
					continue
				}
				if c == '(' {
					depth++
					if depth > maxCommentDepth {
						return len(s)
					}
				} else if c == ')' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
			}
		default:
			return i
		}
	}
	return i
}

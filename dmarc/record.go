package dmarc

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	msgdmarc "github.com/emersion/go-msgauth/dmarc"
)

// A Record is a DMARC policy record (RFC 7489 section 6.3, RFC 9989
// section 4.7) as published at _dmarc.<Domain>, with the defaults of
// absent tags filled in. Tags with syntax errors are dropped and take
// their default (RFC 7489 section 6.3: "Syntax errors in the remainder of
// the record SHOULD be discarded in favor of default values").
type Record struct {
	// Domain is the domain that publishes the record, without the
	// _dmarc label.
	Domain string

	// Text is the TXT record as published.
	Text string

	// Policy is p=. A record with no valid p= but a valid rua= has
	// PolicyNone (RFC 7489 section 6.6.3 step 6), and so, in DMARCbis
	// mode, does a record with no p= at all (RFC 9989 section 4.7).
	Policy Policy

	// SubdomainPolicy is sp=, "" when absent (p= applies).
	SubdomainPolicy Policy

	// NonexistentPolicy is np= (RFC 9989 section 4.7, RFC 9091), ""
	// when absent. It is only used in DMARCbis mode.
	NonexistentPolicy Policy

	// DKIMAlignment and SPFAlignment are adkim= and aspf=, Relaxed when
	// absent.
	DKIMAlignment Alignment
	SPFAlignment  Alignment

	// Percent is pct=, 100 when absent (RFC 7489 section 6.3). DMARCbis
	// drops the tag; in DMARCbis mode it is parsed but not applied.
	Percent int

	// FailureOptions is fo=, lower case without blanks, "0" when absent.
	FailureOptions string

	// AggregateURIs and FailureURIs are the syntactically valid URIs of
	// rua= and ruf=, each as published (a "!size" limit included).
	AggregateURIs []string
	FailureURIs   []string

	// PSD is psd= (RFC 9989 section 4.7): "y", "n", or "u" when absent.
	PSD string

	// Testing is t=y (RFC 9989 section 4.7): the domain owner asks that
	// its policy be applied one level lower.
	Testing bool

	fo msgdmarc.FailureOptions
}

// errNotApplicable is returned by parseRecord for a record that DMARC
// processing ignores (RFC 7489 section 6.6.3 step 6).
var errNotApplicable = errors.New("record has no valid p= (or an invalid sp=) and no valid rua=")

// hasVersion reports whether txt starts with the version tag of a DMARC
// record: "v" *WSP "=" *WSP "DMARC1", then the end or a separator (RFC 7489
// section 6.4; RFC 9989 section 4.7: "DMARC1" is case-sensitive and v=
// MUST come first). Other TXT records at _dmarc are discarded (RFC 7489
// section 6.6.3 step 2).
func hasVersion(txt string) bool {
	s := trimWSP(txt)
	if len(s) == 0 || (s[0] != 'v' && s[0] != 'V') {
		return false
	}
	s = trimWSP(s[1:])
	if len(s) == 0 || s[0] != '=' {
		return false
	}
	s, ok := strings.CutPrefix(trimWSP(s[1:]), "DMARC1")
	if !ok {
		return false
	}
	s = trimWSP(s)
	return s == "" || s[0] == ';'
}

func trimWSP(s string) string { return strings.TrimLeft(s, " \t") }

// tag is one tag=value pair of a record, name in lower case.
type tag struct{ name, value string }

// splitTags splits a tag list (RFC 7489 section 6.4: tags separated by
// *WSP ";" *WSP, each 1*ALPHA *WSP "=" *WSP value). Parts without "=" or
// with an empty or non-alphabetic name are skipped, as are repeats of a
// tag already seen.
func splitTags(txt string) []tag {
	var tags []tag
	seen := map[string]bool{}
	for part := range strings.SplitSeq(txt, ";") {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.Trim(name, " \t\r\n"))
		value = strings.Trim(value, " \t\r\n")
		if name == "" || !isAlpha(name) || seen[name] {
			continue
		}
		seen[name] = true
		tags = append(tags, tag{name, value})
	}
	return tags
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// validTag reports whether go-msgauth accepts tag in a minimal record.
// The tags go-msgauth knows are validated by go-msgauth itself, one by
// one, so that one bad tag does not spoil the record.
func validTag(name, value string) bool {
	rec := "v=DMARC1; p=none; " + name + "=" + value
	if name == "p" {
		rec = "v=DMARC1; p=" + value
	}
	_, err := msgdmarc.Parse(rec)
	return err == nil
}

// parseRecord parses a TXT record that hasVersion accepted, published at
// _dmarc.domain. bis selects the DMARCbis rules for a missing p=.
func parseRecord(domain, txt string, bis bool) (*Record, error) {
	r := &Record{
		Domain:         domain,
		Text:           txt,
		DKIMAlignment:  Relaxed,
		SPFAlignment:   Relaxed,
		Percent:        100,
		FailureOptions: "0",
		PSD:            "u",
	}
	var clean []string // tags for go-msgauth, validated one by one
	pValid, pSeen, subBad := false, false, false
	for _, t := range splitTags(txt) {
		switch t.name {
		case "p", "sp", "np":
			v := strings.ToLower(t.value)
			ok := v == "none" || v == "quarantine" || v == "reject"
			if t.name == "p" {
				pSeen = true
				pValid = ok
			}
			if !ok {
				// An invalid np= only matters to DMARCbis, which
				// defines it (RFC 9989 section 4.10.1).
				subBad = subBad || t.name == "sp" || (t.name == "np" && bis)
				continue
			}
			if t.name == "np" {
				r.NonexistentPolicy = Policy(v)
				continue
			}
			clean = append(clean, t.name+"="+v)
		case "adkim", "aspf", "rf", "ri", "pct":
			v := strings.ToLower(t.value)
			if validTag(t.name, v) {
				clean = append(clean, t.name+"="+v)
			}
		case "fo":
			v := strings.ToLower(strings.Map(dropBlank, t.value))
			if validTag("fo", v) {
				clean = append(clean, "fo="+v)
				r.FailureOptions = v
			}
		case "rua":
			r.AggregateURIs = validURIs(t.value)
		case "ruf":
			r.FailureURIs = validURIs(t.value)
		case "psd":
			if v := strings.ToLower(t.value); v == "y" || v == "n" || v == "u" {
				r.PSD = v
			}
		case "t":
			r.Testing = strings.EqualFold(t.value, "y")
		}
	}
	switch {
	case pValid && !subBad:
	case bis && !pSeen && !subBad:
		// RFC 9989 section 4.7: no p= in an otherwise valid record
		// means p=none.
		clean = append(clean, "p=none")
	case len(r.AggregateURIs) > 0:
		// RFC 7489 section 6.6.3 step 6 (RFC 9989 section 4.10.1):
		// act as if the record said p=none, and go on.
		clean = slices.DeleteFunc(clean, func(s string) bool {
			return strings.HasPrefix(s, "p=") || strings.HasPrefix(s, "sp=")
		})
		clean = append(clean, "p=none")
		r.NonexistentPolicy = ""
	default:
		return nil, errNotApplicable
	}
	// Move p= to the front, where go-msgauth does not care but readers do.
	for i, s := range clean {
		if strings.HasPrefix(s, "p=") {
			clean[0], clean[i] = clean[i], clean[0]
			break
		}
	}
	m, err := msgdmarc.Parse("v=DMARC1; " + strings.Join(clean, "; "))
	if err != nil {
		// Each tag passed on its own; together they must too.
		return nil, fmt.Errorf("dmarc: record at %s: %w", domain, err)
	}
	r.Policy = Policy(m.Policy)
	r.SubdomainPolicy = Policy(m.SubdomainPolicy)
	r.DKIMAlignment = Alignment(m.DKIMAlignment)
	r.SPFAlignment = Alignment(m.SPFAlignment)
	if m.Percent != nil {
		r.Percent = *m.Percent
	}
	r.fo = m.FailureOptions
	if r.fo == 0 {
		r.fo = msgdmarc.FailureAll // fo=0 is the default (RFC 7489 section 6.3)
	}
	return r, nil
}

func dropBlank(r rune) rune {
	if r == ' ' || r == '\t' {
		return -1
	}
	return r
}

// validURIs keeps the syntactically valid URIs of a dmarc-urilist (RFC
// 7489 section 6.4): absolute URIs, each optionally followed by "!" and a
// size limit.
func validURIs(list string) []string {
	var out []string
	for u := range strings.SplitSeq(list, ",") {
		u = strings.Trim(u, " \t")
		if _, _, err := splitReportURI(u); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// splitReportURI splits a DMARC reporting URI into the URI and its size
// limit in bytes, 0 for none (RFC 7489 section 6.2: "!" 1*DIGIT
// [ "k" / "m" / "g" / "t" ]). The URI must be absolute.
func splitReportURI(s string) (*url.URL, int64, error) {
	uri, size := s, int64(0)
	if i := strings.LastIndexByte(s, '!'); i >= 0 {
		uri = s[:i]
		n, err := parseSize(s[i+1:])
		if err != nil {
			return nil, 0, fmt.Errorf("dmarc: report URI %q: %w", s, err)
		}
		size = n
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, 0, fmt.Errorf("dmarc: report URI %q: %w", s, err)
	}
	if u.Scheme == "" || (u.Opaque == "" && u.Host == "" && u.Path == "") {
		return nil, 0, fmt.Errorf("dmarc: report URI %q is not absolute", s)
	}
	return u, size, nil
}

// errBadSize is wrapped for a malformed size limit.
var errBadSize = errors.New("bad size limit")

func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, errBadSize
	}
	mult := int64(1)
	switch s[len(s)-1] | 0x20 {
	case 'k':
		mult = 1 << 10
	case 'm':
		mult = 1 << 20
	case 'g':
		mult = 1 << 30
	case 't':
		mult = 1 << 40
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	if s == "" || len(s) > 15 {
		return 0, errBadSize
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadSize
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n * mult, nil
}

// policyFor is the policy of r for a message whose Author Domain is
// author: p= for the domain itself, else sp= (RFC 7489 section 6.3), or
// in DMARCbis mode np= for a non-existent subdomain (RFC 9989 section
// 4.10.1), each falling back as the RFCs say.
func (r *Record) policyFor(author string, nonexistent bool) Policy {
	if sameDomain(author, r.Domain) {
		return r.Policy
	}
	if nonexistent && r.NonexistentPolicy != "" {
		return r.NonexistentPolicy
	}
	if r.SubdomainPolicy != "" {
		return r.SubdomainPolicy
	}
	return r.Policy
}

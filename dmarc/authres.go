package dmarc

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// AuthResult returns the dmarc method result for Authentication-Results
// (RFC 7489 section 11.2): the result value, header.from, and as reason
// the policy that applied ("p=reject dis=quarantine"). It is nil for
// StatusOff. authres.DMARCResult has no field for the policy.dmarc
// property; AuthResults carries that.
func (r *Result) AuthResult() *authres.DMARCResult {
	if r.Value == "" {
		return nil
	}
	return &authres.DMARCResult{Value: r.Value, From: r.FromDomain, Reason: r.policyComment()}
}

func (r *Result) policyComment() string {
	if r.Record == nil || r.DomainPolicy == "" {
		return ""
	}
	return "p=" + string(r.DomainPolicy) + " dis=" + string(r.Disposition)
}

// AuthResults returns the results this evaluation adds to an
// Authentication-Results header field (RFC 8601): one dkim result per
// signature with header.d and header.s (section 2.7.1), then the dmarc
// result with header.from and policy.dmarc, the disposition (RFC 9989
// section 10.1). SPF is not among them: it is the SPF checker's result,
// given to Evaluate.
func (r *Result) AuthResults() []authres.Result {
	var out []authres.Result
	for _, k := range r.DKIM {
		reason := ""
		if k.Err != nil {
			reason = strings.TrimPrefix(k.Err.Error(), "dkim: ")
		}
		out = append(out, &authres.GenericResult{Method: "dkim", Value: k.Result, Params: map[string]string{
			"header.d": k.Domain,
			"header.s": k.Selector,
			"reason":   reason,
		}})
	}
	if r.Value != "" {
		p := map[string]string{"header.from": r.FromDomain}
		if r.Disposition != "" {
			p["policy.dmarc"] = string(r.Disposition)
		}
		out = append(out, &authres.GenericResult{Method: "dmarc", Value: r.Value, Params: p})
	}
	return out
}

// FormatAuthResults formats a whole Authentication-Results header field
// for authservID (RFC 8601 section 2.2), one result per line, ending in
// CRLF: "Authentication-Results: mx.example.org;\r\n\tspf=pass ...;\r\n\t
// dkim=pass ...\r\n". With no results it says "none".
func FormatAuthResults(authservID string, results []authres.Result) string {
	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(authservID)
	if len(results) == 0 {
		b.WriteString("; none\r\n")
		return b.String()
	}
	prefix := authservID + "; "
	for _, res := range results {
		b.WriteString(";\r\n\t")
		s := strings.TrimPrefix(authres.Format(authservID, []authres.Result{res}), prefix)
		b.WriteString(strings.TrimRight(s, " "))
	}
	b.WriteString("\r\n")
	return b.String()
}

// withoutAuthResults returns the header section without the
// Authentication-Results fields whose authserv-id is id (RFC 8601
// section 5: a receiver removes the fields that claim to be its own
// before adding its own), compared without regard to case and to a
// final dot. It returns h.raw itself when there is none.
func (h *header) withoutAuthResults(id string) []byte {
	var kept []byte
	last := 0 // start of the bytes not yet copied to kept
	for i := range h.count() {
		if !h.field(i).claims(id) {
			continue
		}
		if kept == nil {
			kept = make([]byte, 0, len(h.raw))
		}
		kept = append(kept, h.raw[last:h.start(i)]...)
		last = h.start(i + 1)
	}
	if kept == nil {
		return h.raw
	}
	return append(kept, h.raw[last:]...)
}

// claims reports whether f is an Authentication-Results field for
// authserv-id id, or holds one after a bare CR, where readers that end
// lines there (Python's email package among them) find a field of its
// own.
func (f field) claims(id string) bool {
	if f.looselyIs("Authentication-Results") && sameAuthServID(authservID(string(f.body())), id) {
		return true
	}
	for seg := range crFields(f) {
		if seg.looselyIs("Authentication-Results") && sameAuthServID(authservID(string(seg.body())), id) {
			return true
		}
	}
	return false
}

// sameAuthServID compares authserv-ids, which are domain names or
// similar (RFC 8601 section 2.5): without regard to case or a final dot,
// and without the control characters some readers drop (none is in a
// value).
func sameAuthServID(a, b string) bool {
	a = strings.Map(dropControl, a)
	return a != "" && strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func dropControl(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return -1
	}
	return r
}

// authservID extracts the authserv-id of an Authentication-Results field
// value (RFC 8601 section 2.2: [CFWS] authserv-id, a value, that is a
// token or a quoted-string). It returns "" when there is none.
func authservID(v string) string {
	s := skipCFWS(v)
	if s == "" {
		return ""
	}
	if s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(s[i])
			}
		}
		return ""
	}
	end := strings.IndexAny(s, " \t\r\n;()")
	if end < 0 {
		end = len(s)
	}
	return s[:end]
}

// skipCFWS skips white space and comments, nested ones included (RFC
// 5322 section 3.2.2).
func skipCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "(") {
			return s
		}
		depth := 0
		i := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(s) {
			return ""
		}
		s = s[i+1:]
	}
}

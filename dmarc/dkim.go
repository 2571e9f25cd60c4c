package dmarc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

// DefaultMaxSignatures is how many DKIM signatures one message gets
// verified; more are ignored (RFC 6376 section 6.1 lets a verifier limit
// the work one message makes).
const DefaultMaxSignatures = 5

// A DKIMResult is the outcome of one DKIM signature (RFC 6376 section 6).
type DKIMResult struct {
	// Domain and Selector are the d= and s= tags.
	Domain   string
	Selector string

	// Result is pass, fail, temperror (the key lookup failed for now) or
	// permerror (a malformed signature, or no key), RFC 8601 section
	// 2.7.1.
	Result authres.ResultValue

	// Aligned is set for a passing signature whose d= is in alignment
	// with the From domain (RFC 7489 section 3.1.1).
	Aligned bool

	// Err says why the signature did not pass.
	Err error
}

// verifyDKIM checks the message's DKIM signatures with go-msgauth's
// verifier, its key lookups going to res under ctx.
func verifyDKIM(ctx context.Context, res Resolver, fields []field, header []byte, body io.Reader, max int) ([]DKIMResult, error) {
	var selectors []string
	for _, f := range fields {
		if strings.EqualFold(f.name, "DKIM-Signature") {
			selectors = append(selectors, dkimTag(f.value(), "s"))
		}
	}
	if len(selectors) == 0 {
		return nil, nil
	}
	opts := &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			// go-msgauth tells temporary failures apart by the
			// net.Error the resolver returns, so pass it as it is.
			return res.LookupTXT(ctx, fqdn(name))
		},
		MaxVerifications: max,
	}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(header), body), opts)
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return nil, err
	}
	out := make([]DKIMResult, 0, len(verifs))
	for i, v := range verifs {
		r := DKIMResult{Domain: normalizeOrLower(v.Domain), Err: v.Err}
		if i < len(selectors) {
			r.Selector = selectors[i]
		}
		switch {
		case v.Err == nil:
			r.Result = authres.ResultPass
		case dkim.IsTempFail(v.Err):
			r.Result = authres.ResultTempError
		case dkim.IsPermFail(v.Err):
			r.Result = authres.ResultPermError
		default:
			r.Result = authres.ResultFail
		}
		out = append(out, r)
	}
	return out, nil
}

// dkimTag is the value of one tag of a DKIM tag-list (RFC 6376 section
// 3.2), whitespace removed.
func dkimTag(list, name string) string {
	for part := range strings.SplitSeq(list, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
		}
	}
	return ""
}

package dmarc

import (
	"bytes"
	"context"
	"fmt"
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

// maxSignedFields bounds the h= list of a signature that is verified:
// go-msgauth's verifier picks each listed field with a scan of the whole
// header section, so a list of many names would cost time in their
// square. Real signatures list a few dozen. A longer list is a permerror
// (RFC 6376 section 6.1 lets a verifier limit the work a message makes).
const maxSignedFields = 512

var errTooManySigned = fmt.Errorf("dkim: more than %d signed header fields", maxSignedFields)

// verifyDKIM checks the first max DKIM signatures of the message with
// go-msgauth's verifier, its key lookups going to res under ctx. The
// verifier gets only the fields that can matter (RFC 6376 section 5.4.2:
// a signature covers, for each name in h=, the next instance of that
// field from the bottom): the signatures, and the lowest n instances of
// each field name listed n times in some h=. The outcome is the same as
// with the whole header section, but for a signature that lists
// DKIM-Signature in h=, which is picked among the verified signatures
// only; and the memory the verifier takes stays small whatever the
// number of fields.
func verifyDKIM(ctx context.Context, res Resolver, h *header, body io.Reader, max int) ([]DKIMResult, error) {
	var (
		sigs []int // field indexes
		out  []DKIMResult
		skip []bool // a signature not given to the verifier
		need = map[string]int{}
	)
	for i := range h.count() {
		f := h.field(i)
		if !f.is("DKIM-Signature") {
			continue
		}
		if len(sigs) == max {
			break
		}
		v := f.value()
		sigs = append(sigs, i)
		r := DKIMResult{Selector: dkimTag(v, "s")}
		names := strings.Split(dkimTag(v, "h"), ":")
		if len(names) > maxSignedFields {
			r.Domain = normalizeOrLower(dkimTag(v, "d"))
			r.Result, r.Err = authres.ResultPermError, errTooManySigned
			skip = append(skip, true)
		} else {
			skip = append(skip, false)
			count := map[string]int{}
			for _, n := range names {
				n = strings.ToLower(n)
				count[n]++
				need[n] = maxInt(need[n], count[n])
			}
		}
		out = append(out, r)
	}
	if len(sigs) == 0 {
		return nil, nil
	}
	keep := make([]uint64, (h.count()+63)/64) // a bit per field
	var lower []byte
	for k, i := range sigs {
		if !skip[k] {
			keep[i/64] |= 1 << (i % 64)
		}
	}
	for i := h.count() - 1; i >= 0; i-- {
		f := h.field(i)
		if f.is("DKIM-Signature") {
			// The verifier takes every DKIM-Signature it sees for a
			// signature to verify: it sees those of sigs only.
			continue
		}
		lower = appendLower(lower[:0], f.name())
		if n := need[string(lower)]; n > 0 {
			need[string(lower)] = n - 1
			keep[i/64] |= 1 << (i % 64)
		}
	}
	verified := false
	var hdr bytes.Buffer
	for i := range h.count() {
		if keep[i/64]&(1<<(i%64)) != 0 {
			hdr.Write(h.field(i))
		}
	}
	for k := range sigs {
		verified = verified || !skip[k]
	}
	if !verified {
		return out, nil
	}
	hdr.WriteString("\r\n")
	opts := &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			// go-msgauth tells temporary failures apart by the
			// net.Error the resolver returns, so pass it as it is.
			return res.LookupTXT(ctx, fqdn(name))
		},
	}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(&hdr, body), opts)
	if err != nil {
		return nil, err
	}
	j := 0
	for k := range out {
		if skip[k] {
			continue
		}
		if j == len(verifs) {
			break
		}
		v := verifs[j]
		j++
		r := &out[k]
		r.Domain, r.Err = normalizeOrLower(v.Domain), v.Err
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
	}
	return out, nil
}

// appendLower appends b in ASCII lower case to dst.
func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
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

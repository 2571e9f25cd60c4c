package arc

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// SealOptions configures Seal, after Exim's arc_sign = admd : selector :
// key [: options]. Domain, Selector and Signer are required; the zero
// value of every other field means its default.
type SealOptions struct {
	// Domain is the sealer's domain, d= of the new ARC-Seal and
	// ARC-Message-Signature: Exim's admd.
	Domain string

	// Selector is s=: the key record is at
	// <Selector>._domainkey.<Domain> (RFC 6376 section 3.6.2.1).
	Selector string

	// Signer holds the private key: an *rsa.PrivateKey of MinRSAKeyBits
	// to MaxRSAKeyBits bits (rsa-sha256), or an ed25519.PrivateKey
	// (ed25519-sha256, RFC 8463), or any crypto.Signer with such a
	// public key.
	Signer crypto.Signer

	// AuthServID is the authserv-id of this ADMD's Authentication-Results
	// fields, whose results the new ARC-Authentication-Results copies
	// (RFC 8617 section 5.1): those above the newest ARC set, added on
	// this pass. "" means Domain, as Exim has it.
	AuthServID string

	// Headers are the fields the ARC-Message-Signature signs, written in
	// h= as given (a name twice signs two instances, RFC 6376 section
	// 5.4.2). It must hold From (RFC 6376 section 5.4) and no ARC field
	// (RFC 8617 section 4.1.2). Nil means every field present from From,
	// To, Cc, Subject, Date, Message-ID, Reply-To, In-Reply-To,
	// References, Sender, MIME-Version, Content-Type, Content-Transfer-
	// Encoding, Content-ID, Content-Description, the Resent-* and List-*
	// fields and DKIM-Signature, each as many times as it appears.
	Headers []string

	// Timestamps adds t= to both signatures: Exim's "timestamps" option.
	Timestamps bool

	// Expire adds x= to the ARC-Message-Signature, this long after the
	// signing time, and t= with it: Exim's "expire+N" (seconds), or its
	// bare "expire" with DefaultExpire.
	Expire time.Duration

	// ExpireAt adds x= at that time instead: Exim's "expire=N".
	ExpireAt time.Time

	// Chain is this ADMD's own validation of the message (Verify), which
	// gives the new seal's cv=. Nil means the arc= result recorded in
	// the Authentication-Results fields of AuthServID, as dkimpy does.
	Chain *Result

	// Now is the signing clock; nil means time.Now.
	Now func() time.Time

	// alphabetical writes tags in alphabetical order instead of i= first:
	// the layout the conformance suite's b= values were made with.
	alphabetical bool
}

// A SealResult is the outcome of Seal.
type SealResult struct {
	// Header holds the new ARC set to add at the top of the message:
	// ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results,
	// each folded and ending in CRLF. It is empty when no set was added.
	Header string

	// Instance is i= of the new set, CV its cv=.
	Instance int
	CV       State

	// Skipped says why no set was added ("" when one was): the message
	// has no Authentication-Results of AuthServID, its newest seal says
	// cv=fail, it has MaxInstances sets already, or it carries ARC sets
	// but no arc= result to seal them with.
	Skipped string
}

// defaultHeaders are the fields sealed when SealOptions.Headers is nil:
// the list of RFC 6376 section 5.4.1, with the List-* fields of RFC 2369
// and RFC 2919.
var defaultHeaders = []string{
	"from", "to", "cc", "subject", "date", "message-id", "reply-to",
	"in-reply-to", "references", "sender", "mime-version", "content-type",
	"content-transfer-encoding", "content-id", "content-description",
	"resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc",
	"resent-message-id", "list-id", "list-help", "list-unsubscribe",
	"list-subscribe", "list-post", "list-owner", "list-archive",
	"dkim-signature",
}

// Seal adds an ARC set to the message read from r (RFC 8617 section
// 5.1): it reads r to the end, once, hashing the body as it streams, and
// returns the set's header fields for the caller to prepend. The
// ARC-Authentication-Results copies the results of this ADMD's own
// Authentication-Results fields above the newest ARC set (raw text,
// merged when there are several); without such a field no set is added. The new cv= comes from
// opts.Chain or from the arc= result recorded there: none for the first
// set; a cv=fail seal signs only its own set (section 5.1.2); and no set
// is added above a seal that already says fail.
//
// Errors are for bad options, reading r and signing; a message that gets
// no set is a SealResult with Skipped set.
func Seal(r io.Reader, opts *SealOptions) (*SealResult, error) {
	if opts == nil {
		return nil, errors.New("arc: Seal needs options")
	}
	algo, err := checkSealOptions(opts)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, readBufSize)
	fields, err := readHeader(br, MaxHeaderFields, MaxHeaderBytes)
	var limitErr *headerLimitError
	if errors.As(err, &limitErr) {
		return skip(br, limitErr.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("arc: reading header: %w", err)
	}
	id := opts.AuthServID
	if id == "" {
		id = opts.Domain
	}
	results, found := ourResults(fields, id)
	if !found {
		return skip(br, "no Authentication-Results of "+id)
	}
	c := parseChain(fields)
	n := c.n()
	if n+1 > MaxInstances {
		return skip(br, fmt.Sprintf("%d ARC sets already", n))
	}
	if n > 0 {
		for _, f := range c.sets[n-1].as {
			if s, err := parseARCSeal(f); err == nil && s.cv == cvFail {
				return skip(br, fmt.Sprintf("i=%d: ARC-Seal has cv=fail", n))
			}
		}
	}
	cv, why := sealCV(c, results, opts.Chain)
	if cv == "" {
		return skip(br, why)
	}

	body := newBodyHasher(sha256.New(), relaxed, -1)
	if _, err := br.WriteTo(body); err != nil {
		return nil, fmt.Errorf("arc: reading body: %w", err)
	}
	bodyHash := body.Sum()

	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now().Unix()
	x := int64(-1)
	switch {
	case !opts.ExpireAt.IsZero():
		x = opts.ExpireAt.Unix()
	case opts.Expire > 0:
		x = t + int64(opts.Expire/time.Second)
	}
	if x >= 0 && x <= t {
		return nil, fmt.Errorf("arc: expiry %d is not after the signing time %d", x, t)
	}
	withT := opts.Timestamps || x >= 0
	instance := n + 1
	s := &sealer{opts: opts, algo: algo}

	// ARC-Authentication-Results (RFC 8617 section 4.1.1).
	aar := "ARC-Authentication-Results: i=" + strconv.Itoa(instance) + "; " + id
	if len(results) == 0 {
		aar += "; none"
	} else {
		aar += ";\r\n\t" + strings.Join(results, ";\r\n\t")
	}
	aar = lfToCRLF(aar)

	// ARC-Message-Signature (RFC 8617 section 4.1.2).
	names := opts.Headers
	if names == nil {
		names = presentHeaders(fields)
	}
	amsTags := []tag{
		{"i", strconv.Itoa(instance)},
		{"a", algo.String()},
		{"c", "relaxed/relaxed"},
		{"d", opts.Domain},
		{"s", opts.Selector},
	}
	if withT {
		amsTags = append(amsTags, tag{"t", strconv.FormatInt(t, 10)})
	}
	if x >= 0 {
		amsTags = append(amsTags, tag{"x", strconv.FormatInt(x, 10)})
	}
	amsTags = append(amsTags,
		tag{"h", strings.ToLower(strings.Join(names, ":"))},
		tag{"bh", base64.StdEncoding.EncodeToString(bodyHash)},
	)
	amsText, err := s.sign("ARC-Message-Signature", amsTags, func(unsigned *field) []byte {
		return amsHash(fields, &ams{f: unsigned, hc: relaxed, headers: lowerAll(names)})
	})
	if err != nil {
		return nil, err
	}

	// ARC-Seal (RFC 8617 section 4.1.3), over the whole chain or, for
	// cv=fail, over its own set alone (section 5.1.2).
	asTags := []tag{{"i", strconv.Itoa(instance)}, {"a", algo.String()}}
	if withT {
		asTags = append(asTags, tag{"t", strconv.FormatInt(t, 10)})
	}
	asTags = append(asTags, tag{"cv", cv}, tag{"d", opts.Domain}, tag{"s", opts.Selector})
	prior := n
	if cv == cvFail {
		prior = 0
	}
	aarField, amsField := textField(aar), textField(amsText)
	asText, err := s.sign("ARC-Seal", asTags, func(unsigned *field) []byte {
		return sealHash(c, prior, [3]*field{aarField, amsField, unsigned})
	})
	if err != nil {
		return nil, err
	}
	return &SealResult{
		Header:   asText + "\r\n" + amsText + "\r\n" + aar + "\r\n",
		Instance: instance,
		CV:       State(cv),
	}, nil
}

// skip drains the message and reports that no set is added.
func skip(br *bufio.Reader, why string) (*SealResult, error) {
	if err := drain(br); err != nil {
		return nil, err
	}
	return &SealResult{Skipped: why}, nil
}

// sealCV decides the cv= of the set after the chain c (RFC 8617 section
// 4.1.3.1), from the own validation result when there is one, else from
// the arc= result in results. "" means no set, for the reason why.
func sealCV(c *chain, results []string, own *Result) (cv, why string) {
	if c.n() == 0 {
		return cvNone, "" // the first set (section 5.1.1 step 2)
	}
	if own != nil {
		switch own.State {
		case StatePass:
			cv = cvPass
		case StateFail:
			cv = cvFail
		default:
			return "", "Chain has state none but the message has ARC sets"
		}
	} else {
		arc := arcResults(results)
		switch {
		case len(arc) == 0:
			return "", "ARC sets but no arc= result to seal them with"
		case len(arc) > 1:
			cv = cvFail // contradictory records, as dkimpy has it
		case arc[0] == cvPass:
			cv = cvPass
		case arc[0] == cvNone:
			return "", "ARC sets but arc=none"
		default:
			cv = cvFail
		}
	}
	if cv == cvPass && c.broken != "" {
		cv = cvFail // a pass seal over sets that are not there cannot verify
	}
	return cv, ""
}

// presentHeaders is defaultHeaders as h= for these fields: each name as
// many times as it is present, From at least once.
func presentHeaders(fields []field) []string {
	count := map[string]int{}
	for _, f := range fields {
		count[f.name]++
	}
	var names []string
	for _, name := range defaultHeaders {
		k := count[name]
		if name == "from" && k == 0 {
			k = 1
		}
		for ; k > 0; k-- {
			names = append(names, name)
		}
	}
	return names
}

// checkSealOptions validates opts and returns the signing algorithm.
func checkSealOptions(o *SealOptions) (algorithm, error) {
	if !validDomain(o.Domain) {
		return 0, fmt.Errorf("arc: bad seal domain %q", o.Domain)
	}
	if !validDomain(o.Selector) {
		return 0, fmt.Errorf("arc: bad selector %q", o.Selector)
	}
	if o.Signer == nil {
		return 0, errors.New("arc: no Signer")
	}
	var algo algorithm
	switch pub := o.Signer.Public().(type) {
	case *rsa.PublicKey:
		if err := checkRSABits(pub.N.BitLen(), MinRSAKeyBits); err != nil {
			return 0, fmt.Errorf("arc: seal key: %w", err)
		}
		algo = rsaSHA256
	case ed25519.PublicKey:
		algo = ed25519SHA256
	default:
		return 0, fmt.Errorf("arc: seal key of type %T, want RSA or Ed25519", pub)
	}
	if o.Headers != nil {
		from := false
		for _, h := range o.Headers {
			name := strings.ToLower(h)
			if name == "" || strings.ContainsAny(name, ": \t\r\n;") {
				return 0, fmt.Errorf("arc: bad header name %q", h)
			}
			if isARCName(name) {
				return 0, fmt.Errorf("arc: %s must not be signed (RFC 8617 section 4.1.2)", h)
			}
			from = from || name == "from"
		}
		if !from {
			return 0, errors.New("arc: Headers must include From (RFC 6376 section 5.4)")
		}
	}
	return algo, nil
}

// A sealer writes and signs the header fields of one new set.
type sealer struct {
	opts *SealOptions
	algo algorithm
}

// foldWidth is the line length signature fields are folded at (RFC 5322
// section 2.1.1 asks for 78 at most).
const foldWidth = 78

// sign lays out a signature field named name with tags and an empty b=,
// hashes it with hash, signs, and returns the field with b= filled in,
// without a final CRLF.
func (s *sealer) sign(name string, tags []tag, hash func(unsigned *field) []byte) (string, error) {
	if s.opts.alphabetical {
		tags = append(tags, tag{"b", ""})
		sortTags(tags)
	} else {
		tags = append(tags, tag{"b", ""})
	}
	// prefix ends just after "b="; suffix holds any tags after it. The
	// field hashed is prefix+suffix; the one written has the signature
	// between them.
	var prefix, suffix strings.Builder
	prefix.WriteString(name + ":")
	line := len(name) + 1
	w := &prefix
	for k, t := range tags {
		piece := t.name + "="
		sep := " "
		if k > 0 {
			sep = "; "
		}
		width := len(piece) + len(t.value)
		if t.name == "h" {
			width = len(piece) + len(firstName(t.value))
		}
		if k > 0 && line+len(sep)+width > foldWidth {
			w.WriteString(";\r\n\t")
			line = 8
		} else {
			w.WriteString(sep)
			line += len(sep)
		}
		w.WriteString(piece)
		line += len(piece)
		switch t.name {
		case "b":
			w = &suffix
			// The signature goes on lines of its own (foldB64).
			last := s.sigB64Len() % b64Line
			if last == 0 {
				last = b64Line
			}
			line = 8 + last
		case "h":
			// Fold the list after a colon when it runs long (FWS is allowed
			// around the colons, RFC 6376 section 3.5).
			for j, h := range strings.Split(t.value, ":") {
				if j > 0 {
					w.WriteString(":")
					line++
					if line+len(h) > foldWidth {
						w.WriteString("\r\n\t")
						line = 8
					}
				}
				w.WriteString(h)
				line += len(h)
			}
		default:
			w.WriteString(t.value)
			line += len(t.value)
		}
	}
	unsigned := prefix.String() + suffix.String()
	digest := hash(textField(unsigned))
	var sig []byte
	var err error
	if s.algo == ed25519SHA256 {
		sig, err = s.opts.Signer.Sign(rand.Reader, digest, crypto.Hash(0))
	} else {
		sig, err = s.opts.Signer.Sign(rand.Reader, digest, crypto.SHA256)
	}
	if err != nil {
		return "", fmt.Errorf("arc: signing %s: %w", name, err)
	}
	b64 := base64.StdEncoding.EncodeToString(sig)
	if s.opts.alphabetical {
		// The suite's reference signer hashed each new AMS with its b=
		// value on one line (it folded only afterwards, which made its
		// ARC-Seals unverifiable); unfolded here, the same bytes are
		// both hashed and written.
		return prefix.String() + b64 + suffix.String(), nil
	}
	return prefix.String() + foldB64(b64) + suffix.String(), nil
}

// sigB64Len is the length of the signature in base64.
func (s *sealer) sigB64Len() int {
	n := ed25519.SignatureSize
	if pub, ok := s.opts.Signer.Public().(*rsa.PublicKey); ok {
		n = pub.Size()
	}
	return base64.StdEncoding.EncodedLen(n)
}

// b64Line is the length of the lines a signature is folded into: with
// the tab before it, 78 columns.
const b64Line = 70

// foldB64 breaks a base64 value into lines of b64Line characters, with
// FWS before each (RFC 6376 section 3.5 allows it anywhere in b=).
func foldB64(v string) string {
	var b strings.Builder
	for len(v) > 0 {
		n := min(len(v), b64Line)
		b.WriteString("\r\n\t")
		b.WriteString(v[:n])
		v = v[n:]
	}
	return b.String()
}

// firstName is the first name of an h= list.
func firstName(h string) string {
	name, _, _ := strings.Cut(h, ":")
	return name
}

// sortTags sorts tags by name.
func sortTags(tags []tag) {
	for i := 1; i < len(tags); i++ {
		for j := i; j > 0 && tags[j].name < tags[j-1].name; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
}

// textField makes a field of a header text we wrote (no final CRLF).
func textField(text string) *field {
	raw := []byte(text)
	f := fieldHead(raw)
	f.raw = raw
	return &f
}

// lfToCRLF turns bare LF line breaks, as copied from a message stored
// with LF, into CRLF.
func lfToCRLF(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lowerAll returns names in lower case.
func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(strings.TrimSpace(n))
	}
	return out
}

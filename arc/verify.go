package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
)

// A State is the validation state of an ARC chain (RFC 8617 section
// 4.4), with the words of Exim's $arc_state.
type State string

const (
	StateNone State = "none" // no ARC sets
	StatePass State = "pass" // every set present and valid
	StateFail State = "fail" // anything else
)

// VerifyOptions configures Verify. The zero value, like a nil pointer,
// means defaults.
type VerifyOptions struct {
	// LookupTXT looks up DKIM key records (RFC 6376 section 3.6.2.2).
	// Nil means net.DefaultResolver.LookupTXT; the LookupTXT method of
	// any *net.Resolver fits. Names are fully qualified, with the final
	// dot. Errors that are a *net.DNSError with IsNotFound are permanent;
	// all others count as temporary (Result.Temporary).
	LookupTXT func(ctx context.Context, name string) ([]string, error)

	// TrustedSealers lists the sealer domains (ARC-Seal d=) whose word
	// this receiver takes: see Result.Trusted. Compared without case and
	// trailing dot.
	TrustedSealers []string

	// MinRSAKeyBits is the smallest RSA key accepted; 0 means
	// MinRSAKeyBits. Raising it is the use: crypto/rsa refuses keys
	// under 1024 bits whatever this says.
	MinRSAKeyBits int

	// MaxHeaderFields and MaxHeaderBytes limit the header section read;
	// 0 means MaxHeaderFields and MaxHeaderBytes. A message past them
	// fails.
	MaxHeaderFields int
	MaxHeaderBytes  int

	// Now is the clock for the x= expiry of ARC-Message-Signatures; nil
	// means time.Now.
	Now func() time.Time
}

// A Result is the outcome of Verify, with the fields Exim users know.
type Result struct {
	// State is none, pass or fail: Exim's $arc_state.
	State State

	// Reason says why the chain failed: Exim's $arc_state_reason.
	Reason string

	// Domains are the sealers' domains (ARC-Seal d=) from instance 1
	// up, with "" for an instance whose seal is missing or unreadable:
	// Exim's $arc_domains is them joined with ":".
	Domains []string

	// OldestPass is the oldest instance whose ARC-Message-Signature, and
	// every newer one, still validates (RFC 8617 section 5.2 step 5,
	// "oldest-pass"): 1 when the message is unchanged since the first
	// seal, N when only the newest signature holds. It is Exim's
	// $arc_oldest_pass, set when State is pass and 0 otherwise. (RFC 8617
	// writes "header.oldest-pass=0" for "all validate"; AuthResult
	// converts.)
	OldestPass int

	// Instance is the highest instance found: the number of sets in a
	// valid chain, 0 without ARC.
	Instance int

	// Temporary is set when the chain failed only because a key lookup
	// failed in a way that may not last (a timeout, SERVFAIL): a
	// receiver may answer 451 rather than act on State.
	Temporary bool

	// Trusted is the oldest ARC set that trusted sealers vouch for, when
	// the chain passes and VerifyOptions.TrustedSealers names its
	// sealer: the authentication results it recorded (its ARC-
	// Authentication-Results) may stand in for checks that the message
	// fails now, such as DMARC after a mailing list (RFC 8617 section
	// 7.2). A set i qualifies when its sealer is trusted and either every
	// newer sealer is trusted too, or the message is unchanged since i
	// sealed it (i >= OldestPass).
	Trusted *Set
}

// A Set is one ARC set as a result reports it.
type Set struct {
	Instance   int
	Domain     string // ARC-Seal d=
	AuthServID string // authserv-id of its ARC-Authentication-Results

	// Results are the authentication results the sealer recorded, as
	// authres.Parse reads them (it drops comments and some properties;
	// Raw has everything).
	Results []authres.Result

	// Raw is the ARC-Authentication-Results value after "i=N;":
	// "authserv-id; method=result ...", as written.
	Raw string
}

// AuthResult returns the arc= result for this receiver's own
// Authentication-Results header field (RFC 8617 section 10.1, RFC 8601),
// with header.oldest-pass when the oldest passing instance is not the
// first, and the reason on failure. It is an *authres.GenericResult with
// Method "arc", because authres.Format of go-msgauth v0.7.0 writes no
// method name for an *authres.ARCResult.
func (r *Result) AuthResult() authres.Result {
	params := map[string]string{}
	switch r.State {
	case StatePass:
		if r.OldestPass > 1 {
			params["header.oldest-pass"] = strconv.Itoa(r.OldestPass)
		}
	case StateFail:
		params["reason"] = r.Reason
	}
	return &authres.GenericResult{Method: "arc", Value: authres.ResultValue(r.State), Params: params}
}

// Verify validates the ARC chain of the message read from r (RFC 8617
// section 5.2). It reads r to the end, once, hashing the body as it
// streams, so it can sit behind an io.TeeReader that spools the message.
// The error is only for reading r: a chain that does not validate is a
// Result with State fail. ctx bounds the key lookups, up to two per
// instance: give it a deadline.
func Verify(ctx context.Context, r io.Reader, opts *VerifyOptions) (*Result, error) {
	v := newVerifier(ctx, opts)
	br := bufio.NewReaderSize(r, readBufSize)
	fields, err := readHeader(br, v.maxFields, v.maxBytes)
	var limitErr *headerLimitError
	if errors.As(err, &limitErr) {
		if err := drain(br); err != nil {
			return nil, err
		}
		return &Result{State: StateFail, Reason: limitErr.Error()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("arc: reading header: %w", err)
	}
	v.fields = fields
	res, err := v.run(br)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// maxBodyHashes is how many body hashes (canonicalisation and l=
// pairs) Verify computes for one message: the newest AMS's, and those
// of older ones for oldest-pass (RFC 8617 section 5.2 step 5, optional).
// Real chains need one or two; without a bound, fifty signatures with
// fifty l= values would have the body hashed fifty times.
const maxBodyHashes = 4

// readBufSize is the buffer the message is read through.
const readBufSize = 32 << 10

// drain reads the rest of the message.
func drain(br *bufio.Reader) error {
	if _, err := br.WriteTo(io.Discard); err != nil {
		return fmt.Errorf("arc: reading message: %w", err)
	}
	return nil
}

// A verifier holds the state of one Verify call.
type verifier struct {
	ctx       context.Context
	lookup    func(context.Context, string) ([]string, error)
	trusted   map[string]bool
	minBits   int
	maxFields int
	maxBytes  int
	now       func() time.Time

	fields []field
	keys   map[string]keyResult // by selector and domain
}

type keyResult struct {
	key *publicKey
	err error
}

func newVerifier(ctx context.Context, o *VerifyOptions) *verifier {
	if o == nil {
		o = &VerifyOptions{}
	}
	v := &verifier{
		ctx:       ctx,
		lookup:    o.LookupTXT,
		minBits:   o.MinRSAKeyBits,
		maxFields: o.MaxHeaderFields,
		maxBytes:  o.MaxHeaderBytes,
		now:       o.Now,
	}
	if v.lookup == nil {
		v.lookup = net.DefaultResolver.LookupTXT
	}
	if v.minBits <= 0 {
		v.minBits = MinRSAKeyBits
	}
	if v.maxFields <= 0 {
		v.maxFields = MaxHeaderFields
	}
	if v.maxBytes <= 0 {
		v.maxBytes = MaxHeaderBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	for _, d := range o.TrustedSealers {
		if v.trusted == nil {
			v.trusted = make(map[string]bool)
		}
		v.trusted[normDomain(d)] = true
	}
	return v
}

// normDomain is a domain in the form domains are compared in.
func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// A failure is a chain that does not validate.
type failure struct {
	reason    string
	temporary bool
}

func failf(format string, args ...any) *failure {
	return &failure{reason: fmt.Sprintf(format, args...)}
}

// run carries out RFC 8617 section 5.2 on v.fields, reading the body
// from br when it needs its hash, and draining it otherwise.
func (v *verifier) run(br *bufio.Reader) (*Result, error) {
	c := parseChain(v.fields)
	res := &Result{Instance: c.n()}
	if !c.found {
		// Step 1: no ARC sets, state none.
		res.State = StateNone
		return res, drain(br)
	}
	seals, amss := make([]*arcSeal, c.n()), make([]*ams, c.n())
	res.Domains = make([]string, c.n())
	for i := range c.sets {
		if s := c.sets[i].as; len(s) == 1 {
			if tags, err := parseTags(s[0].value()); err == nil {
				res.Domains[i], _ = tags.get("d")
			}
		}
	}
	fail := v.checkStructure(c, seals, amss)
	if fail != nil {
		res.State, res.Reason = StateFail, fail.reason
		return res, drain(br)
	}
	n := c.n()

	// The body hashes every parsed AMS asks for, computed in one pass;
	// most chains need one.
	type bodyKey struct {
		c     canon
		limit int64
	}
	hashers := map[bodyKey]*bodyHasher{}
	var fan fanout
	for i := n; i >= 1; i-- {
		m := amss[i-1]
		if m == nil {
			break // oldest-pass stops here anyway
		}
		k := bodyKey{m.bc, m.length}
		if hashers[k] == nil {
			if len(hashers) == maxBodyHashes {
				// Older signatures that want yet another body hash
				// count as not validating: oldest-pass stops here.
				amss[i-1] = nil
				break
			}
			hashers[k] = newBodyHasher(sha256.New(), m.bc, m.length)
			fan = append(fan, hashers[k])
		}
	}
	if _, err := br.WriteTo(fan); err != nil {
		return nil, fmt.Errorf("arc: reading body: %w", err)
	}
	sums := make(map[bodyKey][]byte, len(hashers))
	for k, h := range hashers {
		sums[k] = h.Sum()
	}
	bodyHash := func(m *ams) []byte { return sums[bodyKey{m.bc, m.length}] }

	// Step 4: the newest AMS must validate.
	if fail := v.checkAMS(amss[n-1], bodyHash(amss[n-1])); fail != nil {
		res.State, res.Reason, res.Temporary = StateFail, fail.reason, fail.temporary
		return res, nil
	}
	// Step 5: oldest-pass, walking down while AMSs still validate.
	oldest := n
	for i := n - 1; i >= 1; i-- {
		m := amss[i-1]
		if m == nil || v.checkAMS(m, bodyHash(m)) != nil {
			break
		}
		oldest = i
	}
	// Step 6: every AS, newest first.
	for i := n; i >= 1; i-- {
		if fail := v.checkSeal(c, seals, i); fail != nil {
			res.State, res.Reason, res.Temporary = StateFail, fail.reason, fail.temporary
			return res, nil
		}
	}
	// Step 7: pass.
	res.State, res.OldestPass = StatePass, oldest
	res.Trusted = v.trustedSet(c, seals, oldest)
	return res, nil
}

// checkStructure applies RFC 8617 section 5.2 steps 2 and 3 and parses
// the seals and signatures into seals and amss (nil where an older AMS
// does not parse: it then only ends oldest-pass).
func (v *verifier) checkStructure(c *chain, seals []*arcSeal, amss []*ams) *failure {
	n := c.n()
	if n == 0 {
		return &failure{reason: c.broken} // ARC fields, none with an instance
	}
	// Step 2: the newest seal says the chain already failed.
	if s := c.sets[n-1].as; len(s) == 1 {
		if top, err := parseARCSeal(s[0]); err == nil && top.cv == cvFail {
			return failf("i=%d: ARC-Seal has cv=fail", n)
		}
	}
	// Step 3: one of each field per instance, 1 to N...
	if c.broken != "" {
		return &failure{reason: c.broken}
	}
	for i := 1; i <= n; i++ {
		s, err := parseARCSeal(c.sets[i-1].as[0])
		if err != nil {
			return failf("i=%d: ARC-Seal: %v", i, err)
		}
		// ... and cv=none on instance 1, cv=pass above (step 3.3).
		if i == 1 && s.cv != cvNone || i > 1 && s.cv != cvPass {
			return failf("i=%d: ARC-Seal has cv=%s", i, s.cv)
		}
		seals[i-1] = s
		m, err := parseAMS(c.sets[i-1].ams[0])
		if err != nil {
			if i == n {
				return failf("i=%d: ARC-Message-Signature: %v", i, err)
			}
			continue
		}
		amss[i-1] = m
	}
	return nil
}

// checkAMS validates an ARC-Message-Signature (RFC 8617 section 5.2 step
// 4, which is DKIM verification, RFC 6376 section 6.1.3) given the hash
// of the body canonicalised as it asks.
func (v *verifier) checkAMS(m *ams, bodyHash []byte) *failure {
	if !bytes.Equal(bodyHash, m.bodyHash) {
		return failf("i=%d: ARC-Message-Signature body hash mismatch", m.instance)
	}
	if m.x >= 0 && v.now().Unix() > m.x {
		// RFC 6376 section 3.5, x=: past it, the signature is invalid.
		return failf("i=%d: ARC-Message-Signature expired", m.instance)
	}
	key, fail := v.key(m.selector, m.domain, "ARC-Message-Signature", m.instance)
	if fail != nil {
		return fail
	}
	if err := verifySig(key, m.algo, amsHash(v.fields, m), m.sig); err != nil {
		return failf("i=%d: ARC-Message-Signature: %v", m.instance, err)
	}
	return nil
}

// amsHash is the header hash of an AMS (RFC 6376 section 3.7): the
// fields h= names, then the AMS itself without its b= value and final
// CRLF, in its header canonicalisation.
func amsHash(fields []field, m *ams) []byte {
	h := sha256.New()
	var buf []byte
	for _, f := range selectHeaders(fields, m.headers) {
		buf = appendHeader(buf[:0], f.raw, m.hc)
		h.Write(buf)
	}
	buf = appendHeader(buf[:0], removeSigValue(m.f.raw, m.f.colon), m.hc)
	h.Write(buf[:len(buf)-2])
	return h.Sum(nil)
}

// checkSeal validates the ARC-Seal of instance i (RFC 8617 section 5.2
// step 6).
func (v *verifier) checkSeal(c *chain, seals []*arcSeal, i int) *failure {
	s := seals[i-1]
	key, fail := v.key(s.selector, s.domain, "ARC-Seal", i)
	if fail != nil {
		return fail
	}
	set := &c.sets[i-1]
	if err := verifySig(key, s.algo, sealHash(c, i-1, [3]*field{set.aar[0], set.ams[0], set.as[0]}), s.sig); err != nil {
		return failf("i=%d: ARC-Seal: %v", i, err)
	}
	return nil
}

// sealHash is the hash an ARC-Seal signs (RFC 8617 section 5.1.1): the
// AAR, AMS and AS of every instance from 1 up, in that order, in relaxed
// canonicalisation. It hashes the sets 1 to prior of c, then last (AAR,
// AMS, AS of the seal's own instance) with the AS's b= value and final
// CRLF removed. A cv=fail seal has prior 0: it covers only its own set
// (section 5.1.2).
func sealHash(c *chain, prior int, last [3]*field) []byte {
	h := sha256.New()
	var buf []byte
	for j := 1; j <= prior; j++ {
		s := &c.sets[j-1]
		for _, f := range [3]*field{s.aar[0], s.ams[0], s.as[0]} {
			buf = appendRelaxedHeader(buf[:0], f.raw)
			h.Write(buf)
		}
	}
	for k, f := range last {
		if k < 2 {
			buf = appendRelaxedHeader(buf[:0], f.raw)
			h.Write(buf)
			continue
		}
		buf = appendRelaxedHeader(buf[:0], removeSigValue(f.raw, f.colon))
		h.Write(buf[:len(buf)-2])
	}
	return h.Sum(nil)
}

// key returns the key for a signature, looked up once per Verify.
func (v *verifier) key(selector, domain, what string, i int) (*publicKey, *failure) {
	name := keyName(selector, domain)
	r, ok := v.keys[strings.ToLower(name)]
	if !ok {
		r.key, r.err = lookupKey(v.ctx, v.lookup, selector, domain, v.minBits)
		if v.keys == nil {
			v.keys = make(map[string]keyResult)
		}
		v.keys[strings.ToLower(name)] = r
	}
	if r.err != nil {
		f := failf("i=%d: %s: %v", i, what, r.err)
		var ke *keyError
		f.temporary = errors.As(r.err, &ke) && ke.temporary
		return nil, f
	}
	return r.key, nil
}

// trustedSet finds Result.Trusted in a chain that passed.
func (v *verifier) trustedSet(c *chain, seals []*arcSeal, oldest int) *Set {
	if len(v.trusted) == 0 {
		return nil
	}
	n := c.n()
	trusted := func(i int) bool { return v.trusted[normDomain(seals[i-1].domain)] }
	best := 0
	// Sets vouched for by an unbroken run of trusted sealers up to N.
	for i := n; i >= 1 && trusted(i); i-- {
		best = i
	}
	// Sets the message is unchanged since.
	for i := n; i >= oldest; i-- {
		if trusted(i) && (best == 0 || i < best) {
			best = i
		}
	}
	if best == 0 {
		return nil
	}
	_, payload, _ := parseAAR(c.sets[best-1].aar[0].value())
	id, results, _ := authres.Parse(payload)
	return &Set{
		Instance:   best,
		Domain:     seals[best-1].domain,
		AuthServID: id,
		Results:    results,
		Raw:        payload,
	}
}

// fanout writes to several body hashers.
type fanout []*bodyHasher

func (f fanout) Write(p []byte) (int, error) {
	for _, h := range f {
		h.Write(p)
	}
	return len(p), nil
}

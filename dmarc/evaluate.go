package dmarc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/authres"
)

// DefaultTimeout bounds the DNS work of one evaluation, DKIM key lookups
// included; past it, lookups fail as temporary errors.
const DefaultTimeout = 20 * time.Second

// Options configure an Evaluator. The zero value evaluates as RFC 7489
// says, with net.DefaultResolver and the Public Suffix List compiled into
// golang.org/x/net/publicsuffix.
type Options struct {
	// Resolver answers the DNS queries: _dmarc records, DKIM keys, and
	// for np= the existence of the From domain. nil means
	// net.DefaultResolver.
	Resolver Resolver

	// SuffixList replaces the compiled-in Public Suffix List for finding
	// organisational domains (RFC 7489 section 3.2), as Exim's
	// dmarc_tld_file does. Unused in DMARCbis mode.
	SuffixList *SuffixList

	// DMARCbis evaluates by RFC 9989 instead of RFC 7489: records and
	// organisational domains are found by the DNS Tree Walk (section
	// 4.10) instead of the Public Suffix List, psd= and np= count, t=y
	// lowers the policy one level, and pct= is ignored.
	DMARCbis bool

	// Exists decides, in DMARCbis mode, whether the From domain exists,
	// for np= (RFC 9989 section 4.10.1: it does not when a query for it
	// gives NXDOMAIN). nil means: it exists when it has an A, AAAA or
	// MX record (RFC 9091 section 2.7), since a *net.Resolver does not
	// tell NXDOMAIN from NODATA. A DNS client that sees the RCODE can
	// do the exact test here.
	Exists func(ctx context.Context, domain string) (bool, error)

	// Rand draws the pct= samples (RFC 7489 section 6.6.4). nil means a
	// randomly seeded source; tests pass a seeded one, such as
	// rand.NewPCG(1, 2), for repeatable results.
	Rand rand.Source

	// Timeout bounds each evaluation's DNS work on top of the caller's
	// context; 0 means DefaultTimeout.
	Timeout time.Duration

	// MaxSignatures is the number of DKIM signatures verified per
	// message; 0 means DefaultMaxSignatures.
	MaxSignatures int

	// MaxHeaderBytes bounds the header section held in memory; 0 means
	// DefaultMaxHeaderBytes. A larger header section is not evaluated:
	// Evaluate fails with ErrHeaderTooLarge.
	MaxHeaderBytes int

	// MaxAuthorDomains bounds the distinct Author Domains of a message,
	// each evaluated (RFC 7489 section 6.6.1); 0 means
	// DefaultMaxAuthorDomains. A message with more is not evaluated:
	// Evaluate fails with ErrTooManyAuthors.
	MaxAuthorDomains int

	// Now gives the time recorded in each Result; nil means time.Now.
	Now func() time.Time
}

// An Evaluator evaluates messages against their From domain's DMARC
// policy. It is safe for concurrent use.
type Evaluator struct {
	res       Resolver
	list      *SuffixList
	bis       bool
	exists    func(context.Context, string) (bool, error)
	timeout   time.Duration
	maxSigs   int
	maxHeader int
	maxAuthor int
	now       func() time.Time

	mu  sync.Mutex // guards rnd
	rnd rand.Source
}

// New returns an Evaluator with the given options; nil means the zero
// Options.
func New(opts *Options) *Evaluator {
	var o Options
	if opts != nil {
		o = *opts
	}
	e := &Evaluator{
		res:       o.Resolver,
		list:      o.SuffixList,
		bis:       o.DMARCbis,
		exists:    o.Exists,
		timeout:   o.Timeout,
		maxSigs:   o.MaxSignatures,
		maxHeader: o.MaxHeaderBytes,
		maxAuthor: o.MaxAuthorDomains,
		now:       o.Now,
		rnd:       o.Rand,
	}
	if e.res == nil {
		e.res = net.DefaultResolver
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.maxSigs <= 0 {
		e.maxSigs = DefaultMaxSignatures
	}
	if e.maxHeader <= 0 {
		e.maxHeader = DefaultMaxHeaderBytes
	}
	if e.maxAuthor <= 0 {
		e.maxAuthor = DefaultMaxAuthorDomains
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rnd == nil {
		e.rnd = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	if e.exists == nil {
		res := e.res
		e.exists = func(ctx context.Context, d string) (bool, error) { return exists(ctx, res, d) }
	}
	return e
}

// Input is what the SMTP session knows of a message besides its content.
type Input struct {
	// IP is the client's address, the source_ip of reports.
	IP netip.Addr

	// HELO is the HELO or EHLO name.
	HELO string

	// MailFrom is the reverse-path (RFC 5321 MAIL FROM), "" for the
	// null reverse-path.
	MailFrom string

	// SPF is the SPF result for the MAIL FROM identity, or for the
	// HELO identity when MailFrom is null (RFC 7489 section 4.1), as the
	// spf package's Outcome.AuthResult gives it: smtp.mailfrom set for
	// the MAIL FROM identity, only smtp.helo for the HELO identity. nil
	// means no SPF check ran, which counts as SPF none. A HELO result
	// for a message with a non-null MailFrom does not count.
	SPF *authres.SPFResult
}

// SPFCheck is the SPF side of an evaluation.
type SPFCheck struct {
	// Result is the SPF result (RFC 7208 section 2.6), none when no
	// check ran.
	Result authres.ResultValue

	// Domain is the domain SPF checked: the MAIL FROM domain, or the
	// HELO name for a null reverse-path.
	Domain string

	// Scope is "mfrom" or "helo" (RFC 7489 Appendix C).
	Scope string

	// Aligned is set for a pass whose domain is in alignment with the
	// From domain (RFC 7489 section 3.1.2).
	Aligned bool
}

// A Result is the outcome of one evaluation, with the values Exim gives
// its DMARC variables.
type Result struct {
	// Status is Exim's $dmarc_status.
	Status Status

	// StatusText is a human-readable account of Status, Exim's
	// $dmarc_status_text.
	StatusText string

	// Value is the dmarc= result of Authentication-Results (RFC 7489
	// section 11.2, RFC 9989 section 10.2): pass, fail, none (no record),
	// temperror, or permerror (no usable From domain). It is "" for
	// StatusOff.
	Value authres.ResultValue

	// FromDomain is the Author Domain, the RFC5322.From domain in
	// lower-case A-labels (header.from); "" for nofrom.
	FromDomain string

	// Authors holds, for a message with several Author Domains (several
	// From fields, or several addresses in one: RFC 7489 section 6.6.1),
	// the result of each, in the order of the header section, and one
	// with StatusNoFrom when a From field or address gave no domain. The
	// Result itself is a copy of the strictest of them (see Stricter),
	// with Authors set; the session wrapper applies the one its options
	// make strictest. nil for a message with one Author Domain, or none.
	Authors []*Result

	// UsedDomain is the domain whose _dmarc record was used, or the last
	// one looked up when none was found: Exim's $dmarc_used_domain.
	UsedDomain string

	// DomainPolicy is the policy the record sets for this message, p=,
	// sp= or np=: Exim's $dmarc_domain_policy. It is "" when no record
	// applies.
	DomainPolicy Policy

	// Disposition is the policy to apply: DomainPolicy lowered by pct=
	// sampling or t=y, and none for a message that passed. It is ""
	// when no record applies.
	Disposition Policy

	// OrgDomain is the From domain's organisational domain.
	OrgDomain string

	// Record is the policy record applied, nil when none.
	Record *Record

	// SPFAligned and DKIMAligned tell which identifier gave an aligned
	// pass: Exim's $dmarc_alignment_spf and $dmarc_alignment_dkim.
	SPFAligned  bool
	DKIMAligned bool

	// SPF is the SPF result as DMARC used it.
	SPF SPFCheck

	// DKIM holds one result per DKIM signature verified.
	DKIM []DKIMResult

	// SampledOut is set when pct= sampling lowered the policy (RFC 7489
	// section 6.6.4), Testing when t=y did (RFC 9989 section 4.7).
	SampledOut bool
	Testing    bool

	// Nonexistent is set when np= applied (RFC 9989 section 4.10.1).
	Nonexistent bool

	// Override is the reason a session Check gave to deliver although
	// Disposition said reject or quarantine (a local policy override,
	// RFC 7489 section 7.2), "" when none.
	Override string

	// IP is Input.IP; Received is when the evaluation ran.
	IP       netip.Addr
	Received time.Time

	// Err says what went wrong for nofrom (wrapping ErrNoFrom and its
	// siblings), temperror (wrapping ErrDNS), and why a record was not
	// used for norecord. It is for logs.
	Err error
}

// Evaluate reads a message (header section and body, as received in
// DATA) once, verifies its DKIM signatures, and evaluates it against the
// DMARC policy of each of its Author Domains (RFC 7489 section 6.6). The
// error is non-nil when the message cannot be read, and when it cannot
// be evaluated at all: its header section is over MaxHeaderBytes
// (ErrHeaderTooLarge) or it has more than MaxAuthorDomains Author
// Domains (ErrTooManyAuthors). Such a message must be refused, not
// delivered. Every DMARC outcome, failures included, is in the Result.
func (e *Evaluator) Evaluate(ctx context.Context, in *Input, msg io.Reader) (*Result, error) {
	br := bufio.NewReaderSize(msg, 32<<10)
	h, err := readHeader(br, e.maxHeader)
	if err != nil {
		return nil, fmt.Errorf("dmarc: reading message: %w", err)
	}
	return e.evaluateHeader(ctx, in, h, br)
}

// evaluateHeader is Evaluate for a message whose header section h has
// been read, body being the rest.
func (e *Evaluator) evaluateHeader(ctx context.Context, in *Input, h *header, body io.Reader) (*Result, error) {
	if in == nil {
		in = &Input{}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	a, err := authorDomains(h, e.maxAuthor)
	if err != nil {
		return nil, fmt.Errorf("dmarc: %w", err)
	}
	base := Result{IP: in.IP, Received: e.now(), SPF: spfCheck(in)}
	base.DKIM, err = verifyDKIM(ctx, e.res, h, body, e.maxSigs)
	if err != nil {
		return nil, fmt.Errorf("dmarc: reading message: %w", err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return nil, fmt.Errorf("dmarc: reading message: %w", err)
	}
	var results []*Result
	for _, author := range a.domains {
		r := base
		r.DKIM = append([]DKIMResult(nil), base.DKIM...)
		r.FromDomain = author
		e.evaluate(ctx, &r, author)
		results = append(results, &r)
	}
	if a.noFrom != nil {
		r := base
		r.setNoFrom(a.noFrom)
		results = append(results, &r)
	}
	if len(results) == 1 {
		return results[0], nil
	}
	top := *results[0]
	for _, r := range results[1:] {
		if r.Stricter(&top) {
			top = *r
		}
	}
	top.Authors = results
	return &top, nil
}

// Stricter reports whether r is a stricter outcome than o, in this order
// from the strictest: reject, nofrom, temperror, quarantine, none,
// norecord, accept, off. Evaluate returns the strictest result of a
// message with several Author Domains; an SMTP server whose options
// treat statuses otherwise picks among Result.Authors itself.
func (r *Result) Stricter(o *Result) bool { return r.Status.rank() > o.Status.rank() }

// spfCheck picks the SPF result DMARC uses (RFC 7489 section 4.1): the
// MAIL FROM identity, or the HELO identity for a null reverse-path.
func spfCheck(in *Input) SPFCheck {
	c := SPFCheck{Result: authres.ResultNone, Scope: "mfrom", Domain: domainOf(in.MailFrom)}
	if in.MailFrom == "" {
		c.Scope, c.Domain = "helo", normalizeOrLower(in.HELO)
	}
	s := in.SPF
	if s == nil {
		return c
	}
	switch {
	case s.From != "":
		c.Domain = domainOf(s.From)
	case s.Helo != "" && in.MailFrom == "":
		c.Domain = normalizeOrLower(s.Helo)
	default:
		// A HELO result for a message with a sender: not DMARC's.
		return c
	}
	c.Result = s.Value
	return c
}

// domainOf is the normalised domain of an address, or of a bare domain.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		addr = addr[i+1:]
	}
	return normalizeOrLower(addr)
}

func normalizeOrLower(d string) string {
	if n, err := normalizeDomain(d); err == nil {
		return n
	}
	return strings.ToLower(strings.TrimSuffix(d, "."))
}

func (r *Result) setNoFrom(err error) {
	r.Status, r.Value = StatusNoFrom, authres.ResultPermError
	r.Err = err
	r.StatusText = "No usable From domain: " + err.Error()
}

// evaluate does the DNS side of an evaluation for a message whose Author
// Domain is author: policy discovery, alignment and disposition.
func (e *Evaluator) evaluate(ctx context.Context, r *Result, author string) {
	d := newDiscovery(e.res, e.bis)
	rec, used, note, err := e.discover(ctx, d, author)
	r.UsedDomain = used
	if err != nil {
		r.setTempError(err)
		return
	}
	if rec == nil {
		r.Status, r.Value = StatusNoRecord, authres.ResultNone
		r.StatusText = "No DMARC record for " + author
		if note != "" {
			r.StatusText += ": " + note
			r.Err = errors.New(note)
		}
		return
	}
	r.Record = rec
	r.OrgDomain, err = e.orgDomain(ctx, d, author)
	if err != nil {
		r.setTempError(err)
		return
	}

	// Identifier alignment (RFC 7489 section 3.1, RFC 9989 section
	// 4.4): an aligned pass of either mechanism is a DMARC pass.
	var temp error
	if r.SPF.Result == authres.ResultPass || r.SPF.Result == authres.ResultTempError {
		ok, err := e.aligned(ctx, d, rec.SPFAlignment, r.SPF.Domain, author, r.OrgDomain)
		switch {
		case err != nil:
			temp = err
		case ok && r.SPF.Result == authres.ResultPass:
			r.SPF.Aligned, r.SPFAligned = true, true
		case ok:
			temp = fmt.Errorf("%w: SPF temperror for %s", ErrDNS, r.SPF.Domain)
		}
	}
	for i := range r.DKIM {
		k := &r.DKIM[i]
		if k.Result != authres.ResultPass && k.Result != authres.ResultTempError {
			continue
		}
		ok, err := e.aligned(ctx, d, rec.DKIMAlignment, k.Domain, author, r.OrgDomain)
		switch {
		case err != nil:
			temp = err
		case ok && k.Result == authres.ResultPass:
			k.Aligned, r.DKIMAligned = true, true
		case ok:
			temp = fmt.Errorf("%w: DKIM key lookup for %s: %w", ErrDNS, k.Domain, k.Err)
		}
	}
	if r.SPFAligned || r.DKIMAligned {
		r.Status, r.Value = StatusAccept, authres.ResultPass
		r.DomainPolicy = rec.policyFor(author, false)
		r.Disposition = PolicyNone
		r.StatusText = "DMARC pass for " + author + " (" + r.passedBy() + ")"
		return
	}

	// The message fails: which policy, and how much of it (RFC 7489
	// section 6.6.4, RFC 9989 section 4.10.1).
	nonexistent := false
	if e.bis && rec.NonexistentPolicy != "" && !sameDomain(author, rec.Domain) {
		ok, err := e.exists(ctx, author)
		if err != nil {
			r.setTempError(err)
			return
		}
		nonexistent = !ok
	}
	p := rec.policyFor(author, nonexistent)
	r.DomainPolicy, r.Disposition = p, p
	r.Nonexistent = nonexistent && p == rec.NonexistentPolicy
	if e.bis {
		if rec.Testing && p != PolicyNone {
			r.Disposition, r.Testing = p.lower(), true
		}
	} else if rec.Percent < 100 && p != PolicyNone && !e.sample(rec.Percent) {
		r.Disposition, r.SampledOut = p.lower(), true
	}
	if temp != nil && r.Disposition != PolicyNone {
		// An identifier that would align could not be checked: no
		// disposition can be decided now.
		r.setTempError(temp)
		return
	}
	r.Value = authres.ResultFail
	switch r.Disposition {
	case PolicyReject:
		r.Status = StatusReject
	case PolicyQuarantine:
		r.Status = StatusQuarantine
	default:
		r.Status = StatusNone
	}
	r.StatusText = "DMARC fail for " + author + ": no aligned SPF or DKIM pass; policy " + string(p)
	switch {
	case r.SampledOut:
		r.StatusText += fmt.Sprintf(", pct=%d sampled out to %s", rec.Percent, r.Disposition)
	case r.Testing:
		r.StatusText += ", t=y lowers it to " + string(r.Disposition)
	}
}

func (r *Result) setTempError(err error) {
	r.Status, r.Value = StatusTempError, authres.ResultTempError
	r.Err = err
	r.StatusText = "Temporary DMARC error: " + err.Error()
	r.DomainPolicy, r.Disposition = "", ""
}

// passedBy names the aligned identifiers that passed.
func (r *Result) passedBy() string {
	var by []string
	for _, k := range r.DKIM {
		if k.Aligned {
			by = append(by, "aligned DKIM d="+k.Domain)
		}
	}
	if r.SPFAligned {
		by = append(by, "aligned SPF "+r.SPF.Domain)
	}
	return strings.Join(by, ", ")
}

// sample reports whether a message falls in the pct percent the policy
// applies to (RFC 7489 section 6.6.4).
func (e *Evaluator) sample(pct int) bool {
	e.mu.Lock()
	v := e.rnd.Uint64() % 100
	e.mu.Unlock()
	return int(v) < pct
}

// discover finds the policy record for author (RFC 7489 section 6.6.3,
// RFC 9989 section 4.10.1). It returns the record (nil for none), the
// domain used, a note on records found but not usable, and a temporary
// DNS error.
func (e *Evaluator) discover(ctx context.Context, d *discovery, author string) (*Record, string, string, error) {
	f := d.record(ctx, author)
	if f.err != nil || f.rec != nil {
		return f.rec, author, "", f.err
	}
	note := f.note
	if !e.bis {
		if note != "" {
			// Several records, or one that cannot apply: RFC 7489
			// section 6.6.3 steps 5 and 6 end discovery here.
			return nil, author, note, nil
		}
		// Step 3: the organisational domain.
		org := e.pslOrg(author)
		if org == author {
			return nil, author, note, nil
		}
		g := d.record(ctx, org)
		if g.note != "" {
			note = g.note
		}
		return g.rec, org, note, g.err
	}
	recs, err := d.walk(ctx, author)
	if err != nil {
		return nil, author, note, err
	}
	if len(recs) == 0 {
		used := lastLabels(author, 1)
		return nil, used, note, nil
	}
	org := orgFromWalk(author, recs)
	for _, r := range recs {
		if r.Domain == org {
			return r, org, note, nil
		}
	}
	// The organisational domain has no record: the Public Suffix
	// Domain's applies.
	last := recs[len(recs)-1]
	return last, last.Domain, note, nil
}

// orgDomain is the organisational domain of a normalised domain: by the
// suffix list, or by a tree walk in DMARCbis mode.
func (e *Evaluator) orgDomain(ctx context.Context, d *discovery, domain string) (string, error) {
	if !e.bis {
		return e.pslOrg(domain), nil
	}
	recs, err := d.walk(ctx, domain)
	if err != nil {
		return "", err
	}
	return orgFromWalk(domain, recs), nil
}

func (e *Evaluator) pslOrg(domain string) string {
	if e.list != nil {
		return e.list.OrganizationalDomain(domain)
	}
	return pslOrgDomain(domain)
}

// aligned reports whether an authenticated identifier is in alignment
// with the Author Domain: the same name in strict mode, the same
// organisational domain in relaxed mode (RFC 7489 section 3.1).
func (e *Evaluator) aligned(ctx context.Context, d *discovery, mode Alignment, id, author, authorOrg string) (bool, error) {
	if id == "" {
		return false, nil
	}
	if sameDomain(id, author) {
		return true, nil
	}
	if mode == Strict {
		return false, nil
	}
	// An organisational domain is the name itself or an ancestor, so an
	// identifier outside the author's organisational domain cannot
	// share it: no lookups for those.
	if !sameDomain(id, authorOrg) && !strings.HasSuffix(id, "."+authorOrg) {
		return false, nil
	}
	org, err := e.orgDomain(ctx, d, id)
	if err != nil {
		return false, err
	}
	return sameDomain(org, authorOrg), nil
}

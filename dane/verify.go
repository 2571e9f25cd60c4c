package dane

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Verification errors; a failed DANE verification defers the host with
// no fallback (RFC 7672 section 2.2).
var (
	// ErrNoMatch: no usable TLSA record matches the server's chain.
	ErrNoMatch = errors.New("dane: no TLSA record matches the server certificate chain")
	// ErrName: a DANE-TA chain matched, but the certificate names none
	// of the reference identifiers (RFC 7672 section 3.2.2).
	ErrName = errors.New("dane: certificate does not name the destination")
)

// Policy is the DANE outcome for one host, from Lookup: what the TLS
// handshake must do, and after it what happened. A Policy may serve
// several connections to its host, one after another.
type Policy struct {
	Mode Mode
	// Host is the destination host as given, without a trailing dot.
	Host string
	// Addrs are the host's addresses (A, then AAAA) and AddrSecure
	// whether they are DNSSEC-validated; dial these.
	Addrs      []netip.Addr
	AddrSecure bool
	// BaseDomain is the TLSA base domain, the name sent as SNI (RFC 7672
	// section 8.1); empty without TLSA records.
	BaseDomain string
	// Records are the secure TLSA records found; Usable those an SMTP
	// client may use (see Usable).
	Records, Usable []Record
	// Names are the reference identifiers for DANE-TA (RFC 7672 section
	// 3.2.2).
	Names []string
	// Action is what the handshake must do.
	Action Action
	// Reason says why DANE is not used, for logs.
	Reason string

	mu   sync.Mutex
	last Result
}

// Result is what a caller logs about one TLS session, with Exim's
// variables in mind.
type Result struct {
	Action Action
	// CV is Exim's CV= log field: "dane" for a DANE-verified server,
	// "yes" for a PKIX-verified one, "no" otherwise.
	CV string
	// Verified is true when DANE authenticated the server ($tls_out_dane).
	Verified bool
	// Usages is the bit field of the TLSA usages present among the
	// usable records: bit N for usage N ($tls_out_tlsa_usage).
	Usages uint8
	// Matched is the record that authenticated the server, and Depth the
	// position in the chain of the certificate it matched (0 the server's
	// own certificate, -1 a "2 1 0" key of a trust anchor the server did
	// not send).
	Matched *Record
	Depth   int
	// Name is the reference identifier the certificate matched (DANE-TA).
	Name string
	// Err is the verification error, if any.
	Err error
}

// LogValue groups the fields for log/slog.
func (r Result) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("cv", r.CV),
		slog.Bool("dane", r.Verified),
		slog.Int("tlsa_usage", int(r.Usages)),
	}
	if r.Matched != nil {
		attrs = append(attrs, slog.String("tlsa", r.Matched.String()), slog.Int("depth", r.Depth))
	}
	if r.Name != "" {
		attrs = append(attrs, slog.String("name", r.Name))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("err", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// TLSRequired reports whether the connection must use TLS: with secure
// TLSA records (Authenticate or MandatoryTLS) a server without STARTTLS,
// or a failed handshake, makes the host unusable (RFC 7672 section 2.2).
// Give the client engine client.TLSRequired then, client.TLSOpportunistic
// otherwise.
func (p *Policy) TLSRequired() bool { return p.Action != Opportunistic }

// Result returns the result of the last handshake that used
// TLSConfig's callbacks.
func (p *Policy) Result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// TLSConfig returns a copy of base (nil: an empty config) for STARTTLS to
// this host. With DANE (Authenticate, MandatoryTLS) it sets ServerName to
// the TLSA base domain (RFC 7672 section 8.1), turns off PKIX
// verification, which DANE replaces (RFC 7672 section 3.1; Exim ignores
// tls_verify_* then), and verifies the TLSA records in VerifyConnection.
// With Opportunistic it keeps base's verification and only records
// whether the certificate verified (CV=yes|no). Either way base's own
// VerifyConnection runs after DANE's (an OCSP check, for instance).
func (p *Policy) TLSConfig(base *tls.Config) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	next := c.VerifyConnection
	roots, skip := c.RootCAs, c.InsecureSkipVerify
	if p.Action != Opportunistic {
		c.ServerName = p.BaseDomain
		c.InsecureSkipVerify = true
	}
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		var r Result
		var err error
		if p.Action == Opportunistic {
			r = p.opportunistic(cs, roots, skip)
		} else {
			r, err = p.Verify(cs)
		}
		p.mu.Lock()
		p.last = r
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return c
}

// opportunistic records CV for a non-DANE session.
func (p *Policy) opportunistic(cs tls.ConnectionState, roots *x509.CertPool, skip bool) Result {
	r := Result{Action: Opportunistic, CV: "no", Depth: -1}
	switch {
	case !skip:
		// crypto/tls verified the chain and name before this callback.
		r.CV = "yes"
	case len(cs.PeerCertificates) > 0:
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, DNSName: cs.ServerName,
		})
		if err == nil {
			r.CV = "yes"
		}
	}
	return r
}

// Verify checks a TLS session against the policy: for Authenticate, the
// server's chain must match a usable TLSA record (RFC 7672 section 3);
// for MandatoryTLS, any certificate will do; for Opportunistic nothing is
// checked. It is what TLSConfig's VerifyConnection runs.
func (p *Policy) Verify(cs tls.ConnectionState) (Result, error) {
	r := Result{Action: p.Action, CV: "no", Usages: UsageBits(p.Usable), Depth: -1}
	if p.Action != Authenticate {
		return r, nil
	}
	m, err := verifyChain(cs.PeerCertificates, p.Usable, p.Names, time.Now())
	if err != nil {
		r.Err = err
		return r, err
	}
	r.CV, r.Verified, r.Matched, r.Depth, r.Name = "dane", true, &m.record, m.depth, m.name
	return r, nil
}

type match struct {
	record Record
	depth  int
	name   string
}

// verifyChain authenticates peer (the server's certificates, its own
// first) with records (already Usable) and the reference identifiers.
func verifyChain(peer []*x509.Certificate, records []Record, names []string, now time.Time) (match, error) {
	if len(peer) == 0 {
		return match{}, fmt.Errorf("%w: no certificate", ErrNoMatch)
	}
	leaf := peer[0]
	// RFC 7672 section 3.1.1: DANE-EE matches the server's certificate
	// only; no name check, no expiry check.
	for _, r := range records {
		if r.Usage == DANEEE && r.Matches(leaf) {
			return match{record: r, depth: 0}, nil
		}
	}
	var firstErr error
	for _, r := range records {
		if r.Usage != DANETA {
			continue
		}
		// RFC 7672 section 3.1.2: the trust anchor is a certificate the
		// server sent above its own (a DANE-TA record matching the
		// server's own certificate does not authenticate it).
		for i, ta := range peer[1:] {
			if !r.Matches(ta) {
				continue
			}
			m, err := anchored(leaf, peer, ta, names, now)
			if err == nil {
				m.record, m.depth = r, i+1
				return m, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		// RFC 7671 section 5.2.2: a "2 1 0" record holds the whole
		// public key, so the trust anchor need not be sent: any
		// certificate of the chain signed by that key is anchored.
		if r.Selector == SelectorSPKI && r.MatchingType == MatchFull {
			if bytes.Equal(r.Data, leaf.RawSubjectPublicKeyInfo) {
				continue // the server's own key is no trust anchor
			}
			pub, err := x509.ParsePKIXPublicKey(r.Data)
			if err != nil {
				continue
			}
			key := &x509.Certificate{PublicKey: pub}
			for _, c := range peer {
				if key.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) != nil {
					continue
				}
				m, err := anchored(leaf, peer, c, names, now)
				if err == nil {
					m.record, m.depth = r, -1
					return m, nil
				}
				if firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	if firstErr != nil {
		return match{}, firstErr
	}
	return match{}, ErrNoMatch
}

// anchored verifies the chain from leaf up to anchor, which the TLSA
// record authenticated, with the sent certificates as intermediates, and
// the leaf's names (RFC 7672 section 3.2.2). Validity periods are checked.
func anchored(leaf *x509.Certificate, peer []*x509.Certificate, anchor *x509.Certificate, names []string, now time.Time) (match, error) {
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return match{}, fmt.Errorf("%w: chain to the trust anchor: %w", ErrNoMatch, err)
	}
	name, ok := matchName(leaf, names)
	if !ok {
		return match{}, fmt.Errorf("%w: want %s", ErrName, strings.Join(names, " or "))
	}
	return match{name: name}, nil
}

// matchName returns the first reference identifier the certificate
// names: DNS-ID subjectAltNames, or without any the subject CN (RFC 7672
// section 3.2.3; Go's VerifyHostname ignores CN, so this is our own).
// A wildcard is a whole leftmost label, matching one label (RFC 6125
// section 6.4.3, as RFC 7672 section 3.2.3 restricts it).
func matchName(cert *x509.Certificate, refs []string) (string, bool) {
	presented := cert.DNSNames
	if len(presented) == 0 && cert.Subject.CommonName != "" {
		presented = []string{cert.Subject.CommonName}
	}
	for _, ref := range refs {
		ref = strings.ToLower(strings.TrimSuffix(ref, "."))
		for _, p := range presented {
			if nameMatches(strings.ToLower(strings.TrimSuffix(p, ".")), ref) {
				return ref, true
			}
		}
	}
	return "", false
}

func nameMatches(pattern, name string) bool {
	if pattern == "" || name == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, found := strings.Cut(name, ".")
		return found && label != "" && rest != "" && strings.Contains(rest, ".") && parent == rest
	}
	if strings.Contains(pattern, "*") {
		return false
	}
	return pattern == name
}

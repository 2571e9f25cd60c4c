package ocsp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode is what an SMTP client asks of a server's staple.
type Mode int

const (
	// Off checks nothing (crypto/tls still asks for a staple).
	Off Mode = iota
	// Request checks a staple when the server sends one (Exim's
	// hosts_request_ocsp): a staple that is revoked, stale or does not
	// verify fails the handshake; no staple is fine.
	Request
	// Require fails the handshake unless a valid, good staple for the
	// server's certificate is present (Exim's hosts_require_ocsp).
	Require
)

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Request:
		return "request"
	case Require:
		return "require"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode reads "off", "request" or "require".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "":
		return Off, nil
	case "request":
		return Request, nil
	case "require":
		return Require, nil
	}
	return Off, fmt.Errorf("ocsp: unknown mode %q (want off, request or require)", s)
}

// daneTA is bit 2 of a TLSA usage bit field: DANE-TA(2) (RFC 6698
// section 2.1.1).
const daneTA = 1 << 2

// WithDANE returns the mode to use for a connection authenticated by DANE
// whose usable TLSA records have the usage bit field usages (bit N for
// usage N, Exim's $tls_out_tlsa_usage; dane.UsageBits gives it): as
// Exim does by default, OCSP is asked for only when a DANE-TA record is
// present, since a DANE-EE record pins the certificate itself. Without
// DANE pass 0 to keep m.
func WithDANE(m Mode, usages uint8) Mode {
	if usages != 0 && usages&daneTA == 0 {
		return Off
	}
	return m
}

// ErrNoStaple: Require, and the server sent no OCSP response.
var ErrNoStaple = errors.New("ocsp: required, but the server stapled no response")

// Result is what a client logs about a server's staple.
type Result struct {
	Mode Mode
	// Stapled reports that the server sent a response.
	Stapled bool
	// Status is "good", "revoked", "unknown", "invalid" (does not parse or
	// verify, or is not current) or "none" (nothing stapled); empty for
	// Off.
	Status string
	// Response is the parsed response, when it parsed.
	Response *Response
	// Err is why the handshake failed, if it did.
	Err error
}

// LogValue groups the fields for log/slog.
func (r Result) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("mode", r.Mode.String()), slog.String("status", r.Status)}
	if r.Response != nil {
		attrs = append(attrs, slog.Time("next_update", r.Response.NextUpdate))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("err", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Verify checks the staple of a TLS session, as VerifyConnection sees it,
// at time now. On a resumed session crypto/tls reports the staple of the
// original handshake, which is checked against now like a fresh one.
// The issuer is taken from the verified chain, else from the certificates
// the server sent (under DANE, Go's own verification is off).
func Verify(cs tls.ConnectionState, m Mode, now time.Time) (Result, error) {
	r := Result{Mode: m}
	if m == Off {
		return r, nil
	}
	r.Stapled = len(cs.OCSPResponse) > 0
	if !r.Stapled {
		r.Status = "none"
		if m == Require {
			r.Err = ErrNoStaple
		}
		return r, r.Err
	}
	fail := func(status string, err error) (Result, error) {
		r.Status, r.Err = status, err
		return r, err
	}
	if len(cs.PeerCertificates) == 0 {
		return fail("invalid", fmt.Errorf("%w: no server certificate", ErrInvalid))
	}
	leaf := cs.PeerCertificates[0]
	issuer := findIssuer(cs)
	if issuer == nil {
		return fail("invalid", fmt.Errorf("%w: the issuer of %q is unknown", ErrInvalid, leaf.Subject))
	}
	resp, err := Check(cs.OCSPResponse, leaf, issuer, now)
	r.Response = resp
	switch {
	case errors.Is(err, ErrRevoked):
		return fail("revoked", err)
	case errors.Is(err, ErrUnknown):
		return fail("unknown", err)
	case err != nil:
		return fail("invalid", err)
	}
	r.Status = "good"
	return r, nil
}

func findIssuer(cs tls.ConnectionState) *x509.Certificate {
	for _, chain := range cs.VerifiedChains {
		if len(chain) > 1 {
			return chain[1]
		}
	}
	leaf := cs.PeerCertificates[0]
	for _, c := range cs.PeerCertificates[1:] {
		if leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

// Checker runs Verify in a tls.Config's VerifyConnection and keeps the
// last result for the log. A Checker serves one connection at a time
// (the client engine's Conn is used by one goroutine).
type Checker struct {
	Mode Mode
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	last Result
}

// VerifyConnection returns a tls.Config.VerifyConnection callback that
// checks the staple, then calls next (the callback already set, such as
// DANE's), if any.
func (c *Checker) VerifyConnection(next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		r, err := Verify(cs, c.Mode, now())
		c.mu.Lock()
		c.last = r
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
}

// TLSConfig returns a copy of base (nil: empty) whose VerifyConnection
// checks the staple after base's own callback.
func (c *Checker) TLSConfig(base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	prev := cfg.VerifyConnection
	check := c.VerifyConnection(nil)
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		return check(cs)
	}
	return cfg
}

// Result returns the result of the last handshake checked.
func (c *Checker) Result() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

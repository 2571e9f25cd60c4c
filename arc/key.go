package arc

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
)

// An algorithm is a signing algorithm of the a= tag.
type algorithm uint8

const (
	rsaSHA256     algorithm = iota + 1 // RFC 6376 section 3.3.2, the one RFC 8617 section 4.1.2 requires
	ed25519SHA256                      // RFC 8463 section 3
)

func (a algorithm) String() string {
	switch a {
	case rsaSHA256:
		return "rsa-sha256"
	case ed25519SHA256:
		return "ed25519-sha256"
	}
	return "unknown"
}

// keyType is the k= value of keys for the algorithm.
func (a algorithm) keyType() string {
	if a == ed25519SHA256 {
		return "ed25519"
	}
	return "rsa"
}

var errSHA1 = errors.New("rsa-sha1 is not allowed (RFC 8301 section 3.1)")

// parseAlgorithm parses an a= value.
func parseAlgorithm(v string) (algorithm, error) {
	switch v {
	case "rsa-sha256":
		return rsaSHA256, nil
	case "ed25519-sha256":
		return ed25519SHA256, nil
	case "rsa-sha1":
		return 0, errSHA1
	}
	return 0, fmt.Errorf("unknown algorithm %q", v)
}

// A publicKey is a key from a DKIM key record (RFC 6376 section 3.6.1).
type publicKey struct {
	algo algorithm
	rsa  *rsa.PublicKey
	ed   ed25519.PublicKey
}

// Errors of key lookups. A keyError says whether it is temporary.
var (
	errNoKey       = errors.New("no key record")
	errKeyRevoked  = errors.New("key revoked (empty p=)")
	errKeyTooSmall = errors.New("RSA key too small")
	errKeyTooLarge = errors.New("RSA key too large")
	errKeyType     = errors.New("key type does not match a=")
	errBadSig      = errors.New("signature does not verify")
)

// A keyError is a failed key lookup.
type keyError struct {
	temporary bool // DNS failure that may go away: timeout, SERVFAIL
	err       error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// keyName is where the key of selector and domain lives (RFC 6376
// section 3.6.2.1), fully qualified.
func keyName(selector, domain string) string {
	return selector + "._domainkey." + domain + "."
}

// lookupKey fetches and parses the key for selector and domain through
// lookup. minBits is the smallest RSA key accepted.
func lookupKey(ctx context.Context, lookup func(context.Context, string) ([]string, error), selector, domain string, minBits int) (*publicKey, error) {
	name := keyName(selector, domain)
	txts, err := lookup(ctx, name)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, &keyError{err: fmt.Errorf("%s: %w", name, errNoKey)}
		}
		// Anything else (timeouts, SERVFAIL, a hook's own errors) may
		// pass: RFC 6376 section 6.1.2 makes it TEMPFAIL.
		return nil, &keyError{temporary: true, err: fmt.Errorf("key lookup %s: %w", name, err)}
	}
	if len(txts) == 0 {
		return nil, &keyError{err: fmt.Errorf("%s: %w", name, errNoKey)}
	}
	var first error
	for _, txt := range txts {
		k, err := parseKeyRecord(txt, minBits)
		if err == nil {
			return k, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, &keyError{err: fmt.Errorf("%s: %w", name, first)}
}

// parseKeyRecord parses a DKIM key record (RFC 6376 section 3.6.1, with
// k=ed25519 from RFC 8463 section 4.2).
func parseKeyRecord(txt string, minBits int) (*publicKey, error) {
	tags, err := parseTags(txt)
	if err != nil {
		return nil, fmt.Errorf("key record: %w", err)
	}
	if v, ok := tags.get("v"); ok && v != "DKIM1" {
		return nil, fmt.Errorf("key record: version %q", v)
	}
	if h, ok := tags.get("h"); ok && !listHas(h, "sha256") {
		return nil, fmt.Errorf("key record: h=%s does not allow sha256", h)
	}
	if s, ok := tags.get("s"); ok && !listHas(s, "*") && !listHas(s, "email") {
		return nil, fmt.Errorf("key record: service type s=%s", s)
	}
	p, ok := tags.get("p")
	if !ok {
		return nil, errors.New("key record: no p=")
	}
	p = stripFWS(p)
	if p == "" {
		return nil, errKeyRevoked
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("key record: p=: %w", err)
	}
	k, _ := tags.get("k")
	switch k {
	case "", "rsa":
		pub, err := parseRSAKey(der)
		if err != nil {
			return nil, fmt.Errorf("key record: %w", err)
		}
		if err := checkRSABits(pub.N.BitLen(), minBits); err != nil {
			return nil, err
		}
		return &publicKey{algo: rsaSHA256, rsa: pub}, nil
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key record: Ed25519 key of %d bytes", len(der))
		}
		return &publicKey{algo: ed25519SHA256, ed: ed25519.PublicKey(der)}, nil
	}
	return nil, fmt.Errorf("key record: unknown key type k=%s", k)
}

// parseRSAKey reads an RSA key as RFC 6376 section 3.6.1 publishes it, a
// SubjectPublicKeyInfo, or as the bare RSAPublicKey some publish.
func parseRSAKey(der []byte) (*rsa.PublicKey, error) {
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("k=rsa holds a %T", pub)
		}
		return rsaPub, nil
	}
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("RSA key: %w", err)
	}
	return pub, nil
}

// checkRSABits applies RFC 8301 section 3.2: keys under 1024 bits are
// not valid; above MaxRSAKeyBits they are refused to bound the work an
// attacker can ask of a verifier.
func checkRSABits(bits, minBits int) error {
	if bits < minBits {
		return fmt.Errorf("%w: %d bits, under %d", errKeyTooSmall, bits, minBits)
	}
	if bits > MaxRSAKeyBits {
		return fmt.Errorf("%w: %d bits, over %d", errKeyTooLarge, bits, MaxRSAKeyBits)
	}
	return nil
}

// listHas reports whether the colon-separated list l (RFC 6376 key tags
// h= and s=) holds item.
func listHas(l, item string) bool {
	for _, x := range strings.Split(l, ":") {
		if strings.TrimSpace(x) == item {
			return true
		}
	}
	return false
}

// verifySig checks sig over the SHA-256 digest with key, for algorithm
// a (RFC 6376 section 3.3.2 for RSA, RFC 8463 section 3 for Ed25519:
// the signature is over the digest).
func verifySig(key *publicKey, a algorithm, digest, sig []byte) error {
	if key.algo != a {
		return fmt.Errorf("%w: k=%s, a=%s", errKeyType, key.algo.keyType(), a)
	}
	switch a {
	case rsaSHA256:
		if err := rsa.VerifyPKCS1v15(key.rsa, crypto.SHA256, digest, sig); err != nil {
			return errBadSig
		}
		return nil
	case ed25519SHA256:
		if !ed25519.Verify(key.ed, digest, sig) {
			return errBadSig
		}
		return nil
	}
	return fmt.Errorf("unknown algorithm %d", a)
}

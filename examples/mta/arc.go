package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/arc"
	"github.com/smtpkit/smtpkit/dmarc"
)

// arcSigner is -arc-sign: Exim's arc_sign = admd : selector : key
// [: options].
type arcSigner struct {
	domain, selector string
	key              crypto.Signer
	timestamps       bool
	expire           time.Duration
	expireAt         time.Time
}

// parseARCSign reads ADMD:SELECTOR:KEYFILE[:OPTIONS], OPTIONS being a
// comma-separated list of timestamps, expire, expire+N (seconds from
// signing) and expire=N (a Unix time), as Exim's arc_sign.
func parseARCSign(spec string) (*arcSigner, error) {
	parts := strings.SplitN(spec, ":", 4)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, errors.New("want ADMD:SELECTOR:KEYFILE[:OPTIONS]")
	}
	key, err := loadSigner(parts[2])
	if err != nil {
		return nil, err
	}
	s := &arcSigner{domain: normalizeDomain(parts[0]), selector: parts[1], key: key}
	if len(parts) == 4 {
		for _, opt := range strings.Split(parts[3], ",") {
			switch opt = strings.TrimSpace(opt); {
			case opt == "timestamps":
				s.timestamps = true
			case opt == "expire":
				s.expire = arc.DefaultExpire
			case strings.HasPrefix(opt, "expire+"):
				n, err := strconv.ParseInt(opt[len("expire+"):], 10, 64)
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("option %q", opt)
				}
				s.expire = time.Duration(n) * time.Second
			case strings.HasPrefix(opt, "expire="):
				n, err := strconv.ParseInt(opt[len("expire="):], 10, 64)
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("option %q", opt)
				}
				s.expireAt = time.Unix(n, 0)
			case opt == "":
			default:
				return nil, fmt.Errorf("unknown option %q", opt)
			}
		}
	}
	return s, nil
}

// loadSigner reads a PEM private key: PKCS #8 (RSA or Ed25519) or PKCS #1.
func loadSigner(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}

// arcCheck verifies the message's ARC chain for the dmarc wrapper: the
// result goes into our Authentication-Results (RFC 8617 section 7.1), and
// a passing chain from a -arc-trusted sealer whose own results said
// dmarc=pass for the message's Author Domain overrides a DMARC failure
// (RFC 8617 section 7.2).
func (m *mta) arcCheck(ctx context.Context, _ *smtp.Conn, msg io.Reader, dr *dmarc.Result) dmarc.CheckResult {
	res, err := arc.Verify(ctx, msg, &arc.VerifyOptions{LookupTXT: m.resolver.LookupTXT, TrustedSealers: m.cfg.ARCTrusted})
	if err != nil {
		m.log.Warn("ARC verification", "err", err)
		return dmarc.CheckResult{}
	}
	cr := dmarc.CheckResult{Result: res.AuthResult()}
	if res.State == arc.StatePass && res.Trusted != nil && dr != nil && recordedDMARCPass(res.Trusted.Results, dr.FromDomain) {
		cr.Override = "arc: trusted sealer " + res.Trusted.Domain + " saw dmarc=pass"
	}
	m.log.Debug("ARC", "state", res.State, "domains", strings.Join(res.Domains, ":"), "oldest_pass", res.OldestPass, "override", cr.Override)
	return cr
}

// recordedDMARCPass says whether a sealer's ARC-Authentication-Results
// recorded a DMARC pass for author, the message's Author Domain: a pass
// the sealer saw for another From (one an attacker put beside the sealed
// one, say) overrides nothing. RFC 7601 section 2.7.2: DMARC's property
// is header.from.
func recordedDMARCPass(results []authres.Result, author string) bool {
	same := func(from string) bool {
		return author != "" && strings.EqualFold(strings.TrimSuffix(from, "."), strings.TrimSuffix(author, "."))
	}
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DMARCResult:
			if r.Value == authres.ResultPass && same(r.From) {
				return true
			}
		case *authres.GenericResult:
			if strings.EqualFold(r.Method, "dmarc") && r.Value == authres.ResultPass && same(r.Params["header.from"]) {
				return true
			}
		}
	}
	return false
}

// seal returns the ARC set to put on top of the spooled message msg, or ""
// when it is not to be sealed (no Authentication-Results of ours, a
// failed chain, too many sets: arc.Seal says why).
func (s *arcSigner) seal(authservID string, msg io.Reader) (string, string, error) {
	res, err := arc.Seal(msg, &arc.SealOptions{
		Domain:     s.domain,
		Selector:   s.selector,
		Signer:     s.key,
		AuthServID: authservID,
		Timestamps: s.timestamps,
		Expire:     s.expire,
		ExpireAt:   s.expireAt,
	})
	if err != nil {
		return "", "", err
	}
	return res.Header, res.Skipped, nil
}

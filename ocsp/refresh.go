package ocsp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// Refresh timing.
const (
	// DefaultRetry is the wait after a failed fetch.
	DefaultRetry = 5 * time.Minute
	// DefaultFetchTimeout bounds one request to the responder.
	DefaultFetchTimeout = 30 * time.Second
	// maxGETRequest: RFC 6960 appendix A.1 allows GET for requests whose
	// encoding is under 255 octets.
	maxGETRequest = 255
)

// ErrNoResponder: the certificate names no OCSP responder (no AIA OCSP
// URL, RFC 5280 section 4.2.2.1). That is normal: some public CAs dropped
// OCSP in 2025. Run returns nil for it.
var ErrNoResponder = errors.New("ocsp: certificate names no OCSP responder")

// Refresher keeps a staple file fresh for one certificate, the job Exim
// leaves to a script: it fetches a response from the responder named in
// the certificate's Authority Information Access (RFC 6960 appendix A),
// checks it as Check does, and replaces the file atomically (a temporary
// file in the same folder, synced, then renamed) for a Stapler to pick
// up. It fetches again at half the response's validity (or before its
// delegated responder's certificate expires), keeps the last good file
// when a fetch fails, and removes the file when the certificate is
// revoked, so that nothing is stapled.
type Refresher struct {
	// Certificate is the server's certificate chain.
	Certificate *tls.Certificate
	// Issuer is the leaf's issuer; nil means Certificate.Certificate[1].
	Issuer *x509.Certificate
	// File is the staple file.
	File string
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	// GET uses HTTP GET for short requests (RFC 6960 appendix A.1, which
	// caches can answer); the default is POST.
	GET bool
	// Retry is the wait after a failed fetch; zero means DefaultRetry.
	Retry time.Duration
	// Logger gets a line per fetch; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Refresher) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run refreshes the file until ctx is done, and returns nil then. It
// returns ErrNoResponder's absence as nil at once (logged), and an error
// only for a certificate it cannot work with. A file already holding a
// current good response is kept until its refresh time.
func (r *Refresher) Run(ctx context.Context) error {
	leaf, issuer, err := leafAndIssuer(r.Certificate, r.Issuer)
	if err != nil {
		return err
	}
	if len(leaf.OCSPServer) == 0 {
		r.logger().Info("ocsp: no responder in the certificate, nothing to refresh", "cert", leaf.Subject.String())
		return nil
	}
	var next time.Time
	if der, err := readLimited(r.File); err == nil {
		if resp, err := Check(der, leaf, issuer, r.now()); err == nil {
			next = refreshAt(resp)
		}
	}
	for {
		if wait := next.Sub(r.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		n, err := r.Refresh(ctx)
		if err != nil {
			retry := r.Retry
			if retry <= 0 {
				retry = DefaultRetry
			}
			n = r.now().Add(retry)
			r.logger().Warn("ocsp: refresh failed, keeping the last staple", "file", r.File, "err", err, "retry", n)
		}
		next = n
	}
}

// Refresh fetches a response once and, when it is good, writes the file.
// It returns when to fetch again. A revoked certificate removes the file
// and returns an error wrapping ErrRevoked; any other failure leaves the
// file as it was.
func (r *Refresher) Refresh(ctx context.Context) (time.Time, error) {
	leaf, issuer, err := leafAndIssuer(r.Certificate, r.Issuer)
	if err != nil {
		return time.Time{}, err
	}
	if len(leaf.OCSPServer) == 0 {
		return time.Time{}, ErrNoResponder
	}
	der, err := r.fetch(ctx, leaf.OCSPServer[0], leaf, issuer)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := Check(der, leaf, issuer, r.now())
	if errors.Is(err, ErrRevoked) {
		// Never staple good for a revoked certificate.
		if rerr := os.Remove(r.File); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return time.Time{}, errors.Join(err, rerr)
		}
		return time.Time{}, err
	}
	if err != nil {
		return time.Time{}, err
	}
	if err := writeAtomic(r.File, der); err != nil {
		return time.Time{}, err
	}
	next := refreshAt(resp)
	r.logger().Info("ocsp: staple refreshed", "file", r.File, "this_update", resp.ThisUpdate, "next_update", resp.NextUpdate, "next_fetch", next)
	return next, nil
}

// refreshAt is halfway through the response's usable life: from
// ThisUpdate to NextUpdate, or to the expiry of its delegated responder's
// certificate when that comes first.
func refreshAt(resp *Response) time.Time {
	end := validUntil(resp)
	return resp.ThisUpdate.Add(end.Sub(resp.ThisUpdate) / 2)
}

// fetch asks the responder at u (RFC 6960 appendix A.1).
func (r *Refresher) fetch(ctx context.Context, u string, leaf, issuer *x509.Certificate) ([]byte, error) {
	reqDER, err := xocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("ocsp: request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultFetchTimeout)
	defer cancel()
	var req *http.Request
	if r.GET && len(reqDER) < maxGETRequest {
		enc := url.PathEscape(base64.StdEncoding.EncodeToString(reqDER))
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/"+enc, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(reqDER))
		if req != nil {
			req.Header.Set("Content-Type", "application/ocsp-request")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ocsp: %w", err)
	}
	req.Header.Set("Accept", "application/ocsp-response")
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ocsp: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ocsp: fetch from %s: HTTP %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("ocsp: fetch: %w", err)
	}
	if len(body) > MaxResponseSize {
		return nil, fmt.Errorf("%w: response over %d octets", ErrInvalid, MaxResponseSize)
	}
	return body, nil
}

// writeAtomic replaces name with b: temporary file, fsync, rename, and
// fsync of the folder.
func writeAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("ocsp: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("ocsp: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ocsp: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("ocsp: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ocsp: %w", err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("ocsp: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

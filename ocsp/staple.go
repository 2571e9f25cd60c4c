package ocsp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// Stapler staples OCSP responses onto the certificates a TLS server sends
// (RFC 6066 section 8, what Exim's tls_ocsp_file does): each certificate
// has a file holding a DER OCSP response, re-checked by stat on every
// handshake, so that a file replaced atomically (written aside, then
// renamed; a [Refresher] does so) takes effect at the next connection.
// Only a good response about that certificate, signed by its issuer or a
// delegated responder, and current, is stapled; otherwise nothing is, and
// the reason is logged once per change. Certificates are never modified:
// GetCertificate returns a copy with OCSPStaple set.
//
// crypto/tls sends the staple only to clients that ask for it.
type Stapler struct {
	get    func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	log    *slog.Logger
	now    func() time.Time
	mu     sync.Mutex
	certs  []*entry
	byLeaf map[string]*entry
}

// StaplerOptions configures NewStapler; nil means defaults.
type StaplerOptions struct {
	// GetCertificate chooses the certificate for a handshake, as an
	// existing tls.Config.GetCertificate does; nil chooses among the
	// certificates added, by SNI and the client's algorithms
	// (ClientHelloInfo.SupportsCertificate), else the first.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Logger gets a warning when a staple stops being served, and why;
	// nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// entry is one certificate and its staple file.
type entry struct {
	cert   *tls.Certificate
	leaf   *x509.Certificate
	issuer *x509.Certificate
	file   string

	// guarded by Stapler.mu
	id          fileID
	staple      []byte           // checked, time-independent
	resp        *Response        // parsed staple
	why         string           // last reason for not stapling, logged once
	stapled     *tls.Certificate // copy of stapledFrom with the staple
	stapledFrom *tls.Certificate
}

// fileID identifies a version of a file cheaply.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
	exists   bool
}

// NewStapler returns a Stapler without certificates; add them with Add.
func NewStapler(o *StaplerOptions) *Stapler {
	s := &Stapler{byLeaf: map[string]*entry{}, now: time.Now}
	if o != nil {
		s.get = o.GetCertificate
		s.log = o.Logger
		if o.Now != nil {
			s.now = o.Now
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Add registers cert with the file of its staple. The issuer is
// cert.Certificate[1]; pass it as issuer when the chain does not hold it
// (a certificate issued directly by a root that is not sent). The file
// need not exist yet.
func (s *Stapler) Add(cert *tls.Certificate, issuer *x509.Certificate, file string) error {
	leaf, iss, err := leafAndIssuer(cert, issuer)
	if err != nil {
		return err
	}
	e := &entry{cert: cert, leaf: leaf, issuer: iss, file: file}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs = append(s.certs, e)
	s.byLeaf[string(leaf.Raw)] = e
	return nil
}

// leafAndIssuer finds the parsed leaf and its issuer.
func leafAndIssuer(cert *tls.Certificate, issuer *x509.Certificate) (*x509.Certificate, *x509.Certificate, error) {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, nil, errors.New("ocsp: no certificate")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("ocsp: %w", err)
		}
	}
	if issuer == nil {
		if len(cert.Certificate) < 2 {
			return nil, nil, errors.New("ocsp: the chain does not hold the issuer; pass it")
		}
		var err error
		if issuer, err = x509.ParseCertificate(cert.Certificate[1]); err != nil {
			return nil, nil, fmt.Errorf("ocsp: issuer: %w", err)
		}
	}
	if err := leaf.CheckSignatureFrom(issuer); err != nil {
		return nil, nil, fmt.Errorf("ocsp: %s is not the issuer of %s: %w", issuer.Subject, leaf.Subject, err)
	}
	return leaf, issuer, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (s *Stapler) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var cert *tls.Certificate
	if s.get != nil {
		c, err := s.get(hello)
		if err != nil || c == nil {
			return c, err
		}
		cert = c
	} else {
		s.mu.Lock()
		certs := s.certs
		s.mu.Unlock()
		if len(certs) == 0 {
			return nil, errors.New("ocsp: no certificate")
		}
		cert = certs[0].cert
		for _, e := range certs {
			if hello.SupportsCertificate(e.cert) == nil {
				cert = e.cert
				break
			}
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, nil
	}
	s.mu.Lock()
	e := s.byLeaf[string(cert.Certificate[0])]
	s.mu.Unlock()
	if e == nil {
		return cert, nil
	}
	return s.staple(e, cert), nil
}

// staple returns cert with e's current staple, or cert itself.
func (s *Stapler) staple(e *entry, cert *tls.Certificate) *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reload(e)
	if e.resp == nil {
		return cert
	}
	if err := current(e.resp, s.now()); err != nil {
		s.refuse(e, err.Error())
		return cert
	}
	e.why = ""
	if e.stapled == nil || e.stapledFrom != cert {
		c := *cert // a copy: the caller's certificate is shared
		c.OCSPStaple = e.staple
		e.stapled, e.stapledFrom = &c, cert
	}
	return e.stapled
}

// reload re-reads e's file when its identity changed.
func (s *Stapler) reload(e *entry) {
	id := statFile(e.file)
	if id == e.id {
		return
	}
	e.id, e.staple, e.resp, e.stapled = id, nil, nil, nil
	if !id.exists {
		s.refuse(e, "no staple file")
		return
	}
	der, err := readLimited(e.file)
	if err != nil {
		s.refuse(e, err.Error())
		return
	}
	resp, err := parse(der, e.leaf, e.issuer)
	if err == nil {
		err = status(resp)
	}
	if err != nil {
		s.refuse(e, err.Error())
		return
	}
	e.staple, e.resp = der, resp
}

// refuse logs once why e gets no staple.
func (s *Stapler) refuse(e *entry, why string) {
	if e.why != why {
		e.why = why
		s.log.Warn("ocsp: not stapling", "cert", e.leaf.Subject.String(), "file", e.file, "reason", why)
	}
}

func statFile(name string) fileID {
	fi, err := os.Stat(name)
	if err != nil {
		return fileID{}
	}
	id := fileID{size: fi.Size(), mtime: fi.ModTime(), exists: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxResponseSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxResponseSize {
		return nil, fmt.Errorf("ocsp: %s is over %d octets", name, MaxResponseSize)
	}
	return b, nil
}

package requiretls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
)

// ErrNotQualified is wrapped by the error of Delivery.CheckMail, and so
// by Conn.Send's (with client.ErrRefused), when the connection may not
// carry a REQUIRETLS message: the caller tries the next MX host (RFC 8689
// section 4.2.1), and when none qualifies fails the message with the
// recipients' reply (ReplyNoREQUIRETLS or ReplyNoTLS). Never again in
// cleartext.
var ErrNotQualified = errors.New("requiretls: connection not acceptable for REQUIRETLS")

// Replies a REQUIRETLS message gets when a connection does not qualify
// (RFC 8689 section 4.2.1, RFC 5248).
var (
	// ReplyNoREQUIRETLS: the server did not advertise REQUIRETLS after
	// STARTTLS.
	ReplyNoREQUIRETLS = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 30}, Message: "REQUIRETLS support required"}
	// ReplyNoTLS: no TLS, a server not authenticated, or an MX host
	// from an insecure answer.
	ReplyNoTLS = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 10}, Message: "REQUIRETLS: encryption needed"}
)

// Delivery is a client.Extension that applies RFC 8689 section 4.2.1 to
// the messages sent over one connection, to one MX host or smarthost:
// before MAIL (client.MailChecker) it refuses a REQUIRETLS message,
// nothing of it sent, unless
//
//  1. the host came from a DNSSEC-secure MX answer or is listed by an
//     MTA-STS policy (InsecureMX false);
//  2. the session is under TLS (Conn.TLS);
//  3. the EHLO after STARTTLS advertised REQUIRETLS (else
//     ReplyNoREQUIRETLS, 5.7.30);
//  4. the server is authenticated: by the caller's Authenticated hook
//     (DANE, RFC 7672), or by PKIX (RFC 5280) with the host name (RFC
//     6125), done by crypto/tls or, when the caller's tls.Config skipped
//     verification, here against RootCAs;
//
// (else ReplyNoTLS, 5.7.10), and it adds the REQUIRETLS MAIL parameter
// (client.MailParamer) to those it lets through. A Delivery is
// configured per connection and read only: one value may serve several
// connections to the same host at once.
type Delivery struct {
	// Host is the name the certificate must match: the MX host name as
	// the MX record gives it, or the smarthost's name. Empty means the
	// ServerName the TLS session used.
	Host string
	// InsecureMX says that Host came from a DNS answer that was neither
	// DNSSEC-validated nor covered by an MTA-STS policy (RFC 8689
	// section 4.2.1 step 1): every REQUIRETLS message is then refused
	// with 5.7.10. A configured smarthost leaves it false.
	InsecureMX bool
	// RootCAs verifies the certificate when crypto/tls did not
	// (InsecureSkipVerify, as opportunistic senders set); nil means the
	// system roots.
	RootCAs *x509.CertPool
	// Authenticated, when set, is asked first; true means the caller
	// authenticated the server by other means, such as DANE-EE or
	// DANE-TA records (RFC 7672) matched by the dane package's
	// VerifyConnection. False falls back to PKIX.
	Authenticated func(cs tls.ConnectionState) bool
	// Requires says which messages are REQUIRETLS; nil means every one
	// sent over the connection (a connection dialled for them alone).
	Requires func(env *client.Envelope) bool
}

// Name implements client.Extension.
func (d *Delivery) Name() string { return "requiretls" }

func (d *Delivery) required(env *client.Envelope) bool {
	return d.Requires == nil || d.Requires(env)
}

// CheckMail implements client.MailChecker: it refuses a REQUIRETLS
// message the connection may not carry. The error wraps ErrNotQualified
// and the reply.
func (d *Delivery) CheckMail(c *client.Conn, env *client.Envelope) error {
	if !d.required(env) {
		return nil
	}
	refuse := func(rep *smtp.SMTPError, why string) error {
		return fmt.Errorf("%w (%s): %w", ErrNotQualified, why, rep)
	}
	if d.InsecureMX {
		return refuse(ReplyNoTLS, "MX host not from a DNSSEC-secure answer or an MTA-STS policy")
	}
	cs, ok := c.TLS()
	if !ok {
		return refuse(ReplyNoTLS, "no TLS")
	}
	if _, ok := c.Extension("REQUIRETLS"); !ok {
		return refuse(ReplyNoREQUIRETLS, "REQUIRETLS not advertised")
	}
	if d.Authenticated != nil && d.Authenticated(cs) {
		return nil
	}
	if err := d.verifyPKIX(cs); err != nil {
		return refuse(ReplyNoTLS, "server not authenticated: "+err.Error())
	}
	return nil
}

// MailParams implements client.MailParamer: "REQUIRETLS" for a REQUIRETLS
// message (RFC 8689 section 4.2.1 step 5), unless the caller put it in
// Envelope.MailParams already.
func (d *Delivery) MailParams(c *client.Conn, env *client.Envelope) []string {
	if !d.required(env) || slices.ContainsFunc(env.MailParams, func(p string) bool { return strings.EqualFold(p, "REQUIRETLS") }) {
		return nil
	}
	return []string{"REQUIRETLS"}
}

// verifyPKIX checks the server's chain and name (RFC 8689 section 4.2.1
// step 3).
func (d *Delivery) verifyPKIX(cs tls.ConnectionState) error {
	host := d.Host
	if host == "" {
		host = cs.ServerName
	}
	if host == "" {
		return errors.New("no host name to verify")
	}
	host = strings.TrimSuffix(host, ".")
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if len(cs.VerifiedChains) > 0 {
		// crypto/tls verified the chain, for its ServerName.
		return leaf.VerifyHostname(host)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         d.RootCAs,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// ClientOptions returns a copy of o (nil: defaults) for a connection that
// carries REQUIRETLS messages: TLSRequired, so that Dial fails rather than
// go on in cleartext; the TLS ServerName set to Host when empty; and d
// among the Extensions. The caller's tls.Config is cloned, never
// modified.
func (d *Delivery) ClientOptions(o *client.Options) *client.Options {
	var c client.Options
	if o != nil {
		c = *o
	}
	c.TLSPolicy = client.TLSRequired
	cfg := &tls.Config{}
	if c.TLSConfig != nil {
		cfg = c.TLSConfig.Clone()
	}
	if cfg.ServerName == "" && d.Host != "" {
		cfg.ServerName = strings.TrimSuffix(d.Host, ".")
	}
	c.TLSConfig = cfg
	c.Extensions = append(slices.Clip(c.Extensions), d)
	return &c
}

// RelaxedOptions returns a copy of o (nil: defaults) for a message whose
// TLS-Required: No header applies (Status.TLSOptional; RFC 8689 section
// 4.2.2): STARTTLS when offered (TLSOpportunistic), the certificate not
// verified (InsecureSkipVerify, and no VerifyConnection or
// VerifyPeerCertificate callback, so DANE and MTA-STS failures do not stop
// it), cleartext when TLS is not offered. The caller should drop its DANE
// and MTA-STS extensions, if any, from the copy's Extensions.
func RelaxedOptions(o *client.Options) *client.Options {
	var c client.Options
	if o != nil {
		c = *o
	}
	c.TLSPolicy = client.TLSOpportunistic
	cfg := &tls.Config{}
	if c.TLSConfig != nil {
		cfg = c.TLSConfig.Clone()
	}
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = nil
	cfg.VerifyPeerCertificate = nil
	c.TLSConfig = cfg
	return &c
}

package dmarc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"time"
)

// A Sender hands a report email on for delivery: to a queue, typically,
// since reports are sent from within SMTP sessions and report runs. msg
// is the whole message, header and body, with CRLF line ends.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg io.Reader) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, from string, to []string, msg io.Reader) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	return f(ctx, from, to, msg)
}

// ReporterOptions configure a Reporter.
type ReporterOptions struct {
	// OrgName names the reporting organisation in aggregate reports
	// (report_metadata/org_name, RFC 7489 Appendix C); "" means
	// Submitter.
	OrgName string

	// Email is the reporting contact (report_metadata/email) and the
	// From of aggregate reports, such as "dmarc-reports@example.org".
	Email string

	// ExtraContactInfo is report_metadata/extra_contact_info, optional.
	ExtraContactInfo string

	// Submitter is the receiver's domain in report subjects and file
	// names (RFC 7489 section 7.2.1.1); "" means the domain of Email.
	Submitter string

	// FailureSender is the From (and envelope sender) of failure
	// reports, Exim's dmarc_forensic_sender; "" means Email.
	FailureSender string

	// Sender hands the report emails on. It is required for sending.
	Sender Sender

	// Resolver verifies external report destinations (RFC 7489 section
	// 7.1); nil means net.DefaultResolver.
	Resolver Resolver

	// SuffixList decides which destinations are external, by
	// organisational domain; nil means the compiled-in Public Suffix
	// List.
	SuffixList *SuffixList

	// Redact replaces, in failure reports, the local parts of addresses
	// with "redacted" and leaves out the message body, sending its
	// header section only (RFC 6590, RFC 6591 section 4). Aggregate
	// reports carry no addresses.
	Redact bool

	// UserAgent names the software in failure reports (RFC 5965 section
	// 3.1); "" means "smtpkit-dmarc".
	UserAgent string

	// Now stamps reports; nil means time.Now.
	Now func() time.Time
}

// A Reporter builds and sends DMARC reports: aggregate reports from a
// history file (RFC 7489 section 7.2) and failure reports for single
// messages (RFC 7489 section 7.3, RFC 6591). It is safe for concurrent
// use.
type Reporter struct {
	o ReporterOptions
}

// NewReporter returns a Reporter; nil means the zero options, which can
// build reports but not send them.
func NewReporter(opts *ReporterOptions) *Reporter {
	var o ReporterOptions
	if opts != nil {
		o = *opts
	}
	if o.Submitter == "" {
		o.Submitter = domainOf(o.Email)
	}
	if o.OrgName == "" {
		o.OrgName = o.Submitter
	}
	if o.FailureSender == "" {
		o.FailureSender = o.Email
	}
	if o.UserAgent == "" {
		o.UserAgent = "smtpkit-dmarc"
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reporter{o: o}
}

// ErrNoSender is returned when a report is to be sent without a Sender.
var ErrNoSender = errors.New("dmarc: no Sender for reports")

// ErrUnauthorizedDestination is wrapped for a report URI outside the
// policy domain that did not authorize reports for it (RFC 7489 section
// 7.1).
var ErrUnauthorizedDestination = errors.New("external report destination not authorized")

// destination is one mailto: report URI, checked.
type destination struct {
	addr  string
	limit int64 // bytes, 0 for none
}

// destinations turns report URIs published by the record of domain into
// mailto: destinations, leaving out other schemes (RFC 7489 section 6.2:
// unsupported schemes are ignored) and external destinations that do not
// authorize domain's reports (section 7.1). It returns the skipped ones'
// reasons as an error, with the good ones.
func (rp *Reporter) destinations(ctx context.Context, domain string, uris []string) ([]destination, error) {
	var (
		out  []destination
		errs []error
	)
	for _, s := range uris {
		u, limit, err := splitReportURI(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !strings.EqualFold(u.Scheme, "mailto") {
			errs = append(errs, fmt.Errorf("dmarc: report URI %q: unsupported scheme", s))
			continue
		}
		addr, _, _ := strings.Cut(u.Opaque, "?")
		if a, err := mail.ParseAddress(addr); err == nil {
			addr = a.Address
		} else {
			errs = append(errs, fmt.Errorf("dmarc: report URI %q: %w", s, err))
			continue
		}
		if err := rp.verifyExternal(ctx, domain, domainOf(addr)); err != nil {
			errs = append(errs, fmt.Errorf("dmarc: report URI %q: %w", s, err))
			continue
		}
		out = append(out, destination{addr: addr, limit: limit})
	}
	return out, errors.Join(errs...)
}

// verifyExternal checks that a destination domain outside the policy
// domain's organisational domain accepts reports about it (RFC 7489
// section 7.1): a TXT record starting with v=DMARC1 at
// <domain>._report._dmarc.<dest>.
func (rp *Reporter) verifyExternal(ctx context.Context, domain, dest string) error {
	if rp.org(domain) == rp.org(dest) {
		return nil
	}
	name := domain + "._report._dmarc." + dest + "."
	txts, err := rp.o.Resolver.LookupTXT(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("%w: no record at %s", ErrUnauthorizedDestination, name)
		}
		return fmt.Errorf("%w: TXT %s: %w", ErrDNS, name, err)
	}
	for _, t := range txts {
		if hasVersion(t) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v=DMARC1 record at %s", ErrUnauthorizedDestination, name)
}

func (rp *Reporter) org(d string) string {
	if rp.o.SuffixList != nil {
		return rp.o.SuffixList.OrganizationalDomain(d)
	}
	return pslOrgDomain(d)
}

// send hands msg to each destination whose size limit it fits (RFC 7489
// section 6.2), one message per destination, so that one refusal does
// not stop the others.
func (rp *Reporter) send(ctx context.Context, from string, dests []destination, build func(to string) []byte) error {
	if rp.o.Sender == nil {
		return ErrNoSender
	}
	var errs []error
	for _, d := range dests {
		msg := build(d.addr)
		if d.limit > 0 && int64(len(msg)) > d.limit {
			errs = append(errs, fmt.Errorf("dmarc: report of %d bytes is over the %d-byte limit of %s", len(msg), d.limit, d.addr))
			continue
		}
		if err := rp.o.Sender.Send(ctx, from, []string{d.addr}, strings.NewReader(string(msg))); err != nil {
			errs = append(errs, fmt.Errorf("dmarc: sending report to %s: %w", d.addr, err))
		}
	}
	return errors.Join(errs...)
}

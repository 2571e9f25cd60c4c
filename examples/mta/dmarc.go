package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/dmarc"
	"github.com/smtpkit/smtpkit/spf"
)

// dmarcReportInterval is how often aggregate reports are sent: daily, the
// default interval of RFC 7489 section 7.2 (ri=86400).
const dmarcReportInterval = 24 * time.Hour

// dmarcBackend wraps be with DMARC evaluation at the end of DATA. The SPF
// result comes from the spf wrapper around it; reject is enforced with
// 550, quarantine files local copies into the .Junk folder (Session.Data).
// With -dmarc, a message without a usable From domain is refused like
// p=reject unless -dmarc-deliver-nofrom; a header section over
// -header-maxsize is refused with 552 5.3.4.
func (m *mta) dmarcBackend(be smtp.Backend) (smtp.Backend, error) {
	opts := &dmarc.SessionOptions{
		Evaluator: dmarc.New(&dmarc.Options{
			Resolver:       aLabelResolver{m.resolver},
			MaxHeaderBytes: m.cfg.HeaderMax,
		}),
		AuthServID: m.cfg.Hostname,
		SPF: func(c *smtp.Conn) *authres.SPFResult {
			if o := spf.FromConn(c); o != nil {
				return o.AuthResult()
			}
			return nil
		},
		// -arc-verify alone evaluates DMARC for the Authentication-Results
		// field only; -dmarc enforces.
		Reject:         m.cfg.DMARC,
		Quarantine:     m.cfg.DMARC,
		FailureReports: m.cfg.DMARCForensic,
		DeliverNoFrom:  m.cfg.DMARCDeliverNoFrom,
		SpoolDir:       m.spool.dir,
		Logger:         m.log,
	}
	if m.cfg.ARCVerify {
		opts.Checks = append(opts.Checks, m.arcCheck)
	}
	if m.cfg.DMARCHistory != "" {
		h, err := dmarc.OpenHistory(m.cfg.DMARCHistory, m.cfg.Hostname)
		if err != nil {
			return nil, err
		}
		m.dmarcHistory, opts.History = h, h
	}
	if m.cfg.DMARCReports || m.cfg.DMARCForensic {
		m.dmarcReporter = dmarc.NewReporter(&dmarc.ReporterOptions{
			Email:    "dmarc-reports@" + m.cfg.Hostname,
			Sender:   queueSender{m},
			Resolver: aLabelResolver{m.resolver},
		})
		opts.Reporter = m.dmarcReporter
	}
	return dmarc.WrapBackend(be, opts), nil
}

// queueSender hands report emails to the MTA's own delivery: local
// mailboxes at once, remote ones through the relay queue.
type queueSender struct{ m *mta }

func (q queueSender) Send(_ context.Context, from string, to []string, msg io.Reader) error {
	var local, remote []string
	for _, rcpt := range to {
		at := strings.LastIndexByte(rcpt, '@')
		if at > 0 && q.m.isLocalDomain(normalizeDomain(rcpt[at+1:])) {
			mb, err := q.m.mailboxName(rcpt)
			if err != nil {
				return err
			}
			local = append(local, mb)
		} else {
			remote = append(remote, rcpt)
		}
	}
	_, err := q.m.accept(newMessageID(), from, "", msg, local, remote, nil, nil)
	return err
}

// sendDMARCReports builds and sends the aggregate reports for [begin,
// end) from the history file.
func (m *mta) sendDMARCReports(ctx context.Context, begin, end time.Time) error {
	b, err := os.ReadFile(m.cfg.DMARCHistory)
	if err != nil {
		return fmt.Errorf("dmarc reports: %w", err)
	}
	reports, err := m.dmarcReporter.AggregateReports(bytes.NewReader(b), begin, end)
	if err != nil {
		return fmt.Errorf("dmarc reports: %w", err)
	}
	for _, r := range reports {
		if err := m.dmarcReporter.SendAggregate(ctx, r); err != nil {
			m.log.Warn("DMARC aggregate report not sent", "domain", r.Domain, "err", err)
			continue
		}
		m.log.Info("DMARC aggregate report queued", "domain", r.Domain, "messages", r.Messages, "to", strings.Join(r.URIs, ","))
	}
	return nil
}

// runDMARCReports sends the previous interval's reports at every tick
// until ctx ends.
func (m *mta) runDMARCReports(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := m.sendDMARCReports(ctx, last, now); err != nil {
				m.log.Warn("DMARC reports", "err", err)
			}
			last = now
		}
	}
}

// Package dmarc evaluates received mail against the DMARC policy of its
// From domain (RFC 7489, and as an option RFC 9989, "DMARCbis"), as
// Exim's DMARC support does.
//
// It goes on where Exim stops: it writes OpenDMARC's history file, builds
// and mails aggregate reports itself, and sends failure reports. Record
// parsing is the dmarc package of github.com/emersion/go-msgauth, DKIM
// verification its dkim package; discovery, alignment, policy, reporting
// and the go-smtp wrapper are here. A go-smtp server turns it on by
// wrapping its backend, around the spf package's wrapper:
//
//	srv := smtp.NewServer(dmarc.WrapBackend(spf.WrapBackend(myBackend, nil), &dmarc.SessionOptions{
//		Reject: true,      // p=reject: 550 5.7.1 at the end of DATA
//		SPF:    spfResult, // func(*smtp.Conn) *authres.SPFResult, from spf.FromConn
//	}))
//
// # Evaluating
//
// An Evaluator reads a message once (header section in memory, body
// streamed into the DKIM verifier) and returns a Result:
//
//	e := dmarc.New(&dmarc.Options{Resolver: resolver})
//	r, err := e.Evaluate(ctx, &dmarc.Input{IP: ip, HELO: helo, MailFrom: from, SPF: spfResult}, msg)
//	// r.Status, r.StatusText, r.UsedDomain, r.DomainPolicy, r.AuthResult()
//
// The steps are those of RFC 7489 section 6.6: the Author Domains from
// the From fields (section 6.6.1), read by an RFC 5322 address parser of
// this package that knows every form of the grammar, comments, CFWS and
// the obsolete forms of section 4.4 included (net/mail refuses some), and
// that still takes the domain after each "@" of a From field it cannot
// read; the policy record at _dmarc.<From domain> and else at its
// organisational domain (section 6.6.3; several records, or one with no
// valid p= and no valid rua=, mean no DMARC), identifier alignment of the
// SPF-authenticated domain (MAIL FROM, or HELO for a null reverse-path)
// and of each passing DKIM d= (section 3.1, relaxed or strict), then p=
// or sp= and pct= sampling (section 6.6.4). Organisational domains come
// from the Public Suffix List compiled into golang.org/x/net/publicsuffix,
// or from a list file (SuffixList, Exim's dmarc_tld_file).
//
// A message with several Author Domains, from several From fields or
// several addresses in one, is evaluated for each (at most
// Options.MaxAuthorDomains, default 10), and the strictest result is the
// message's (Result.Stricter), the others in Result.Authors. No From
// field, or one that gives no usable domain, is StatusNoFrom with the
// reason in Result.Err. Where mail readers may differ from the grammar,
// every reading counts: a From field after a bare CR (a line end to
// some readers), a field name with control characters in it, a From
// field with NUL or a bare CR read both by the grammar and leniently,
// and the addresses that encoded words (RFC 2047) in a local part, or in
// a display name hiding control characters, decode to. A From domain
// must be a host name (LDH labels, valid UTF-8 for U-labels); any other
// is no usable domain. A header section over Options.MaxHeaderBytes
// (default 1 MiB, Exim's header_maxsize) is not evaluated: Evaluate
// fails with ErrHeaderTooLarge, as it does with ErrTooManyAuthors. The
// header section is read once into one buffer with an index of four
// bytes a field; memory stays within a small multiple of its size.
//
// With Options.DMARCbis the evaluation follows RFC 9989 instead: records
// and organisational domains are found by the DNS Tree Walk (section
// 4.10), psd= marks public suffix domains, np= sets the policy of
// non-existent subdomains, t=y lowers the policy one step, and pct= is
// ignored.
//
// The SPF result is an input, not something this package computes:
// feature packages of smtpkit do not import each other. Pass the
// authres.SPFResult that the spf package's Outcome.AuthResult returns (or
// any SPF checker's), or nil for none.
//
// # Exim's names
//
//	$dmarc_status                  Result.Status: accept, reject, quarantine,
//	                               none, norecord, nofrom, temperror, off
//	$dmarc_status_text             Result.StatusText
//	$dmarc_used_domain             Result.UsedDomain
//	$dmarc_domain_policy           Result.DomainPolicy
//	$dmarc_alignment_spf           Result.SPFAligned
//	$dmarc_alignment_dkim          Result.DKIMAligned
//	dmarc_tld_file                 LoadSuffixList, Options.SuffixList
//	dmarc_history_file             OpenHistory, SessionOptions.History
//	dmarc_forensic_sender          ReporterOptions.FailureSender
//	control = dmarc_enable_forensic  SessionOptions.FailureReports
//	control = dmarc_disable_verify   (do not wrap the session)
//	authresults (the dmarc part)   Result.AuthResults, FormatAuthResults
//
// Exim's statuses: accept is a DMARC pass; reject, quarantine and none
// are failures under that policy (after sampling); norecord means DMARC
// does not apply; temperror means a DNS failure kept the record, or an
// identifier that would have aligned, from being checked; off means the
// message was not evaluated (an authenticated session).
//
// # History and aggregate reports
//
// History appends one record per message in the format of OpenDMARC's
// HistoryFile, which Exim's dmarc_history_file also writes:
// opendmarc-import(8) loads it into the database from which
// opendmarc-reports(8) sends aggregate reports. Writes are single appends
// under flock(2), safe for concurrent sessions and processes.
//
// A Reporter can do without OpenDMARC: AggregateReports reads the history
// and builds, per policy domain that asked for them (rua=) and period,
// the XML of RFC 7489 Appendix C (IPv6 addresses in full form, as its
// schema wants); SendAggregate gzips it and mails it through a Sender
// with the subject and file name of section 7.2.1.1, to each rua=
// address whose size limit it fits. Report addresses outside the policy
// domain are used only when the destination publishes
// <policy-domain>._report._dmarc.<destination> (section 7.1).
//
// # Failure reports
//
// Failure reports carry message content, and several operators refuse to
// send them on privacy grounds: they are off unless
// SessionOptions.FailureReports is set (Exim: control =
// dmarc_enable_forensic). Reporter.SendFailure sends one RFC 6591
// auth-failure report per ruf= address when the record's fo= asks for it
// (Result.WantsFailureReport), with the same external-destination check;
// ReporterOptions.Redact replaces local parts with "redacted" and sends
// the header section only.
//
// # go-smtp
//
// WrapBackend (or WrapSession) evaluates each message at the end of DATA.
// The message is spooled, in memory up to SessionOptions.SpoolMemory and
// in a temporary file beyond, then passed on to the inner session with
// one Authentication-Results field (RFC 8601) on top: the SPF result, one
// dkim result per signature and the dmarc result with header.from and
// policy.dmarc. Incoming Authentication-Results fields that claim our
// authserv-id (compared without regard to case, after comments and
// folding, control characters dropped, and after a bare CR too) are removed (RFC 8601 section 5), on every path, unevaluated
// messages included. StatusReject is refused with 550 5.7.1 when
// SessionOptions.Reject is set; StatusQuarantine (and reject when Reject
// is off) is marked for the inner session when Quarantine is set, which
// reads it with Quarantined(conn). StatusNoFrom is handled as reject
// unless SessionOptions.DeliverNoFrom is set; StatusTempError is answered
// 451 4.7.1 when Reject or Quarantine is set, unless
// SessionOptions.DeliverTempError is. Of several Author Domains,
// the one whose handling under the options is the strictest decides. A
// header section over the limit is refused with 552 5.3.4, a message
// with too many Author Domains with 550 5.7.1. Messages of authenticated
// sessions pass unevaluated, with an Authentication-Results field that
// says none; a client with no IP address (a Unix socket) is evaluated
// like any other. SessionOptions.Logger gets refusals at info level and a 451
// after a failed evaluation at warn level.
//
//	be := dmarc.WrapBackend(spf.WrapBackend(myBackend, spfPolicy), &dmarc.SessionOptions{
//		Evaluator:  dmarc.New(&dmarc.Options{Resolver: resolver}),
//		AuthServID: hostname,
//		SPF: func(c *smtp.Conn) *authres.SPFResult {
//			if o := spf.FromConn(c); o != nil {
//				return o.AuthResult()
//			}
//			return nil
//		},
//		Reject:     true,
//		Quarantine: true,
//		History:    history,
//	})
//
//	// in myBackend's session, which kept the *smtp.Conn:
//	func (s *session) Data(r io.Reader) error {
//		folder := "INBOX"
//		if dmarc.Quarantined(s.conn) {
//			folder = ".Junk"
//		}
//		...
//	}
package dmarc

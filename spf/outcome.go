package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"
)

// An Outcome is the result of one check with everything Exim makes of it.
type Outcome struct {
	// Result is the result word, Exim's $spf_result.
	Result Result

	// Guessed is set when the domain publishes no record and the
	// best-guess record gave Result, Exim's $spf_result_guessed.
	Guessed bool

	// Identity is the identity checked: MailFrom or HELO.
	Identity Identity

	// Domain is the domain whose record was checked, Exim's
	// $spf_used_domain: the MAIL FROM domain, or the HELO name for the
	// HELO identity and for a null reverse-path.
	Domain string

	// Sender is the MAIL FROM address as given, "" for the null
	// reverse-path and for the HELO identity.
	Sender string

	// HELO is the HELO or EHLO name.
	HELO string

	// IP is the client address.
	IP netip.Addr

	// Receiver is Options.Receiver.
	Receiver string

	// Mechanism is the term that decided ("-all", "ip4:192.0.2.0/24",
	// "include:_spf.example.com"), "default" when none matched, or ""
	// when not known (RFC 7208 section 9.1). It is set for pass, fail,
	// softfail and neutral.
	Mechanism string

	// Explanation is the domain's own explanation of a fail, from its
	// exp= modifier, macro-expanded (RFC 7208 section 6.2), or "".
	Explanation string

	// HeaderComment is a human-readable account of the result, Exim's
	// $spf_header_comment, such as "mx.example.org: domain of
	// a@example.com designates 192.0.2.1 as permitted sender".
	HeaderComment string

	// SMTPComment is text for the SMTP reply, Exim's $spf_smtp_comment:
	// for fail, softfail, neutral and none, the domain's explanation
	// ("example.com explains: ...") or else Options.Explanation
	// expanded; for the other results, HeaderComment. It is printable
	// ASCII, one line.
	SMTPComment string

	// Received is the whole Received-SPF header field (RFC 7208 section
	// 9.1), Exim's $spf_received; its name is X-SPF-Guess when Guessed.
	// It is folded with CRLF TAB and has no final CRLF.
	Received string

	// Err says what went wrong for temperror and permerror, and why a
	// domain could not be used for none; it is for logs. It wraps the
	// *net.DNSError or context error behind a temperror, and ErrSyntax,
	// ErrMultipleRecords, ErrLookupLimit, ErrVoidLookupLimit or
	// ErrNoRecord behind a permerror.
	Err error

	env     macroEnv
	problem string
}

// AuthResult returns the spf method result for an Authentication-Results
// header (RFC 8601 section 2.7.2), with smtp.mailfrom for the MAIL FROM
// identity (postmaster@HELO for a null reverse-path) and smtp.helo. A
// best-guess result is not an SPF result: it is reported as none, with
// the guess in the reason.
func (o *Outcome) AuthResult() *authres.SPFResult {
	r := &authres.SPFResult{Value: o.Result.authres(), Reason: authresSafe(o.problem), Helo: authresSafe(o.HELO)}
	if o.Identity == MailFrom {
		r.From = authresSafe(o.env.sender)
	}
	if o.Guessed {
		r.Value, r.Reason = authres.ResultNone, "best guess "+string(o.Result)
	}
	return r
}

// authresSafe makes a value that came from the client or a record safe
// for authres.Format, which quotes a value with special characters and
// escapes its '"' but not a backslash, so that `\"` would end the
// quoted-string (RFC 8601 section 2.2) and let the rest of the value pose
// as further results. Backslashes, quotes, ";", parentheses (which
// readers of the header split on or take for comments), controls and
// invalid UTF-8 become "?", so the value needs no escape at all.
func authresSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < ' ' || r == 0x7f || r == utf8.RuneError:
			return '?'
		case strings.ContainsRune(`\";()`, r):
			return '?'
		}
		return r
	}, s)
}

// describe fills in the texts of a finished outcome.
func (c *Checker) describe(o *Outcome) {
	if o.Err != nil && (o.Result == TempError || o.Result == PermError) {
		o.problem = problemText(o.Err)
	}
	o.HeaderComment = headerComment(o)
	switch o.Result {
	case Fail, SoftFail, Neutral, None:
		if o.Explanation != "" {
			o.SMTPComment = replySafe(o.Domain + " explains: " + o.Explanation)
		} else {
			o.SMTPComment = c.defaultExplanation(o)
		}
	default:
		o.SMTPComment = replySafe(o.HeaderComment)
	}
	o.Received = receivedSPF(o)
}

// problemText is a short, address-free description of what went wrong,
// for the problem key of Received-SPF and the header comment.
func problemText(err error) string {
	var de *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "check timed out"
	case errors.Is(err, context.Canceled):
		return "check canceled"
	case errors.Is(err, ErrInvalidIP):
		return ErrInvalidIP.Error()
	case errors.As(err, &de):
		switch {
		case de.IsTimeout:
			return "DNS timeout"
		case de.IsTemporary:
			return "DNS server failure"
		case de.IsNotFound:
			return "no such domain"
		}
		return "DNS error"
	}
	// The evaluator's errors wrap short sentinels such as "lookup limit
	// reached"; the innermost one is the problem.
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return err.Error()
}

// headerComment words the result as RFC 7208 section 9.1's examples do.
func headerComment(o *Outcome) string {
	var b strings.Builder
	if o.Receiver != "" {
		b.WriteString(o.Receiver)
		b.WriteString(": ")
	}
	who := "domain of " + o.env.sender
	if o.Identity == HELO {
		who = "domain of " + o.HELO
	}
	if o.Guessed {
		who = "best guess record for " + who
	}
	ip := o.IP.String()
	switch o.Result {
	case Pass:
		b.WriteString(who + " designates " + ip + " as permitted sender")
	case Fail:
		b.WriteString(who + " does not designate " + ip + " as permitted sender")
	case SoftFail:
		b.WriteString(strings.Replace(who, "domain of ", "domain of transitioning ", 1) +
			" does not designate " + ip + " as permitted sender")
	case Neutral:
		b.WriteString(ip + " is neither permitted nor denied by " + who)
	case None:
		if errors.Is(o.Err, ErrInvalidDomain) {
			b.WriteString(who + " is not a domain that can be checked")
		} else {
			b.WriteString(who + " does not designate permitted sender hosts")
		}
	case TempError:
		b.WriteString("error in processing during lookup of " + who + ": " + o.problem)
	default:
		b.WriteString("permanent error in processing " + who + ": " + o.problem)
	}
	return b.String()
}

// Package spf checks senders with the Sender Policy Framework (RFC 7208)
// the way Exim's SPF support does, on top of blitiri.com.ar/go/spf, and
// plugs the check into a github.com/emersion/go-smtp server.
//
// # Checking
//
// A Checker evaluates check_host() (RFC 7208 section 4) for the MAIL FROM
// identity (section 2.4; a null reverse-path is checked as
// postmaster@<HELO name>) or the HELO identity (section 2.3), for IPv4 and
// IPv6 clients:
//
//	c := spf.New(&spf.Options{Resolver: resolver, Receiver: "mx.example.org"})
//	o := c.CheckMailFrom(ctx, clientIP, heloName, mailFrom)
//	// o.Result, o.HeaderComment, o.Received, o.SMTPComment, o.AuthResult()
//
// Options hold the resolver (any *net.Resolver), the limits of section
// 4.6.4 (10 DNS-querying terms, 2 void lookups, each configurable) and a
// time limit, after which the result is temperror. Names are always
// queried fully qualified, so a resolver's search list never applies.
//
// What Exim calls it, and where it is here:
//
//	spf = fail : softfail         (ACL condition)  Condition, Policy.Reject and Policy.Defer
//	spf_guess = ...               (ACL condition)  Options.Guess
//	spf_guess                     (main option)    Options.GuessRecord, DefaultGuess
//	spf_smtp_comment_template     (main option)    Options.Explanation, DefaultExplanation
//	$spf_result                                    Outcome.Result
//	$spf_result_guessed                            Outcome.Guessed
//	$spf_used_domain                               Outcome.Domain
//	$spf_header_comment                            Outcome.HeaderComment
//	$spf_received                                  Outcome.Received
//	$spf_smtp_comment                              Outcome.SMTPComment
//	${lookup {user@domain} spf {ip}}               Checker.Lookup (IPv6 too)
//
// # Result words and conditions
//
// Results are Exim's words: pass, fail, softfail, none, neutral,
// permerror and temperror (RFC 7208 section 2.6), with the deprecated
// aliases err_perm and err_temp accepted by ParseResult and
// ParseCondition. A Condition is an Exim list such as "fail : softfail"
// or "!pass", tried left to right; the first item that matches makes it
// true, and no match is false. A list that does not parse is an error.
//
// # Best guess
//
// With Options.Guess, a domain that publishes no SPF record is checked
// against a record of our own (Exim's spf_guess, by default
// "v=spf1 a/24 mx/24 ptr ?all"). The Outcome has Guessed set, its header
// is X-SPF-Guess instead of Received-SPF, and its Authentication-Results
// value stays none, since the domain said nothing.
//
// # Outputs
//
// Outcome.Received is the Received-SPF header field of RFC 7208 section
// 9.1, with the key-value pairs client-ip, envelope-from, helo, receiver,
// identity, mechanism (when known) and problem (for errors), to be added
// at the top of the message. Outcome.AuthResult gives the spf method for
// an Authentication-Results header (RFC 8601) through
// github.com/emersion/go-msgauth/authres. For a fail, the domain's exp=
// explanation (section 6.2) is fetched and its macros expanded (section
// 7), which blitiri does not do; Outcome.SMTPComment carries it, or the
// configured default, for the reply text.
//
// # go-smtp
//
// WrapBackend (or WrapSession, for one session) runs the check at MAIL
// FROM, with the client address of the connection and the HELO name go-smtp
// saw, and answers per a Policy: Reject gives 550 and Defer 451, with the
// enhanced status codes of RFC 7372 section 3.2 (X.7.23 SPF validation
// failed, X.7.24 SPF validation error) and the SMTP comment as text. With
// Policy.Domains the check waits for a recipient in one of those domains,
// as an Exim RCPT ACL can. The inner session gets the outcome with
// FromConn, say to add Outcome.Received in Data:
//
//	be := spf.WrapBackend(myBackend, &spf.Policy{
//		Checker: spf.New(&spf.Options{Receiver: hostname}),
//		Reject:  spf.MustParseCondition("fail"),
//		Defer:   spf.MustParseCondition("temperror"),
//	})
//	srv := smtp.NewServer(be)
//
//	// in myBackend's session, which kept the *smtp.Conn:
//	func (s *session) Data(r io.Reader) error {
//		if o := spf.FromConn(s.conn); o != nil {
//			header := o.Received + "\r\n"
//			...
//		}
//	}
package spf

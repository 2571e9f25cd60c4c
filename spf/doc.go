// Package spf checks senders with the Sender Policy Framework (RFC 7208),
// as Exim's SPF support does.
//
// A go-smtp server turns it on by wrapping its backend: the check runs at
// MAIL FROM, and the session reads the outcome.
//
//	srv := smtp.NewServer(spf.WrapBackend(myBackend, &spf.Policy{
//		Reject: spf.MustParseCondition("fail"), // 550 5.7.23
//	}))
//	// in the session's Data: o := spf.FromConn(conn); o.Received, o.AuthResult()
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
// # The evaluator
//
// check_host() is this package's own, written from RFC 7208 sections 4
// to 8 (it used to run on blitiri.com.ar/go/spf, which is lenient on
// purpose). Wrapping that library in a resolver that validates records
// could make a bad record a permerror, but not make it evaluate the
// records blitiri refuses (a ":" or "/" inside a domain-spec, as in
// "a:foo:bar/baz.example.com"), nor give %{p} inside mechanisms, nor say
// which term decided without reading its trace text; so the package owns
// the evaluator. It is strict:
//
//   - Every record evaluated, included and redirect= records too, is
//     parsed whole against the ABNF of section 12 before any term is
//     evaluated: a syntax error anywhere is permerror even after a term
//     that would match (section 4.6). That covers unknown mechanisms,
//     characters outside printable ASCII (only a space separates terms),
//     CIDR lengths out of range or with leading zeros, a qualifier on a
//     modifier, redirect= or exp= given twice or with an empty or bad
//     domain-spec, and bad macro syntax in any modifier, unknown ones
//     included (section 6 and Appendix A).
//   - A domain-spec must end in a macro or in "." and a toplabel that is
//     not all digits and neither starts nor ends with "-" (section 7.1),
//     and its literal labels must not be empty or over 63 octets; a
//     single-label domain-spec is a syntax error. Anything else printable
//     is allowed, ":" and "/" included. The macro letters c, r and t
//     are refused outside an explanation (section 7.2).
//   - A target-name that a macro expanded into something that cannot be
//     queried (an empty or overlong label) makes a, mx, ptr and exists
//     not match, as section 4.3 treats such a <domain>; for include and
//     redirect= it is permerror (section 5.2, section 6.1).
//   - %{p} works in mechanisms and modifiers as in explanations: a
//     validated name of the client, below <domain> if there is one, from
//     at most ten PTR names (section 7.3, section 4.6.4). The client's
//     PTR names are looked up and validated once per check, for every
//     ptr term and %{p} of every domain.
//   - The limits of section 4.6.4: Options.LookupLimit DNS-querying terms
//     (include, a, mx, ptr, exists, redirect=), Options.VoidLookupLimit
//     lookups that give NXDOMAIN or no records, at most ten MX hosts per
//     mx mechanism (more is permerror), and at most ten PTR names (more
//     are ignored). a queries A records for an IPv4 client and AAAA for
//     IPv6 only (section 5.3), exists always A (section 5.7). A DNS
//     error other than "no such name" or "no records" is temperror,
//     except in ptr, where it does not match (section 5.5).
//   - A domain with U-labels in MAIL FROM or HELO (SMTPUTF8) is checked,
//     and expanded in macros, as its A-labels (RFC 8616 section 3); one
//     that is no valid IDN gives none. The HELO name is taken whole, so
//     one with an "@" in it is no domain and gives none too.
//   - Macro expansion is bounded: a domain-spec keeps, as it expands,
//     only the right end that truncation to 253 octets can keep (section
//     7.3; a trailing dot is not counted), and an explanation only what
//     the reply can carry, so a record that repeats a long macro
//     thousands of times costs no memory.
//
// The openspf RFC 7208 test suite runs against the package (see
// testdata/PROVENANCE.md); one case is answered otherwise, on purpose:
// the nibbles of %{i} for an IPv6 client are lower case, as in the
// example of section 7.4, where the suite wants the case in which the
// address was written (a netip.Addr has none). The same holds for the
// openspf RFC 4408 suite.
//
// The Resolver gets every name as the record spells it, made fully
// qualified. A *net.Resolver refuses names with characters other than
// letters, digits, "-", "_" and "." (such as "foo:bar/baz.example.com")
// as "no such host", so with it such a mechanism evaluates as a void
// lookup; a Resolver that queries any name makes it match as the RFC
// intends.
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
// github.com/emersion/go-msgauth/authres, with the client's HELO name and
// address made safe for it (authres.Format does not escape a backslash,
// so `\"` could end a quoted value and add results of the client's
// choosing; backslashes, quotes, ";", parentheses and controls become
// "?"). For a fail, the domain's exp=
// explanation (section 6.2) is fetched and its macros expanded (section
// 7); Outcome.SMTPComment carries it, or the configured default, for the
// reply text.
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

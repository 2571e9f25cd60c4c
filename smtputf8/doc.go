// Package smtputf8 is internationalised mail (RFC 6530, 6531, 6532, 6533)
// for go-smtp servers and smtpkit's client engine, with Exim's
// conversions.
//
// It is what Exim calls SMTPUTF8 (smtputf8_advertise_hosts, the utf8_*
// expansion operators, $message_smtputf8). A go-smtp server turns it on
// by wrapping its backend:
//
//	srv := smtp.NewServer(smtputf8.WrapBackend(myBackend))
//	srv.EnableSMTPUTF8 = true
//	// in the session's Data: tx, _ := smtputf8.FromConn(conn)
//
// # Conversions
//
// As Exim's expansion operators, with its test vectors (local part "ل"
// gives "xn--ghb"):
//
//	${utf8_domain_to_alabel:...}       DomainToALabel
//	${utf8_domain_from_alabel:...}     DomainFromALabel
//	${utf8_localpart_to_alabel:...}    LocalPartToALabel
//	${utf8_localpart_from_alabel:...}  LocalPartFromALabel
//
// Domains go through IDNA2008 lookup processing with the UTS #46
// non-transitional mapping (golang.org/x/net/idna), in a strict profile:
// DNS lengths, Bidi and joiner rules, and the code points RFC 5892
// section 3 derives as PVALID or CONTEXTO, which x/net/idna alone does not
// check (it keeps symbols, old Hangul jamo, the marks of the musical
// blocks). U+1E9E ẞ is lower-cased to ß (RFC 5895) before the mapping,
// which would fold it to "ss": "straẞe.de" is "straße.de",
// xn--strae-oqa.de (Exim 4.96 on Debian 12 says strasse.de, from older
// UTS #46 tables). ASCII domains are returned as
// they are, never lower-cased nor checked, so "_25._tcp" names are safe.
// Where Exim (libidn2) is laxer, this package refuses: an empty label
// ("a..b.ü"), a symbol in an A-label ("xn--n3h.net"). A local part becomes
// "xn--" and the RFC 3492 Punycode of the whole local part, dots included
// and case kept (this package's own codec: idna.Punycode splits on dots).
//
// DNS lookups always use A-labels: callers convert with DomainToALabel
// before asking SPF, DMARC, MX or TLSA questions; the other smtpkit
// packages take A-label names.
//
// # Receiving
//
// WrapBackend (or WrapSession) enforces RFC 6531 on a go-smtp server that
// has EnableSMTPUTF8 set: a non-ASCII address without the SMTPUTF8 MAIL
// parameter gets 553 5.6.7 (go-smtp accepts it), and a non-ASCII address
// must be well-formed UTF-8 without C1 controls and an RFC 6531 Mailbox
// (CheckAddress; 553 5.1.7 for MAIL, 5.1.3 for RCPT). Addresses are passed
// on as received: compare them with Equal, or index them by Key (local
// part in NFC, domain as lower-case A-labels), and never rewrite them. The
// inner session reads the transaction with FromConn: Transaction.UTF8 is
// Exim's $message_smtputf8, Transaction.With the Received header's "with"
// value (UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA, RFC 6531; ESMTP... for
// the others):
//
//	srv := smtp.NewServer(smtputf8.WrapBackend(myBackend))
//	srv.EnableSMTPUTF8 = true
//	// in myBackend's session, Data:
//	tx, _ := smtputf8.FromConn(conn) // conn: the *smtp.Conn given to NewSession
//	received := "... with " + tx.With + " ..."
//
// Wrapping order does not matter for other smtpkit wrappers: each finds its
// own Session through Unwrap.
//
// # Sending
//
// The client engine sends SMTPUTF8 when an address is not ASCII or
// Envelope.UTF8 is set; set it when the header holds UTF-8
// (HeaderNeedsUTF8), which a message received with SMTPUTF8 may. Call
// Send instead of Conn.Send to apply the downgrade rules to a server
// without SMTPUTF8: ASCII local parts with UTF-8 domains go with A-label
// domains; anything else fails its recipient with 553 5.6.7
// (ReplyCannotDowngrade), and nothing is sent when the sender or header
// cannot be:
//
//	c, err := client.Dial(ctx, mx, opts)
//	env := &client.Envelope{From: from, To: to}
//	env.UTF8, _ = smtputf8.HeaderNeedsUTF8(bytes.NewReader(msg))
//	res, err := smtputf8.Send(ctx, c, env, bytes.NewReader(msg))
//	// res.Recipients: one per env.To, as given; PermFailed ones get a DSN
//
// The engine's hooks cannot do this: the envelope is fixed before they
// run. ALabelAddress converts one address the same way.
//
// # Delivery status notifications
//
// A DSN for a non-ASCII recipient names it with DSNAddress: "rfc822;"
// for ASCII, otherwise RFC 6533's "utf-8;" address type with
// utf-8-addr-xtext (EncodeXtext) in message/delivery-status, or
// utf-8-addr-unitext (EncodeUnitext) in message/global-delivery-status,
// the type RFC 6533 gives DSNs of internationalised messages. DecodeXtext
// reads either form (ORCPT, DSN fields).
package smtputf8

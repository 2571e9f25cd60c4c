// Package front is a protocol front for an unmodified go-smtp server
// (github.com/emersion/go-smtp), with which the SMTP extensions that
// go-smtp cannot offer (PRDR, PIPECONNECT) plug in.
//
// It owns the client connection and TLS, and drives the go-smtp server in
// LMTP mode over an in-memory connection, one per client, rewriting only
// what SMTP extensions change:
//
//	fs := front.New(smtp.NewServer(myBackend), &front.Options{
//		Extensions: []front.Extension{prdr.Server{}, &pipeconnect.Server{}},
//	})
//	go fs.Serve(listener) // instead of the go-smtp server's Serve
//
// go-smtp cannot advertise EHLO keywords of its own, refuses MAIL
// parameters it does not know, and gives per-recipient replies after the
// data only in LMTP mode (RFC 2033 section 4.2). PRDR and PIPECONNECT need
// all three; the front makes them possible without a fork:
//
//   - EHLO and HELO become LHLO for go-smtp and its reply is translated
//     back: the front's hostname first, a one-line reply to HELO, STARTTLS
//     while in plaintext (RFC 3207), REQUIRETLS after TLS when the inner
//     server has EnableREQUIRETLS (RFC 8689), AUTH only after TLS unless
//     allowed (RFC 4954 section 4), and the keywords of the extensions
//     ([Advertiser]);
//   - MAIL parameters an extension claims ([MailParamer]) are taken out
//     before go-smtp sees the command;
//   - the replies after the data (the final dot, RFC 5321 section
//     4.1.1.4, or BDAT LAST, RFC 3030) are go-smtp's LMTP statuses, one
//     per recipient; a [DataReplier] shapes them (PRDR), otherwise the
//     client gets one reply;
//   - input before the banner is tolerated, processed with the banner held
//     back, or refused, as an [EarlyInputPolicy] says (PIPECONNECT);
//   - replies are buffered and written when no more client input is
//     waiting (RFC 2920 section 3.1): a pipelined group gets one write, and
//     early input gets the banner and its replies in one write.
//
// Everything else passes through: go-smtp's Backend, sessions, limits,
// AUTH mechanisms, SMTPUTF8, BINARYMIME, DSN work as configured.
//
// # Using it
//
//	inner := smtp.NewServer(backend) // as usual: Domain, MaxMessageBytes...
//	fs := front.New(inner, &front.Options{
//		TLSConfig:  tlsConfig,           // STARTTLS, and ServeTLS for port 465
//		Extensions: []front.Extension{ /* prdr.Server{}, &pipeconnect.Server{} */ },
//	})
//	go fs.Serve(listener)
//	...
//	fs.Shutdown(ctx)
//
// New takes the inner server over: it sets LMTP, moves TLSConfig to the
// front and turns off go-smtp's line limit (the front enforces it, on
// commands and on the message data: see Limits). Serve the front, never
// the inner server.
//
// # What sessions see
//
// The session gets a *smtp.Conn whose Conn() is the front's in-memory
// connection. That net.Conn has RemoteAddr() and LocalAddr() of the
// client connection, NetConn() returning the client connection (a
// *tls.Conn after TLS) and ConnectionState() returning its TLS state, the
// methods *tls.Conn has. (*smtp.Conn).TLSConnectionState cannot see
// through the front; ask the connection itself:
//
//	func tlsState(c net.Conn) (tls.ConnectionState, bool) {
//		for c != nil {
//			if s, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
//				st := s.ConnectionState()
//				return st, st.HandshakeComplete // false: no TLS
//			}
//			u, ok := c.(interface{ NetConn() net.Conn })
//			if !ok {
//				break
//			}
//			c = u.NetConn() // a wrapper such as a PROXY protocol connection
//		}
//		return tls.ConnectionState{}, false
//	}
//
//	st, ok := tlsState(conn.Conn()) // conn: the *smtp.Conn given to NewSession
//
// [FromConn] gives the front's [Conn]: the MAIL parameters claimed by
// extensions ([Conn.MailParam]) and the recipients.
//
// After STARTTLS the front starts a new in-memory connection, so the
// backend's NewSession runs again and sees TLS (RFC 3207 section 4.2:
// nothing learnt before TLS is kept). The session is created at the first
// EHLO or HELO; a later EHLO resets it.
//
// # Per-recipient results without PRDR
//
// Behind the front, go-smtp calls the session's LMTPData (or Data, whose
// status then applies to every recipient). A session may give each
// recipient its own status, but a client that did not request PRDR reads
// one reply for all. When the statuses are of the same class (all 2xx,
// all 4xx or all 5xx) the client gets the first; when they differ, the
// client gets "451 4.3.0" and will send the whole message again, and the
// front logs an error: nothing is dropped silently, but copies the
// session already delivered will arrive twice. A session should therefore
// answer uniformly unless per-recipient replies reach the client: with
// the prdr package, prdr.Requested tells it.
//
// # Limits
//
// Every bound has a default and an Options field; hitting one gives a
// reply, then the connection is closed unless said otherwise:
//
//   - a command line over Limits.LineLength: "500 5.5.2";
//   - a line of DATA content over Limits.DataLineLength (CRLF included;
//     default the inner server's MaxLineLength): what go-smtp does on its
//     own, the session's reader fails with smtp.ErrTooLongLine, the
//     client gets the session's reply, then "500 5.4.0"; the rest of the
//     line is not read. BDAT chunks have no line limit (RFC 3030);
//   - more than Limits.NonMailCommands commands without a transaction:
//     "421 4.7.0";
//   - more than Limits.ProtocolErrors lines that are no command (an
//     empty line, an unknown verb), each answered 500 or 501 as go-smtp
//     answers them: "500 5.5.1", as go-smtp and Exim close;
//   - a command line not complete within Timeouts.Command, a DATA line
//     within Timeouts.Data (per line, not per read: trickled input does
//     not renew them), a message (DATA, or the BDAT chunks and commands of
//     one transaction) within Timeouts.Message: "421 4.4.2";
//   - input pipelined after STARTTLS: "554 5.5.0" (RFC 3207 section 5);
//   - a BDAT chunk past the inner server's MaxMessageBytes is read and
//     dropped with "552 5.3.4", the connection stays open; BDAT outside a
//     transaction gets go-smtp's answer at once and its chunk is read and
//     dropped.
//
// Serve retries temporary accept errors (a process out of descriptors,
// EMFILE; ENFILE, ENOBUFS, ECONNABORTED) with a backoff from 5 ms to 1
// s, as net/http does, rather than return. Every session runs on one
// goroutine of the front and one of go-smtp, and both end with the
// connection; buffers live only as long as the connection (8 KiB in, 4
// KiB out, besides go-smtp's own).
package front

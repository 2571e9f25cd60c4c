// Package client is smtpkit's outbound SMTP engine: a pipelining client
// that hands a message to the next server in as few round trips as the
// server allows.
//
// The feature packages (prdr, pipeconnect, requiretls, dane, ocsp,
// socks5, smtputf8) plug into its sending side without importing each
// other. Sending a message:
//
//	c, err := client.Dial(ctx, "mx.example.org:25", &client.Options{Hostname: "relay.example.net"})
//	res, err := c.Send(ctx, &client.Envelope{From: from, To: to}, msg)
//	// res.Recipients: Accepted, TempFailed or PermFailed, with the server's reply
//
// go-smtp's Client waits for every reply (4.5 + n round trips for a
// message to n recipients), cannot add MAIL parameters, cannot read a 353,
// and says "EHLO localhost" before STARTTLS. This engine:
//
//   - dials through any [Dialer] (the shape of
//     golang.org/x/net/proxy.ContextDialer), reads the banner, says EHLO
//     with the caller's name (HELO when EHLO is refused, RFC 5321 section
//     3.2), starts TLS by [TLSPolicy] with the caller's *tls.Config, so
//     VerifyConnection callbacks (DANE, OCSP) apply (RFC 3207), says EHLO
//     again and authenticates with a go-sasl client (RFC 4954);
//   - bounds every step by the timeouts of RFC 5321 section 4.5.3.2
//     ([Timeouts]) and by the context, which interrupts I/O at once;
//   - with PIPELINING (RFC 2920) writes MAIL, every RCPT and DATA in one
//     packet and matches the replies in order; with CHUNKING (RFC 3030)
//     the first BDAT chunk rides in the same packet, so a message costs
//     one round trip; without either, it waits for each reply;
//   - sends DATA with line ends normalised to CRLF (no bare CR or LF ever
//     leaves, RFC 5321 section 2.3.8) and dot-stuffing (section 4.5.2), or
//     BDAT chunks, byte for byte with BINARYMIME; SIZE (RFC 1870) and
//     BODY=8BITMIME (RFC 6152) where advertised, 8-bit content found out
//     without holding the message in memory ([BodyAuto]); SMTPUTF8 (RFC
//     6531) for internationalised addresses;
//   - reports per recipient ([Result]): accepted, temporarily or
//     permanently failed, with the server's reply as *smtp.SMTPError
//     (enhanced status codes, RFC 3463, parsed), so a queue retries only
//     what failed;
//   - reuses a connection for many messages (RSET when a transaction was
//     left open, pipelined with the next MAIL), and counts them
//     ([Conn.Messages]); [Conn.SendBatch] sends a queue's worth without
//     waiting between messages: with PIPELINING and CHUNKING, each
//     message's RSET, envelope and BDAT LAST follow the one before at
//     once, and the replies are read as they come (RFC 2920 section 3.1);
//   - reads replies defensively: line and line-count limits ([Limits]),
//     one code per reply, garbage refused, never a hang (a deadline on
//     every read) or a panic (FuzzReadReply);
//   - hands a connection over to a go-smtp *smtp.Client for anything else
//     ([Conn.SMTPClient]).
//
// # Results and errors
//
// A server's 4xx or 5xx reply to a command of a message is a result, not
// an error: Send returns it in [RecipientResult.Reply]. Send returns an
// error when the connection failed (I/O, timeout, context, 421, protocol
// error; the connection is then unusable and the recipients without a
// definite reply are TempFailed), or, wrapping [ErrRefused], when the
// message was refused before MAIL. Dial returns an error wrapping the
// server's *smtp.SMTPError when it refused the session, or
// [ErrTLSRequired]. [DialSend] is Dial and Send in one call, with the
// Result of Send even when the session could not be opened.
//
// # Plugging in a feature
//
// A feature package provides a value that implements [Extension] (a Name)
// and any of these small interfaces; the caller lists it in
// Options.Extensions:
//
//   - [MailChecker]: refuse a message the connection cannot carry
//     (REQUIRETLS without TLS, RFC 8689);
//   - [MailParamer]: add MAIL parameters (PRDR, REQUIRETLS, RET, ENVID);
//   - [DataReplyReader]: read a multi-reply end of data (PRDR's 353, one
//     reply per recipient, a final reply);
//   - [EarlyPipeliner]: send EHLO (and STARTTLS) before the banner, and
//     learn the outcome to keep a capability cache (PIPECONNECT);
//   - [EarlyEnveloper]: an EarlyPipeliner that returns the cached
//     capabilities, so that [DialSend] writes the first message's
//     envelope with the EHLO, before its reply; a stale cache or a
//     refusal before the message left gives [ErrEarlyFailed] and nothing
//     delivered.
//
// TLS checks plug in through Options.TLSConfig (VerifyConnection) and
// proxies through Options.Dialer; neither needs a hook.
//
// A Conn is not safe for concurrent use; a relay runs one per goroutine.
package client

// Package prdr implements PRDR, Per-Recipient Data Responses
// (draft-hall-prdr-00, expired; Exim's prdr_enable, acl_smtp_data_prdr
// and hosts_try_prdr), on the server and the client side.
//
// After the message data, a server that was asked for PRDR answers "353",
// then one reply per recipient, then a final reply, so that content
// checks can accept the message for some recipients and refuse it for
// others in one transaction.
//
// # Server: a go-smtp backend with PRDR
//
// go-smtp cannot advertise PRDR nor accept its MAIL parameter; the front
// package can. Put the go-smtp server behind a front with [Server] in its
// extensions, and decide per recipient in the session's LMTPData (go-smtp's
// LMTPSession interface, which the front always uses):
//
//	inner := smtp.NewServer(backend)
//	fs := front.New(inner, &front.Options{Extensions: []front.Extension{prdr.Server{}}})
//	go fs.Serve(listener)
//
//	func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
//		msg, err := io.ReadAll(r)
//		...
//		for _, rcpt := range s.rcpts {
//			if prdr.Requested(s.conn.Conn()) {
//				st.SetStatus(rcpt, s.deliver(rcpt, msg)) // its own answer
//			} else {
//				st.SetStatus(rcpt, uniformResult)          // the same for all
//			}
//		}
//		return nil
//	}
//
// With PRDR requested and two or more recipients accepted at RCPT, the
// client gets 353, "250 PRDR R=<addr> acceptance" or the session's error
// for each, and a final 250 when any recipient accepted ("message accepted
// for some recipients"), 450 when none did but some were deferred, 550
// when all were refused. With one recipient, or without PRDR, the client
// gets one reply; a session that nevertheless answers differently per
// recipient makes it a 451 (see the front package). A quota checked at
// data time, say, becomes a per-recipient refusal under PRDR (452 4.2.2
// for the full mailbox, 250 for the others) and a uniform answer without.
//
// # Client
//
// List [Client] in client.Options.Extensions. Send then requests PRDR when
// the server offers it and the message has two or more recipients, and
// reports each recipient's own result in client.Result.
package prdr

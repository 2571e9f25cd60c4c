// Package requiretls is SMTP REQUIRETLS (RFC 8689), on the server and
// the client side.
//
// With REQUIRETLS a sender asks that every hop be TLS with an
// authenticated server; a TLS-Required: No header field asks the
// opposite. Exim shipped a draft of it as experimental REQUIRETLS
// (withdrawn in 2019); this follows the RFC, as mox and Postfix 3.11 do.
// A go-smtp server turns it on by wrapping its backend:
//
//	srv := smtp.NewServer(requiretls.WrapBackend(myBackend, nil))
//	srv.EnableREQUIRETLS = true
//	srv.TLSConfig = tlsConfig // REQUIRETLS is offered after STARTTLS
//
// # Receiving
//
// go-smtp advertises REQUIRETLS after STARTTLS with Server.EnableREQUIRETLS
// but accepts the MAIL parameter on plaintext too. WrapBackend (or
// WrapSession) refuses it there with 523 5.7.10 (ReplyTLSNeeded), finding
// TLS through the connection's NetConn()/ConnectionState() chain, and
// records the requirement. The inner session reads it with FromConn:
// Status.Required must go into the spool with the message (RFC 8689
// section 4.1) and selects Delivery for every onward hop; Status.TLSOptional
// (TLS-Required: No, all such fields, and no REQUIRETLS) selects
// RelaxedOptions, and Status.Comment marks the Received header and the
// log. Local policy may require TLS for a message that did not ask, as
// Exim's "control = requiretls": Policy.Upgrade at MAIL, Require later.
//
//	srv := smtp.NewServer(requiretls.WrapBackend(myBackend, &requiretls.Policy{}))
//	srv.EnableREQUIRETLS = true
//	srv.TLSConfig = tlsConfig
//	// in myBackend's session, Data, after reading the message:
//	st, _ := requiretls.FromConn(conn)
//	spoolEntry.RequireTLS, spoolEntry.TLSOptional = st.Required, st.TLSOptional
//
// TLSRequiredNo reads the header of a spooled message again if needed.
//
// # Onward delivery
//
// A Delivery is a client.Extension for the connections that carry
// REQUIRETLS messages to one host. It refuses such a message before MAIL,
// nothing of it sent, unless the host came from a DNSSEC-secure MX answer
// or an MTA-STS policy, the session is TLS, the EHLO after STARTTLS
// offered REQUIRETLS (else 550 5.7.30), and the server is authenticated by
// PKIX with the host name or by the caller's hook (DANE lives in the dane
// package; its verdict plugs into Delivery.Authenticated) (else 550
// 5.7.10); then it adds the REQUIRETLS MAIL parameter. Delivery.ClientOptions
// makes Dial's TLS mandatory, so a failed handshake is never followed by
// cleartext:
//
//	d := &requiretls.Delivery{Host: mxName, InsecureMX: !mxAnswerSecure}
//	c, err := client.Dial(ctx, addr, d.ClientOptions(baseOptions))
//	// err: try the next MX host
//	res, err := c.Send(ctx, env, msg)
//	if errors.Is(err, requiretls.ErrNotQualified) {
//		// try the next MX host; when none is left, fail each recipient
//		// with its res.Recipients[i].Reply (5.7.30 or 5.7.10) and a DSN
//	}
//
// The DSN of a REQUIRETLS message returns only the header section
// (DSNContent, RET=HDRS behaviour, RFC 8689 section 5) and is itself sent
// through a Delivery. A connection may carry both kinds of message with
// Delivery.Requires telling them apart.
//
// A TLS-Required: No message (Status.TLSOptional) is sent with
// RelaxedOptions: STARTTLS when offered, any certificate accepted, DANE
// and MTA-STS failures ignored (RFC 8689 section 4.2.2); the caller leaves
// its DANE and MTA-STS extensions out of the copy.
//
// When an MX host came from an insecure DNS answer, set InsecureMX: it is
// the caller who knows how the MX was found; a smarthost configured by
// name leaves it false.
package requiretls

// Package events is Exim's event_action for Go: delivery and connection
// events as a typed stream, with a veto where Exim has one.
//
// Sinks record them (log/slog here, a SQL table in package
// events/sqlsink). With the client engine (smtpkit/client):
//
//	em := &events.Emitter{Handler: events.LogSink(logger, slog.LevelInfo)}
//	ctx = events.NewContext(ctx, events.Event{MessageID: id, Sender: from, Host: host})
//	c, err := client.Dial(ctx, addr, &client.Options{Dialer: em.Dialer(nil)})
//	// after Send: em.Recipient(ctx, rcpt, reply) per recipient, em.Complete(ctx)
//
// # What Exim calls it
//
// Exim's transport option event_action is expanded at fixed points of a
// delivery with $event_name, $event_data, $event_defer_errno and the
// delivery's variables ($message_exim_id, $sender_address, $local_part,
// $domain, $host, $host_address, $host_port, $sending_ip_address,
// $tls_out_peercert, $tls_out_dane...) (Exim specification, chapter
// "Events"). A non-empty result vetoes tcp:connect (no connection),
// tls:cert (verification refused) and smtp:connect (connection closed);
// other events ignore it. Here:
//
//   - [Name] constants spell the events as Exim does ([TCPConnect],
//     [SMTPConnect], [TLSCert], [TCPClose], [MsgDelivery],
//     [MsgRcptHostDefer], [MsgHostDefer], [MsgFailDelivery],
//     [MsgComplete], [MsgFailInternal]);
//   - an [Event] carries the fields above, Go-named;
//   - a [Handler] returns an error to veto; [Chain] runs several in order,
//     the first veto winning;
//   - an [Emitter] runs the handlers synchronously, bounded by a deadline
//     (Emitter.Timeout, and the caller's context for vetoable events), so
//     a stuck handler never holds a delivery: at the deadline a vetoable
//     event counts as vetoed (the delivery defers), any other goes on;
//   - [LogSink] writes one slog line per event; events/sqlsink records
//     deliveries and deferrals in SQLite or PostgreSQL in batches that
//     never hold up a delivery.
//
// # Wiring it into the client engine and a queue
//
// Nothing in smtpkit imports events, and events imports no feature
// package: the adapters are plain values the caller plugs in.
//
//   - Before dialing a host, put the delivery's context in a template:
//     ctx = events.NewContext(ctx, events.Event{MessageID: id, Sender:
//     from, Router: "dnslookup", Transport: "remote_smtp", Host: host,
//     HostAddr: addr}). Every event raised under ctx carries it.
//   - client.Options.Dialer = em.Dialer(forward) (forward: nil, or a
//     SOCKS5 dialer): tcp:connect (veto: no connection attempt),
//     smtp:connect when the banner arrives (veto: the connection is
//     closed before EHLO; Dial fails) and tcp:close.
//   - client.Options.TLSConfig.VerifyConnection =
//     em.VerifyConnection(ctx, previous): tls:cert per certificate (veto:
//     the handshake fails; Dial fails under TLSRequired, and under
//     TLSOpportunistic the engine connects again in plaintext).
//   - After Dial fails, or Send returns an error: em.HostDefer(ctx, err)
//     (msg:host:defer with the errno).
//   - For each client.RecipientResult of Send: em.Recipient(ctx,
//     r.Address, r.Reply) (msg:delivery, msg:rcpt:host:defer or
//     msg:fail:delivery, the reply as Data).
//   - In the queue: em.Complete(ctx) when a message leaves the spool
//     with every recipient final, em.FailInternal(ctx, err) when it is
//     given up for a local reason.
//
// Each veto surfaces as a *[VetoError] in Dial's error chain (errors.As),
// with the handler's error as Reason. A veto is a deferral, as in Exim:
// the queue retries later.
//
// The smtp:connect veto lives in the connection the Dialer returns,
// which watches the first reply as it is read: the client engine's
// EarlyPipeliner.Opened hook sees the banner too, but only after Dial
// has said EHLO (and STARTTLS and AUTH) and cannot stop it. The
// connection raises smtp:connect for any SMTP client (go-smtp's Client
// too). A caller that still wants the event from Opened can raise it
// with em.Emit(ctx, events.Event{Name: events.SMTPConnect, Data:
// events.FormatReply(o.Banner)}) and close the connection on an error
// once Dial returns.
//
// A connection reused for several messages raises tcp:close with the
// template of the message that dialed it.
//
// # Deadlines
//
// Vetoable events run while a delivery waits: each Emit is bounded by
// Emitter.Timeout ([DefaultTimeout], 5 s) and by the caller's context;
// handlers run in a goroutine of their own, so even one that ignores its
// context cannot hold the delivery longer (that goroutine lives on until
// the handler returns). The other events get a
// context that the caller's cancellation does not end, so a delivery
// being cancelled still records its tcp:close and msg:host:defer, bounded
// by the same Timeout.
package events

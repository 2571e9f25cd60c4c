// Package pipeconnect implements PIPECONNECT, early pipelining
// (draft-harris-early-pipe-01, expired; Exim's
// pipelining_connect_advertise_hosts and hosts_pipe_connect), on the
// server and the client side.
//
// A client that cached a server's EHLO reply sends its opening commands
// without waiting for the banner, and the server answers banner and
// replies in one write. Exim 4.96 advertises the keyword PIPECONNECT;
// 4.92 said X_PIPE_CONNECT and 4.95 PIPE_CONNECT, which a cache accepts.
//
// # Server: a go-smtp server with PIPECONNECT
//
// go-smtp cannot advertise the keyword nor hold the banner; the front
// package can. Add a [Server] to the front's extensions:
//
//	inner := smtp.NewServer(backend)
//	fs := front.New(inner, &front.Options{
//		TLSConfig:  tlsConfig,
//		Extensions: []front.Extension{&pipeconnect.Server{}},
//	})
//	go fs.Serve(listener)
//
// The keyword is offered, with PIPELINING, to the clients in Server.Hosts
// (all by default). Their input before the banner is processed and the
// banner leaves together with the replies; from other clients, input
// before the banner gets "554 5.5.0 SMTP synchronization error" and the
// connection is closed (Server.NoSyncCheck turns that off).
//
// # Client
//
// With the client engine, open connections with [Dial], or with
// [DialSend] to send a first message at once, and a [Client] holding a
// [Cache]: a [MemoryCache] (entries live 7 days, Exim's
// retry_data_expire) or a [FileCache], which survives restarts:
//
//	cache, err := pipeconnect.OpenFileCache(filepath.Join(dataDir, "pipeconnect.json"), 0)
//	pc := &pipeconnect.Client{Cache: cache}
//	c, res, err := pipeconnect.DialSend(ctx, "mx.example.org:25", &client.Options{...}, pc, env, msg)
//	// more messages: c.Send(ctx, env2, msg2)
//
// Entries are keyed by the server's IP and port and the client's EHLO
// name, and hold the cleartext and after-TLS keywords, AUTH and LIMITS.
// With an entry that offers PIPECONNECT the engine writes EHLO (and
// STARTTLS when offered) before the banner; DialSend also writes the
// first message's envelope, built for the cached capabilities: in
// plaintext EHLO, MAIL, RCPT... and DATA go before the banner; with
// STARTTLS the envelope goes with the EHLO after the handshake. The
// message itself leaves only once the server's EHLO reply has shown the
// cached capabilities to be right (with CHUNKING, BDAT waits for the
// envelope's replies, which costs no round trip). When the session opens,
// an entry is written when the capabilities changed and the server still
// offers PIPECONNECT, and removed when it does not; a failed opening (a
// banner other than 220, a refused EHLO, a failed read or authentication)
// removes it, and Dial connects once more without early pipelining. An
// opening removes only the entry it read ([Cache].Delete compares): with
// sessions to one server opening at the same time, one that fails or is
// abandoned leaves alone the entry another one just stored.
// DialSend does the same when the early envelope fails before the
// message was sent (capabilities other than the cached ones, replies out
// of step; [client.ErrEarlyFailed]): nothing was delivered, and the
// message goes again the classic way on a fresh connection.
//
// Round trips after the TCP connect for one message with DATA,
// cleartext: 3.5 classic (banner, EHLO, envelope, data), 2 with DialSend
// and a cached entry, as Exim (see TestRoundTrips and TestClient); with
// STARTTLS and TLS 1.3, 6.5 and 4. Dial alone, which waits for the EHLO
// reply, saves half a round trip in cleartext and one and a half with
// STARTTLS.
package pipeconnect

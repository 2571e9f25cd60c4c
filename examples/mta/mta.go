package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/dmarc"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/examples/mta/internal/limits"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/ocsp"
	"github.com/smtpkit/smtpkit/pipeconnect"
	"github.com/smtpkit/smtpkit/prdr"
	"github.com/smtpkit/smtpkit/proxyproto"
	"github.com/smtpkit/smtpkit/requiretls"
	"github.com/smtpkit/smtpkit/smtputf8"
	"github.com/smtpkit/smtpkit/spf"
)

// mta is the receiving server: a go-smtp Server whose Backend is the mta.
type mta struct {
	cfg       config
	log       *slog.Logger
	store     *maildirs
	mailboxes map[string]bool // nil: every local part is accepted
	resolver  *net.Resolver
	tls       *tls.Config
	srv       *smtp.Server
	front     *front.Server  // with -prdr or -pipeconnect: serves srv in LMTP mode
	inflight  sync.WaitGroup // Data calls under way

	users     users          // -users: AUTH PLAIN accounts
	relayFrom []netip.Prefix // -relay-from
	spool     *spool
	queue     *queue
	relay     *relay

	dmarcHistory  *dmarc.History
	dmarcReporter *dmarc.Reporter

	cert     *tls.Certificate // the server's, for -ocsp-refresh
	events   *events.Emitter  // nil without -events-*
	eventsDB *sqlsink.Sink    // -events-db
}

// writeTimeout bounds each reply write; RFC 5321 section 4.5.3.2 gives
// clients minutes per command, a server needs less to send a reply.
const writeTimeout = time.Minute

func newMTA(cfg config, log *slog.Logger) (*mta, error) {
	m := &mta{cfg: cfg, log: log, resolver: newResolver(cfg.DNS)}
	var err error
	if m.store, err = newMaildirs(filepath.Join(cfg.DataDir, "maildir"), cfg.Hostname, cfg.Quota); err != nil {
		return nil, err
	}
	if cfg.Mailboxes != "" {
		if m.mailboxes, err = loadMailboxes(cfg.Mailboxes); err != nil {
			return nil, err
		}
	}
	if cfg.Users != "" {
		if m.users, err = loadUsers(cfg.Users); err != nil {
			return nil, err
		}
	}
	m.relayFrom = cfg.RelayFrom
	if m.spool, err = newSpool(filepath.Join(cfg.DataDir, "spool")); err != nil {
		return nil, err
	}
	authRoots, err := loadRoots(cfg.SmarthostCA)
	if err != nil {
		return nil, err
	}
	m.relay = &relay{
		hostname:    cfg.Hostname,
		resolver:    m.resolver,
		smarthost:   cfg.Smarthost,
		authUser:    cfg.SmarthostUser,
		authPass:    cfg.SmarthostPass,
		authRoots:   authRoots,
		hostsMaxTry: cfg.HostsMaxTry,
		port:        cfg.RemotePort,
		arcSign:     cfg.ARCSign,
		prdr:        cfg.PRDR,
		socks:       cfg.Socks,
		dane:        cfg.DANE,
		// The same server as -dns, asked with the AD bit; believed only
		// on loopback or with -dns-trusted.
		daneDNS: &dane.Resolver{Addr: cfg.DNS, Trusted: cfg.DNSTrusted},
		ocsp:    cfg.OCSP,
		roots:   cfg.relayRoots,
		spool:   m.spool,
		log:     log,
	}
	if cfg.PipeConnect {
		cache, err := pipeconnect.OpenFileCache(filepath.Join(cfg.DataDir, "pipeconnect.json"), 0)
		if err != nil {
			return nil, fmt.Errorf("pipeconnect cache: %w", err)
		}
		m.relay.pipeconnect = &pipeconnect.Client{Cache: cache, Logger: log}
	}
	m.queue = &queue{
		spool:   m.spool,
		log:     log,
		retry:   cfg.Retry,
		maxAge:  cfg.MaxAge,
		workers: cfg.MaxDeliveries,
		attempt: m.relay.attempt,
		notify:  m.sendDSN,
		now:     time.Now,
		msgs:    map[string]*queued{},
		running: map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
	cert, err := loadOrCreateCert(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	m.cert = &cert
	m.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.OCSPFile != "" {
		// Exim's tls_ocsp_file: the staple is re-read when the file
		// changes, and only a good, current response is sent.
		st := ocsp.NewStapler(&ocsp.StaplerOptions{Logger: log})
		if err := st.Add(m.cert, nil, cfg.OCSPFile); err != nil {
			return nil, fmt.Errorf("-ocsp-file: %w", err)
		}
		m.tls = &tls.Config{GetCertificate: st.GetCertificate, MinVersion: tls.VersionTLS12}
	}

	var backend smtp.Backend = m
	if cfg.DMARC || cfg.ARCVerify {
		if backend, err = m.dmarcBackend(backend); err != nil {
			return nil, err
		}
	}
	if cfg.SPF {
		// RFC 7208 section 2.4: check the MAIL FROM identity; the outcome
		// is kept for Data (Received-SPF) and, per -spf-reject and
		// -spf-defer, refuses the transaction.
		backend = spf.WrapBackend(backend, &spf.Policy{
			Checker: spf.New(&spf.Options{Resolver: m.resolver, Receiver: cfg.Hostname}), // asks in A-labels itself (RFC 8616)
			Reject:  cfg.SPFReject,
			Defer:   cfg.SPFDefer,
		})
	}
	if cfg.SMTPUTF8 {
		// RFC 6531: UTF-8 addresses only with the SMTPUTF8 parameter
		// (553 5.6.7), well-formed; the transaction is marked for the
		// Received header and the spool.
		backend = smtputf8.WrapBackend(backend)
	}
	if cfg.RequireTLS {
		// RFC 8689 section 4.1: REQUIRETLS on MAIL only under TLS (523
		// 5.7.10); the requirement and TLS-Required: No go into the
		// spool envelope for the relay.
		backend = requiretls.WrapBackend(backend, nil)
	}
	if len(cfg.ProxyRequiredHosts) > 0 {
		// Outermost of the features: a required host whose PROXY
		// negotiation failed gets no session (Exim's 503 behaviour;
		// see proxyproto).
		backend = proxyproto.NewBackend(backend)
	}
	// Last: the -events-db sink is opened only once nothing can fail.
	if err := m.setupEvents(); err != nil {
		return nil, err
	}
	m.relay.events, m.queue.events = m.events, m.events
	// Around everything: a message's data kept apart from the next
	// transaction and, without the front, the deadline for the whole of
	// it. Behind the front, the front keeps that (Timeouts.Message).
	backend = dataBound{Backend: backend, timeout: cfg.DataTimeout, plain: !cfg.PRDR && !cfg.PipeConnect}
	s := smtp.NewServer(backend)
	s.Domain = cfg.Hostname
	s.TLSConfig = m.tls
	s.MaxMessageBytes = cfg.MaxSize
	s.MaxRecipients = cfg.MaxRecipients
	s.MaxLineLength = 2000 // RFC 5321 section 4.5.3.1.6 allows 1000; twice that, as go-smtp
	s.WriteTimeout = writeTimeout
	if !cfg.PRDR && !cfg.PipeConnect {
		// A deadline per command line, set by go-smtp before each
		// one: a client trickling a line is cut after the idle
		// timeout. RFC 5321 section 4.5.3.2.7 wants at least 5
		// minutes of it. Behind the front, the front reads the lines
		// and bounds its exchanges with go-smtp itself.
		s.ReadTimeout = cfg.IdleTimeout
	}
	s.ErrorLog = slogPrinter{log}
	s.EnableSMTPUTF8 = cfg.SMTPUTF8
	s.EnableREQUIRETLS = cfg.RequireTLS // go-smtp offers it after STARTTLS only
	m.srv = s
	var exts []front.Extension
	if cfg.PRDR {
		exts = append(exts, prdr.Server{})
	}
	if cfg.PipeConnect {
		exts = append(exts, &pipeconnect.Server{})
	}
	if len(exts) > 0 {
		// The front owns the connection and TLS and drives go-smtp in
		// LMTP mode, for the EHLO keywords, MAIL parameter and
		// per-recipient replies go-smtp cannot give itself.
		m.front = front.New(s, &front.Options{
			Hostname:   cfg.Hostname,
			TLSConfig:  m.tls,
			Extensions: exts,
			Logger:     log,
			Timeouts:   front.Timeouts{Command: cfg.IdleTimeout, Data: cfg.IdleTimeout, Message: cfg.DataTimeout},
		})
	}
	return m, nil
}

// newResolver returns a resolver for -dns host:port, or the system's.
func newResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// loadMailboxes reads one address per line; '#' starts a comment.
func loadMailboxes(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	defer f.Close()
	set := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		at := strings.LastIndexByte(line, '@')
		if at <= 0 || at == len(line)-1 || strings.ContainsAny(line, " \t/") {
			return nil, fmt.Errorf("mailboxes %s:%d: %q is not an address", path, n, line)
		}
		mb, err := mailboxFolder(line[:at], line[at+1:])
		if err != nil {
			return nil, fmt.Errorf("mailboxes %s:%d: %q: %w", path, n, line, err)
		}
		set[mb] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	return set, nil
}

// Listen opens the configured address.
func (m *mta) Listen() (*listener, error) {
	l, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return nil, err
	}
	if len(m.cfg.ProxyRequiredHosts) > 0 {
		// The PROXY header is read before anything else (TLS included),
		// in the connection's own goroutine, never in Accept.
		l = proxyproto.NewListener(l, &proxyproto.Options{
			RequiredHosts: m.cfg.ProxyRequiredHosts,
			Timeout:       m.cfg.ProxyTimeout,
			Logger:        m.log,
		})
	}
	// Outside the PROXY listener: the per-host limit counts the proxied
	// client, learnt in the connection's goroutine.
	l = limits.NewListener(l, &limits.Options{
		Hostname:       m.cfg.Hostname,
		MaxConnections: m.cfg.MaxConnections,
		MaxPerHost:     m.cfg.MaxConnectionsPerHost,
		Logger:         m.log,
	})
	// Without the front go-smtp reads the client: see trackedConn.plain.
	plain := m.front == nil
	return &listener{Listener: l, idle: m.cfg.IdleTimeout, plain: plain, log: m.log, resolver: m.resolver}, nil
}

// ListenAndServe serves until ctx is done, then shuts down cleanly.
func (m *mta) ListenAndServe(ctx context.Context) error {
	l, err := m.Listen()
	if err != nil {
		return err
	}
	return m.Serve(ctx, l)
}

// drainTimeout bounds the wait for interrupted deliveries to clean up.
const drainTimeout = 5 * time.Second

// Serve serves l until ctx is done. Shutdown stops accepting, gives open
// sessions the grace period, then closes them: a transaction cut short
// was never acknowledged and leaves nothing in new/; every acknowledged
// message was fsynced before its 250.
func (m *mta) Serve(ctx context.Context, l *listener) error {
	m.log.Info("listening", "addr", l.Addr().String(), "hostname", m.cfg.Hostname,
		"local_domains", strings.Join(m.cfg.LocalDomains, ","), "data", m.cfg.DataDir)
	loaded, errs := m.spool.load()
	for _, err := range errs {
		m.log.Error("spool", "err", err)
		if be, ok := err.(*badEntry); ok {
			// Exim's msg:fail:internal: given up for a local reason.
			m.events.FailInternal(events.NewContext(ctx, events.Event{MessageID: be.id}), err)
		}
	}
	for _, q := range loaded {
		m.queue.add(q)
	}
	if len(loaded) > 0 {
		m.log.Info("queue resumed", "messages", len(loaded))
	}
	qctx, stopQueue := context.WithCancel(context.Background())
	var background sync.WaitGroup
	background.Go(func() { m.queue.run(qctx) })
	if m.cfg.DMARCReports {
		background.Go(func() { m.runDMARCReports(qctx, dmarcReportInterval) })
	}
	if m.cfg.OCSPRefresh {
		r := &ocsp.Refresher{Certificate: m.cert, File: m.cfg.OCSPFile, Logger: m.log}
		background.Go(func() {
			if err := r.Run(qctx); err != nil {
				m.log.Error("OCSP refresher stopped", "err", err)
			}
		})
	}
	defer func() {
		stopQueue()
		background.Wait()
		m.relay.pool.sweep(true)
		if m.dmarcHistory != nil {
			m.dmarcHistory.Close()
		}
		m.closeEvents()
	}()

	errc := make(chan error, 1)
	go func() {
		if m.front != nil {
			errc <- m.front.Serve(l)
			return
		}
		errc <- m.srv.Serve(l)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.log.Info("shutting down", "grace", m.cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownGrace)
	defer cancel()
	shutdown := m.srv.Shutdown
	if m.front != nil {
		shutdown = m.front.Shutdown
	}
	if err := shutdown(sctx); err != nil {
		m.log.Info("closing open sessions", "reason", err)
		l.closeAll()
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, front.ErrServerClosed) {
		return err
	}
	// Wait for deliveries that the close interrupted to clean up.
	done := make(chan struct{})
	go func() { m.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		m.log.Warn("deliveries still running at exit")
	}
	m.log.Info("stopped")
	return nil
}

// slogPrinter lets go-smtp's internal error log go to slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Debug("smtp: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (p slogPrinter) Println(v ...any) {
	p.log.Debug("smtp: " + strings.TrimSpace(fmt.Sprintln(v...)))
}

// accept stores a message for all its recipients before the client gets
// its 250: local copies in their Maildirs, and for remote recipients the
// message and its envelope in the spool, all fsynced. flags, when set, is
// asked once the message was read, for the envelope. On error nothing
// was queued; local copies made before a spool failure may be delivered
// again on the client's retry, which beats losing them.
func (m *mta) accept(id, from, header string, body io.Reader, local, remote []string, flags func() msgFlags, filter localFilter) (int64, error) {
	if len(remote) == 0 && filter == nil {
		return m.store.deliver(header, body, local)
	}
	size, err := m.spool.writeMessage(id, header, body)
	if err != nil {
		return 0, err
	}
	if filter != nil {
		local = filter(size, local)
	}
	if len(remote) == 0 {
		defer m.spool.discard(id)
	}
	if len(local) > 0 {
		f, err := m.spool.open(id)
		if err != nil {
			m.spool.discard(id)
			return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
		}
		_, err = m.store.deliver("", f, local)
		f.Close()
		if err != nil {
			m.spool.discard(id)
			return 0, err
		}
	}
	if len(remote) == 0 {
		return size, nil
	}
	q := &queued{ID: id, From: from, Arrived: time.Now()}
	if flags != nil {
		q.msgFlags = flags()
	}
	for _, r := range remote {
		q.Rcpts = append(q.Rcpts, &queuedRcpt{Addr: r, State: statePending})
	}
	if err := m.spool.saveEnvelope(q); err != nil {
		m.spool.discard(id)
		return 0, err
	}
	m.queue.add(q)
	return size, nil
}

// localFilter decides, once the size of a message is known, which of its
// local mailboxes take it (PRDR's data-time decisions), and returns them.
type localFilter func(size int64, local []string) []string

// sendDSN queues a delivery status notification to the sender of q for
// its failed recipients, from the null sender (RFC 5321 section 4.5.5) so
// that it never bounces in turn.
func (m *mta) sendDSN(q *queued, failed []*queuedRcpt) error {
	f, err := m.spool.open(q.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	dsn, err := buildDSN(m.cfg.Hostname, q, failed, f, time.Now())
	if err != nil {
		return err
	}
	id := newMessageID()
	var local, remote []string
	if at := strings.LastIndexByte(q.From, '@'); at > 0 && m.isLocalDomain(normalizeDomain(q.From[at+1:])) {
		mb, err := m.mailboxName(q.From)
		if err != nil {
			m.log.Warn("DSN recipient is not a local mailbox; dropped", "id", q.ID, "to", q.From, "err", err)
			return nil
		}
		local = []string{mb}
	} else {
		remote = []string{q.From}
	}
	ri := receivedInfo{Helo: "localhost", RemoteIP: net.IPv4(127, 0, 0, 1), Hostname: m.cfg.Hostname, ID: id, Recipient: q.From, Time: time.Now()}
	// The DSN of a REQUIRETLS message is sent REQUIRETLS too (RFC 8689
	// section 5); one to a UTF-8 sender needs SMTPUTF8 (its To: field).
	flags := msgFlags{RequireTLS: q.RequireTLS, UTF8: !isASCII(q.From)}
	if _, err := m.accept(id, "", ri.header(), bytes.NewReader(dsn), local, remote, func() msgFlags { return flags }, nil); err != nil {
		return err
	}
	m.log.Info("DSN queued", "id", id, "for", q.ID, "to", "<"+q.From+">", "failed", len(failed))
	return nil
}

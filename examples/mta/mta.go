package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
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
	inflight  sync.WaitGroup // Data calls under way
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
	cert, err := loadOrCreateCert(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	m.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	s := smtp.NewServer(m)
	s.Domain = cfg.Hostname
	s.TLSConfig = m.tls
	s.MaxMessageBytes = cfg.MaxSize
	s.MaxRecipients = cfg.MaxRecipients
	s.MaxLineLength = 2000 // RFC 5321 section 4.5.3.1.6 allows 1000; twice that, as go-smtp
	s.WriteTimeout = writeTimeout
	s.ReadTimeout = 0 // trackedConn refreshes an idle deadline on every read
	s.ErrorLog = slogPrinter{log}
	m.srv = s
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
		set[strings.ToLower(line[:at])+"@"+normalizeDomain(line[at+1:])] = true
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
	return &listener{Listener: l, idle: m.cfg.IdleTimeout, log: m.log, resolver: m.resolver}, nil
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
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.log.Info("shutting down", "grace", m.cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownGrace)
	defer cancel()
	if err := m.srv.Shutdown(sctx); err != nil {
		m.log.Info("closing open sessions", "reason", err)
		l.closeAll()
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
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

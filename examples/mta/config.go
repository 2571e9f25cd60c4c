package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Defaults for the limits; each has a flag.
const (
	// RFC 5321 section 4.5.3.1.8: at least 100 recipients must be buffered.
	defaultMaxRecipients = 100
	defaultMaxSize       = 50 << 20
	// RFC 5321 section 4.5.3.2.7: the server timeout is at least 5 minutes.
	defaultIdleTimeout   = 5 * time.Minute
	defaultShutdownGrace = 10 * time.Second
)

// config is what the flags say; newMTA turns it into a running server.
type config struct {
	Listen        string
	Hostname      string
	DataDir       string
	LocalDomains  []string
	TLSCert       string
	TLSKey        string
	DNS           string
	LogLevel      slog.Level
	Quota         int64
	Mailboxes     string
	MaxSize       int64
	MaxRecipients int
	IdleTimeout   time.Duration
	ShutdownGrace time.Duration
}

// parseFlags reads the command line. The flag names are a contract (issue 2)
// that later features extend.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("mta", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	var domains, level string
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:2525", "address to listen on for SMTP")
	fs.StringVar(&cfg.Hostname, "hostname", host, "this MTA's host name (banner, Received, certificate)")
	fs.StringVar(&cfg.DataDir, "data", "./mta-data", "data folder: maildir/, tls/")
	fs.StringVar(&domains, "local-domains", "", "comma-separated local domains (default: localhost and the hostname)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain file (default: generated under DATA/tls)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file for -tls-cert")
	fs.StringVar(&cfg.DNS, "dns", "", "DNS server host:port (default: from /etc/resolv.conf)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.Int64Var(&cfg.Quota, "quota", 0, "per-mailbox quota in bytes, 0 for none (DATA/maildir/<rcpt>/quota overrides)")
	fs.StringVar(&cfg.Mailboxes, "mailboxes", "", "file of accepted local addresses, one per line (default: any local part)")
	fs.Int64Var(&cfg.MaxSize, "max-size", defaultMaxSize, "largest message accepted, in bytes")
	fs.IntVar(&cfg.MaxRecipients, "max-recipients", defaultMaxRecipients, "most recipients per message")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", defaultIdleTimeout, "close a connection silent for this long")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", defaultShutdownGrace, "on SIGINT/SIGTERM, how long open sessions may go on")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	cfg.Hostname = normalizeDomain(cfg.Hostname)
	if cfg.Hostname == "" {
		return cfg, errors.New("-hostname must not be empty")
	}
	if domains == "" {
		cfg.LocalDomains = []string{"localhost", cfg.Hostname}
	} else {
		for _, d := range strings.Split(domains, ",") {
			if d = normalizeDomain(d); d != "" {
				cfg.LocalDomains = append(cfg.LocalDomains, d)
			}
		}
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, errors.New("-tls-cert and -tls-key go together")
	}
	switch {
	case cfg.Quota < 0:
		return cfg, errors.New("-quota must not be negative")
	case cfg.MaxSize <= 0:
		return cfg, errors.New("-max-size must be positive")
	case cfg.MaxRecipients <= 0:
		return cfg, errors.New("-max-recipients must be positive")
	case cfg.IdleTimeout <= 0:
		return cfg, errors.New("-idle-timeout must be positive")
	case cfg.ShutdownGrace < 0:
		return cfg, errors.New("-shutdown-grace must not be negative")
	}
	return cfg, nil
}

// normalizeDomain lower-cases a domain and drops a trailing root dot.
func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

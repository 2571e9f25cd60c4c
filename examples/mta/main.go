// Command mta is a thin MTA built from smtpkit's packages and go-smtp:
// STARTTLS with a self-signed certificate made on first start, delivery
// into one Maildir per recipient with quotas and a mailbox list, and a
// relay queue for everyone else; every feature package is behind a flag
// (-spf, -dmarc, -arc-verify, -dane, -ocsp, -prdr, -pipeconnect,
// -proxy-required-hosts, -socks, -smtputf8, -requiretls, -events-db...).
//
//	go run ./examples/mta            # 127.0.0.1:2525, data under ./mta-data
//	go run ./examples/mta -h         # the flags
//
// It is wiring: flags become options, options become packages. Mail that
// got a 250 reply is on disk and fsynced: in DATA/maildir/<rcpt>/new, or
// for remote recipients in DATA/spool until every one has a final result.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mta:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := newMTA(cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		os.Exit(1)
	}
	if err := m.ListenAndServe(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		os.Exit(1)
	}
}

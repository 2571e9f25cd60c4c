package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// serveTCP serves each connection to a loopback port with handle, in its
// own goroutine, until the test ends, and returns the address.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// refuser is a TCP server on loopback that counts its connections and
// answers each with a 421 banner (RFC 5321 section 3.1: no service), then
// closes it.
func refuser(t *testing.T) (addr string, conns *atomic.Int32) {
	conns = new(atomic.Int32)
	return serveTCP(t, func(c net.Conn) {
		conns.Add(1)
		c.Write([]byte("421 4.3.2 Service not available\r\n"))
		c.Close()
	}), conns
}

// A domain with seven MX hosts that all fail costs one attempt at most
// -hosts-max-try connections (Exim's hosts_max_try, 5 by default); the
// message stays queued for the next retry, not failed.
func TestHostsMaxTryBoundsAnAttempt(t *testing.T) {
	for _, limit := range []int{0, 2} { // 0: the default
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			addr, conns := refuser(t)
			var zone strings.Builder
			for i := 1; i <= 7; i++ {
				fmt.Fprintf(&zone, "@ MX %d mx%d\nmx%d A 127.0.0.1\n", i*10, i, i)
			}
			dns := dnstest.Start(t, dnstest.Zone{Name: "seven.test", Text: zone.String()})
			cfg := relayConfig(t, dns, addr)
			if limit != 0 {
				cfg.HostsMaxTry = limit
			}
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			sendMessage(t, tm.addr, "sender@example.test", []string{"r@seven.test"}, body)
			line := tm.waitLog(t, `msg="delivery deferred"`, "domain=seven.test")
			want := int32(cfg.HostsMaxTry)
			if n := conns.Load(); n != want {
				t.Fatalf("%d connections in one attempt, want %d", n, want)
			}
			if !strings.Contains(line, "perm=false") || !strings.Contains(line, "mx"+fmt.Sprint(want)+".seven.test") {
				t.Fatalf("deferral: %s", line)
			}
			if tried := tm.logs.lines(`msg="connection failed"`); len(tried) != int(want) {
				t.Fatalf("%d hosts tried: %q", len(tried), tried)
			}
		})
	}
}

func TestParseFlagsLoopAndRelayLimits(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || cfg.MaxReceived != 30 || cfg.HostsMaxTry != 5 || cfg.SmarthostCA != "" {
		t.Fatalf("defaults: %v %+v", err, cfg)
	}
	for _, args := range [][]string{
		{"-max-received", "0"},
		{"-max-received", "-1"},
		{"-hosts-max-try", "0"},
		{"-smarthost-ca", "ca.pem"}, // only for -smarthost-auth
		{"-smarthost", "127.0.0.1:25", "-smarthost-ca", "ca.pem"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	cfg = testConfig(t)
	cfg.Smarthost, cfg.SmarthostUser, cfg.SmarthostPass = "127.0.0.1:25", "u", "p"
	for _, ca := range []string{filepath.Join(t.TempDir(), "missing.pem"), os.Args[0]} {
		cfg.SmarthostCA = ca
		if _, err := newMTA(cfg, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("-smarthost-ca %s accepted", ca)
		}
	}
}

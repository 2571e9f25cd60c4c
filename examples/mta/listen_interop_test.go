//go:build interop

package main

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/interop"
)

// Behind HAProxy every connection comes from the proxy: the per-host
// limit counts the clients its PROXY header names, 127.0.0.2 and
// 127.0.0.3 here, and one of them at its limit leaves the other served.
func TestInteropHAProxyPerHostLimit(t *testing.T) {
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			_, addr, _ := startBinary(t, "-proxy-required-hosts", "127.0.0.1/32", "-max-connections-per-host", "1")
			front := interop.Addr(interop.StartHAProxy(t, addr, version))
			a := served(t, front, "127.0.0.2")
			refused(t, front, "127.0.0.2")
			b := served(t, front, "127.0.0.3")
			refused(t, front, "127.0.0.3")
			for _, p := range []*peer{a, b} {
				if l := p.cmd(t, "EHLO client.test"); !strings.HasPrefix(l, "250 ") {
					t.Fatalf("client in not served: %q", l)
				}
			}
			a.cmd(t, "QUIT")
			a.conn.Close()
			servedSoon(t, front, "127.0.0.2")
		})
	}
}

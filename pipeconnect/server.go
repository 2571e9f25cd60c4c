package pipeconnect

import (
	"net"
	"net/netip"
	"time"

	"github.com/smtpkit/smtpkit/front"
)

// Keyword is the EHLO keyword of Exim 4.96 onward; OldKeywords are the
// spellings of earlier versions, accepted when reading a cache.
const Keyword = "PIPECONNECT"

// OldKeywords are X_PIPE_CONNECT (Exim 4.92) and PIPE_CONNECT (4.95).
var OldKeywords = []string{"PIPE_CONNECT", "X_PIPE_CONNECT"}

// DefaultWait is how long the front holds the banner for input that a
// client sends right after connecting (Go cannot poll a socket without
// reading; this stands in for Exim's "would block" test).
const DefaultWait = time.Millisecond

// Server is the receiving side of PIPECONNECT, a front.Extension
// (draft-harris-early-pipe-01; Exim's
// pipelining_connect_advertise_hosts and smtp_enforce_sync). Its zero
// value advertises PIPECONNECT to every client and refuses early input
// from none.
type Server struct {
	// Hosts are the clients PIPECONNECT is offered to and that may send
	// before the banner; nil means every client.
	Hosts []netip.Prefix
	// NoSyncCheck tolerates input before the banner from other clients,
	// as go-smtp does, instead of "554 SMTP synchronization error" and
	// closing (the default, like Exim's smtp_enforce_sync).
	NoSyncCheck bool
	// Wait is how long the banner is held for early input; zero means
	// DefaultWait.
	Wait time.Duration
}

var (
	_ front.Advertiser       = (*Server)(nil)
	_ front.EarlyInputPolicy = (*Server)(nil)
)

// Name implements front.Extension.
func (s *Server) Name() string { return "pipeconnect" }

func (s *Server) allowed(a net.Addr) bool {
	if s.Hosts == nil {
		return true
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	for _, p := range s.Hosts {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// Advertise adds PIPECONNECT, only together with PIPELINING (section 2)
// and only to allowed clients.
func (s *Server) Advertise(c *front.Conn, kws []string) []string {
	if !s.allowed(c.RemoteAddr()) {
		return kws
	}
	for _, k := range kws {
		if k == "PIPELINING" {
			return append(kws, Keyword)
		}
	}
	return kws
}

// EarlyInput allows early input from allowed clients and refuses it from
// the others (unless NoSyncCheck).
func (s *Server) EarlyInput(c *front.Conn) (front.Early, time.Duration) {
	wait := s.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	switch {
	case s.allowed(c.RemoteAddr()):
		return front.EarlyAllow, wait
	case s.NoSyncCheck:
		return front.EarlyTolerate, 0
	}
	return front.EarlyRefuse, wait
}

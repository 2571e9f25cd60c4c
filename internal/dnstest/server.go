package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// listenTries is how many UDP ports New tries before giving up finding one
// whose TCP twin is free too.
const listenTries = 10

// A Server answers DNS queries over UDP and TCP on one loopback port from
// the zones it holds. Its methods are safe for concurrent use.
type Server struct {
	addr string
	tb   testing.TB // set by Start; nil for New
	udp  *dns.Server
	tcp  *dns.Server
	done chan struct{} // closed by Close, to cut delays short

	mu    sync.RWMutex
	zones map[string]*zone // by canonical origin

	logMu   sync.Mutex
	queries []Query

	closeOnce sync.Once
	closeErr  error
}

// A Query is one question the server received.
type Query struct {
	Name string // as it was in the question, fully qualified
	Type uint16 // such as dns.TypeTXT
	Net  string // "udp" or "tcp"
}

// String returns the query as "name TYPE net", such as
// "example.test. TXT udp".
func (q Query) String() string {
	return q.Name + " " + dns.TypeToString[q.Type] + " " + q.Net
}

// Start runs a Server for the length of a test, with the given zones. It
// fails the test if a zone does not parse or the server cannot listen,
// and shuts the server down in tb.Cleanup.
func Start(tb testing.TB, zones ...Zone) *Server {
	tb.Helper()
	s, err := New(zones...)
	if err != nil {
		tb.Fatalf("%v", err)
		return nil
	}
	s.tb = tb
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return s
}

// New runs a Server with the given zones on 127.0.0.1, UDP and TCP on the
// same port, and returns once it answers. Call Close to stop it. Tests
// are better served by Start.
func New(zones ...Zone) (*Server, error) {
	s := &Server{
		done:  make(chan struct{}),
		zones: make(map[string]*zone),
	}
	for _, z := range zones {
		if err := s.addZone(z); err != nil {
			return nil, err
		}
	}
	pc, ln, err := listen()
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	if err := activate(s.udp); err != nil {
		pc.Close()
		ln.Close()
		return nil, err
	}
	if err := activate(s.tcp); err != nil {
		_ = s.udp.Shutdown()
		ln.Close()
		return nil, err
	}
	return s, nil
}

// listen opens a UDP socket on a free loopback port and a TCP listener on
// the same port number, trying other ports if that TCP port is taken.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range listenTries {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: listen udp: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("dnstest: no port free for both udp and tcp: %w", lastErr)
}

// activate starts srv and waits until it serves.
func activate(srv *dns.Server) error {
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() {
		if err := srv.ActivateAndServe(); err != nil {
			failed <- err
		}
	}()
	select {
	case <-started:
		return nil
	case err := <-failed:
		return fmt.Errorf("dnstest: serve: %w", err)
	}
}

// Close stops the server. Queries being delayed are dropped. Close may be
// called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if err := srv.ShutdownContext(ctx); err != nil {
				errs = append(errs, fmt.Errorf("dnstest: shutdown: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Addr returns the address the server answers on, UDP and TCP, as
// "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// Resolver returns a pure Go resolver that sends every query to the
// server, over UDP or TCP as it chooses. Lookups of host names and
// addresses still consult /etc/hosts first, so prefer names and addresses
// it does not hold (such as example.test and 192.0.2.0/24), and give names
// a trailing dot to keep the search list of /etc/resolv.conf out.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

// AddZone adds z to the server, replacing any zone of the same name along
// with its modes. It returns an error if z.Text does not parse; on a
// Server made by Start it fails the test too.
func (s *Server) AddZone(z Zone) error {
	err := s.addZone(z)
	if err != nil && s.tb != nil {
		s.tb.Helper()
		s.tb.Fatalf("%v", err)
	}
	return err
}

func (s *Server) addZone(z Zone) error {
	zn, err := parseZone(z)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.zones[zn.origin] = zn
	s.mu.Unlock()
	return nil
}

// SetMode changes how the server answers for the zone named zone, such as
// srv.SetMode("example.test", dnstest.ServFail(6, "DNSSEC Bogus")). Modes
// apply in order. It returns an error if the server has no such zone; on a
// Server made by Start it fails the test too.
func (s *Server) SetMode(zone string, modes ...Mode) error {
	s.mu.Lock()
	zn := s.zones[dns.CanonicalName(zone)]
	if zn != nil {
		for _, m := range modes {
			m.apply(&zn.mode)
		}
	}
	s.mu.Unlock()
	if zn == nil {
		err := fmt.Errorf("dnstest: no zone %q", zone)
		if s.tb != nil {
			s.tb.Helper()
			s.tb.Fatalf("%v", err)
		}
		return err
	}
	return nil
}

// Queries returns the queries received since the server started or since
// the last ResetQueries, oldest first. A query retried over TCP after a
// truncated UDP answer appears twice.
func (s *Server) Queries() []Query {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Query(nil), s.queries...)
}

// ResetQueries empties the query log.
func (s *Server) ResetQueries() {
	s.logMu.Lock()
	s.queries = nil
	s.logMu.Unlock()
}

func (s *Server) logQuery(q Query) {
	s.logMu.Lock()
	s.queries = append(s.queries, q)
	s.logMu.Unlock()
}

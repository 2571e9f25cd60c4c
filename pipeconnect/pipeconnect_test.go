package pipeconnect_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/rttproxy"
	"github.com/smtpkit/smtpkit/internal/smtptest"
	"github.com/smtpkit/smtpkit/pipeconnect"
)

const msg = "Subject: t\r\n\r\nbody\r\n"

func start(t *testing.T, pc *pipeconnect.Server, tlsCfg *tls.Config) *fronttest.Server {
	return fronttest.Start(t, &fronttest.Backend{}, &front.Options{TLSConfig: tlsCfg, Extensions: []front.Extension{pc}})
}

// readAll reads what arrives until want replies (CRLF-ended lines that
// end a reply) are in, counting the reads it took.
func readReplies(t *testing.T, conn net.Conn, want int) (string, int) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got string
	reads := 0
	buf := make([]byte, 8192)
	for countFinal(got) < want {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%v after %q", err, got)
		}
		reads++
		got += string(buf[:n])
	}
	return got, reads
}

func countFinal(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\r\n") {
		if len(l) >= 4 && l[3] == ' ' {
			n++
		}
	}
	return n
}

func TestServerEarlyInput(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := start(t, &pipeconnect.Server{Wait: 200 * time.Millisecond}, nil)
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"))
	got, reads := readReplies(t, conn, 5)
	if reads != 1 || !strings.HasPrefix(got, "220 ") || !strings.Contains(got, "PIPECONNECT") || !strings.HasSuffix(got, "\r\n") {
		t.Errorf("%d reads: %q", reads, got)
	}
	conn.Write([]byte(msg + ".\r\nQUIT\r\n"))
	readReplies(t, conn, 2)
	conn.Close()
	srv.Front.Close()
	fronttest.Goroutines(t, before)
}

func TestServerSyncError(t *testing.T) {
	other := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	srv := start(t, &pipeconnect.Server{Hosts: other, Wait: 200 * time.Millisecond}, nil)
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("EHLO c.test\r\n"))
	got, _ := readReplies(t, conn, 1)
	if !strings.HasPrefix(got, "554 5.5.0 SMTP synchronization error") {
		t.Errorf("got %q", got)
	}
	if _, err := conn.Read(make([]byte, 10)); err == nil {
		t.Error("connection left open")
	}
	// A client that waits is served, without PIPECONNECT.
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	if text := c.MustCmd("EHLO c.test", 250).Text(); strings.Contains(text, "PIPECONNECT") {
		t.Errorf("PIPECONNECT offered to a client not listed:\n%s", text)
	}
	// NoSyncCheck tolerates.
	srv2 := start(t, &pipeconnect.Server{Hosts: other, NoSyncCheck: true}, nil)
	conn2, err := net.Dial("tcp", srv2.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn2.Write([]byte("EHLO c.test\r\n"))
	if got, _ := readReplies(t, conn2, 2); !strings.Contains(got, "250 ") {
		t.Errorf("got %q", got)
	}
}

// flights runs one raw session through p and returns the round trips it
// took after the TCP connect, up to the final reply to the message:
// (client flights + server flights) / 2, each flight being half a round
// trip.
func flights(t *testing.T, p *rttproxy.Proxy, early, startTLS bool, cliTLS *tls.Config) float64 {
	t.Helper()
	c0, s0 := p.ClientFlights(), p.ServerFlights()
	raw, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var conn net.Conn = raw
	r := bufio.NewReader(conn)
	expect := func(n int) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := 0; i < n; {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(line) >= 4 && line[3] == ' ' {
				i++
			}
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := conn.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	envelope := "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
	switch {
	case early && !startTLS:
		write("EHLO c.test\r\n" + envelope)
		expect(5)
	case early && startTLS:
		write("EHLO c.test\r\nSTARTTLS\r\n")
		expect(3)
	case !startTLS:
		expect(1)
		write("EHLO c.test\r\n")
		expect(1)
		write(envelope)
		expect(3)
	default:
		expect(1)
		write("EHLO c.test\r\n")
		expect(1)
		write("STARTTLS\r\n")
		expect(1)
	}
	if startTLS {
		tc := tls.Client(raw, cliTLS)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		conn, r = tc, bufio.NewReader(tc)
		if early {
			// The cache holds the reply after TLS too: EHLO goes
			// with the envelope.
			write("EHLO c.test\r\n" + envelope)
			expect(4)
		} else {
			// A classic client learns the capabilities after TLS
			// from this EHLO's reply (RFC 3207 section 4.2).
			write("EHLO c.test\r\n")
			expect(1)
			write(envelope)
			expect(3)
		}
	}
	write(msg + ".\r\n")
	expect(1)
	return float64(p.ClientFlights()-c0+p.ServerFlights()-s0) / 2
}

// TestRoundTrips counts round trips through a proxy that delays each
// direction: one message, cleartext, takes 2 round trips after the TCP
// connect with PIPECONNECT and 3.5 without; with STARTTLS early
// pipelining saves at least 2 (draft-harris-early-pipe section 1).
func TestRoundTrips(t *testing.T) {
	srvTLS, cliTLS := fronttest.TLSConfig(t)
	cliTLS.MinVersion = tls.VersionTLS13
	srv := start(t, &pipeconnect.Server{Wait: 500 * time.Millisecond}, srvTLS)
	p := rttproxy.Start(t, srv.Addr, 2*time.Millisecond)
	if got := flights(t, p, true, false, nil); got != 2 {
		t.Errorf("cleartext with PIPECONNECT: %v round trips, want 2", got)
	}
	if got := flights(t, p, false, false, nil); got != 3.5 {
		t.Errorf("cleartext without PIPECONNECT: %v round trips, want 3.5", got)
	}
	withTLS := flights(t, p, true, true, cliTLS)
	classicTLS := flights(t, p, false, true, cliTLS)
	t.Logf("STARTTLS: %v round trips with PIPECONNECT, %v without", withTLS, classicTLS)
	if classicTLS-withTLS < 2 {
		t.Errorf("STARTTLS: PIPECONNECT saves %v round trips, want >= 2", classicTLS-withTLS)
	}
}

// TestClient: the first session stores the EHLO reply, the second opens
// early; the engine's sessions count fewer round trips for the opening.
func TestClient(t *testing.T) {
	srvTLS, cliTLS := fronttest.TLSConfig(t)
	for _, withTLS := range []bool{false, true} {
		srv := start(t, &pipeconnect.Server{Wait: 500 * time.Millisecond}, srvTLS)
		p := rttproxy.Start(t, srv.Addr, time.Millisecond)
		cache := &pipeconnect.MemoryCache{}
		pc := &pipeconnect.Client{Cache: cache}
		opts := &client.Options{Hostname: "c.test", TLSConfig: cliTLS, TLSPolicy: client.TLSNone}
		if withTLS {
			opts.TLSPolicy = client.TLSRequired
		}
		var opening []float64
		for i := 0; i < 2; i++ {
			c0, s0 := p.ClientFlights(), p.ServerFlights()
			c, err := pipeconnect.Dial(context.Background(), p.Addr, opts, pc)
			if err != nil {
				t.Fatal(err)
			}
			opening = append(opening, float64(p.ClientFlights()-c0+p.ServerFlights()-s0)/2)
			res, err := c.Send(context.Background(), &client.Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(msg))
			if err != nil || res.Recipients[0].Status != client.Accepted {
				t.Fatal(err, res)
			}
			c.Close()
			k := pipeconnect.Key{Addr: p.Addr, Helo: "c.test"}
			if e, ok := cache.Get(k); !ok || (withTLS && e.TLSEHLO == nil) {
				t.Fatalf("no cache entry after session %d: %+v", i, e)
			}
		}
		t.Logf("TLS %v: opening took %v round trips, then %v with PIPECONNECT", withTLS, opening[0], opening[1])
		// The engine writes EHLO (and STARTTLS) early; it waits for
		// the EHLO reply before MAIL, so the saving is the banner's
		// half round trip, plus the STARTTLS round trip with TLS.
		want := 0.5
		if withTLS {
			want = 1.5
		}
		if opening[0]-opening[1] < want {
			t.Errorf("TLS %v: early opening saved %v round trips, want >= %v", withTLS, opening[0]-opening[1], want)
		}
	}
}

// TestClientRetry: a stale entry for a server that refuses early input
// is dropped and the session opened the classic way.
func TestClientRetry(t *testing.T) {
	srv := start(t, &pipeconnect.Server{Hosts: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Wait: 200 * time.Millisecond}, nil)
	cache := &pipeconnect.MemoryCache{}
	k := pipeconnect.Key{Addr: srv.Addr, Helo: "c.test"}
	cache.Put(k, pipeconnect.Entry{EHLO: []string{"PIPELINING", "X_PIPE_CONNECT"}})
	c, err := pipeconnect.Dial(context.Background(), srv.Addr, &client.Options{Hostname: "c.test"}, &pipeconnect.Client{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, ok := cache.Get(k); ok {
		t.Error("stale entry kept")
	}
	// A go-smtp server without the front tolerates early input but does
	// not offer PIPECONNECT: the entry goes.
	plain := smtptest.Start(t, &smtptest.Sink{})
	k2 := pipeconnect.Key{Addr: plain.Addr, Helo: "c.test"}
	cache.Put(k2, pipeconnect.Entry{EHLO: []string{"PIPELINING", "PIPE_CONNECT"}})
	c, err = pipeconnect.Dial(context.Background(), plain.Addr, &client.Options{Hostname: "c.test"}, &pipeconnect.Client{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, ok := cache.Get(k2); ok {
		t.Error("entry kept for a server without PIPECONNECT")
	}
}

func TestCaches(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mc := &pipeconnect.MemoryCache{Now: func() time.Time { return now }}
	k := pipeconnect.Key{Addr: "[2001:db8::1]:25", Helo: "c.test"}
	mc.Put(k, pipeconnect.Entry{EHLO: []string{"PIPECONNECT"}})
	now = now.Add(pipeconnect.DefaultTTL - time.Second)
	if _, ok := mc.Get(k); !ok {
		t.Error("entry gone before 7 days")
	}
	now = now.Add(2 * time.Second)
	if _, ok := mc.Get(k); ok {
		t.Error("entry kept after 7 days")
	}

	path := filepath.Join(t.TempDir(), "pipeconnect.json")
	fc, err := pipeconnect.OpenFileCache(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	fc.Put(k, pipeconnect.Entry{EHLO: []string{"PIPELINING", "PIPECONNECT"}, Limits: "RCPTMAX=50"})
	fc.Put(pipeconnect.Key{Addr: "127.0.0.1:25", Helo: "c.test"}, pipeconnect.Entry{EHLO: []string{"PIPECONNECT"}})
	fc.Delete(pipeconnect.Key{Addr: "127.0.0.1:25", Helo: "c.test"})
	fc2, err := pipeconnect.OpenFileCache(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := fc2.Get(k)
	if !ok || e.Limits != "RCPTMAX=50" || len(e.EHLO) != 2 {
		t.Errorf("after reopening: %+v %v", e, ok)
	}
	if _, ok := fc2.Get(pipeconnect.Key{Addr: "127.0.0.1:25", Helo: "c.test"}); ok {
		t.Error("deleted entry back")
	}
	fc3, err := pipeconnect.OpenFileCache(path, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fc3.Get(k); ok {
		t.Error("expired entry returned")
	}
}

func TestKeywords(t *testing.T) {
	got := pipeconnect.Keywords(&smtp.SMTPError{Code: 250, Message: "mx Hello\nPIPELINING\n \nSIZE 10\n"})
	if strings.Join(got, ",") != "PIPELINING,SIZE 10" {
		t.Errorf("%q", got)
	}
}

func FuzzKeywords(f *testing.F) {
	f.Add("mx Hello\nPIPELINING\nPIPECONNECT\nAUTH PLAIN")
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range pipeconnect.Keywords(&smtp.SMTPError{Code: 250, Message: s}) {
			if k == "" || strings.Contains(k, "\n") {
				t.Fatalf("bad keyword %q", k)
			}
		}
	})
}

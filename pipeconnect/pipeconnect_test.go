package pipeconnect_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
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

// session runs one DialSend through p and returns the round trips from
// the TCP connect to the reply to the message (the QUIT of Close not
// counted), and whether the backend got it.
func session(t *testing.T, p *rttproxy.Proxy, opts *client.Options, pc *pipeconnect.Client) float64 {
	t.Helper()
	c0, s0 := p.ClientFlights(), p.ServerFlights()
	c, res, err := pipeconnect.DialSend(context.Background(), p.Addr, opts, pc,
		&client.Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(msg))
	if err != nil || res.Recipients[0].Status != client.Accepted {
		t.Fatal(err, res)
	}
	rtt := float64(p.ClientFlights()-c0+p.ServerFlights()-s0) / 2
	c.Close()
	return rtt
}

// TestClient: the first session stores the EHLO reply; with it the
// second sends EHLO and the envelope early: one message in cleartext
// takes 2 round trips after the TCP connect instead of 3.5, and with
// STARTTLS early pipelining saves at least 2 (draft-harris-early-pipe
// section 1). Counted through rttproxy, not timed.
func TestClient(t *testing.T) {
	srvTLS, cliTLS := fronttest.TLSConfig(t)
	cliTLS.MinVersion = tls.VersionTLS13
	for _, tc := range []struct {
		name    string
		withTLS bool
		ignore  []string
	}{
		{"cleartext DATA", false, []string{"CHUNKING"}},
		{"STARTTLS DATA", true, []string{"CHUNKING"}},
		{"cleartext BDAT", false, nil},
		{"STARTTLS BDAT", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &fronttest.Backend{}
			srv := fronttest.Start(t, be, &front.Options{TLSConfig: srvTLS,
				Extensions: []front.Extension{&pipeconnect.Server{Wait: 500 * time.Millisecond}}})
			p := rttproxy.Start(t, srv.Addr, time.Millisecond)
			cache := &pipeconnect.MemoryCache{}
			pc := &pipeconnect.Client{Cache: cache}
			opts := &client.Options{Hostname: "c.test", TLSConfig: cliTLS, TLSPolicy: client.TLSNone, IgnoreKeywords: tc.ignore}
			if tc.withTLS {
				opts.TLSPolicy = client.TLSRequired
			}
			k := pipeconnect.Key{Addr: p.Addr, Helo: "c.test"}
			var rtt []float64
			for i := 0; i < 3; i++ {
				rtt = append(rtt, session(t, p, opts, pc))
				if e, ok := cache.Get(k); !ok || (tc.withTLS && e.TLSEHLO == nil) {
					t.Fatalf("no cache entry after session %d: %+v", i, e)
				}
			}
			t.Logf("round trips: %v classic, then %v and %v with PIPECONNECT", rtt[0], rtt[1], rtt[2])
			if rtt[1] != rtt[2] {
				t.Errorf("early sessions differ: %v", rtt)
			}
			// With CHUNKING the classic session is already half a
			// round trip shorter (the chunk rides with the
			// envelope), while the early one keeps the chunk until
			// the EHLO reply has confirmed CHUNKING: it takes as
			// long as with DATA.
			bdat := tc.ignore == nil
			wantSaving := 2.0
			if bdat {
				wantSaving = 1.5
			}
			switch {
			case !tc.withTLS && rtt[1] != 2:
				t.Errorf("cleartext with PIPECONNECT: %v round trips, want 2", rtt[1])
			case !tc.withTLS && !bdat && rtt[0] != 3.5:
				t.Errorf("cleartext without PIPECONNECT: %v round trips, want 3.5", rtt[0])
			case tc.withTLS && rtt[1] > 4:
				t.Errorf("STARTTLS with PIPECONNECT: %v round trips, want <= 4", rtt[1])
			case tc.withTLS && rtt[0]-rtt[1] < wantSaving:
				t.Errorf("STARTTLS: PIPECONNECT saved %v round trips, want >= %v", rtt[0]-rtt[1], wantSaving)
			}
			if n := len(be.Messages()); n != 3 || p.Conns() != 3 {
				t.Errorf("%d copies over %d connections, want 3 and 3", n, p.Conns())
			}
			for _, m := range be.Messages() {
				if m.TLS != tc.withTLS || m.Helo != "c.test" || string(m.Data) != msg {
					t.Errorf("%+v", m)
				}
			}

			// Dial alone writes EHLO (and STARTTLS) early and waits
			// for the EHLO reply: the banner's half round trip, plus
			// the STARTTLS round trip with TLS.
			var opening []float64
			for _, pcx := range []*pipeconnect.Client{{Cache: &pipeconnect.MemoryCache{}}, pc} {
				c0, s0 := p.ClientFlights(), p.ServerFlights()
				c, err := pipeconnect.Dial(context.Background(), p.Addr, opts, pcx)
				if err != nil {
					t.Fatal(err)
				}
				opening = append(opening, float64(p.ClientFlights()-c0+p.ServerFlights()-s0)/2)
				c.Close()
			}
			want := 0.5
			if tc.withTLS {
				want = 1.5
			}
			if opening[0]-opening[1] < want {
				t.Errorf("Dial: early opening saved %v round trips, want >= %v", opening[0]-opening[1], want)
			}
		})
	}
}

// TestClientDialSendRetry: an entry whose capabilities are stale, or for
// a server that refuses early input, makes the early envelope fail before
// the message is sent; the entry is dropped or rewritten and the message
// goes once, on a fresh connection.
func TestClientDialSendRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []netip.Prefix
		entry []string
		kept  bool
	}{
		{"stale capabilities", nil, []string{"PIPELINING", "PIPECONNECT", "SIZE 1"}, true},
		{"sync error", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, []string{"PIPELINING", "PIPECONNECT"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &fronttest.Backend{}
			srv := fronttest.Start(t, be, &front.Options{Extensions: []front.Extension{&pipeconnect.Server{Hosts: tc.hosts, Wait: 200 * time.Millisecond}}})
			p := rttproxy.Start(t, srv.Addr, 0)
			cache := &pipeconnect.MemoryCache{}
			k := pipeconnect.Key{Addr: p.Addr, Helo: "c.test"}
			cache.Put(k, pipeconnect.Entry{EHLO: tc.entry})
			c, res, err := pipeconnect.DialSend(context.Background(), p.Addr, &client.Options{Hostname: "c.test"},
				&pipeconnect.Client{Cache: cache}, &client.Envelope{From: "a@x.test", To: []string{"b@y.test", "badrcpt@y.test"}}, strings.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if res.Recipients[0].Status != client.Accepted || res.Recipients[1].Status != client.PermFailed {
				t.Errorf("%+v", res.Recipients)
			}
			c.Close()
			if n := len(be.Messages()); n != 1 || p.Conns() != 2 {
				t.Errorf("%d copies over %d connections, want 1 over 2", n, p.Conns())
			}
			e, ok := cache.Get(k)
			if ok != tc.kept || (ok && slices.Contains(e.EHLO, "SIZE 1")) {
				t.Errorf("entry %+v %v after the retry", e, ok)
			}
		})
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
	k4 := pipeconnect.Key{Addr: "127.0.0.1:25", Helo: "c.test"}
	fc.Put(k4, pipeconnect.Entry{EHLO: []string{"PIPECONNECT"}})
	read, _ := fc.Get(k4)
	fc.Delete(k4, read)
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

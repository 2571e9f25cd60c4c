package pipeconnect_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/pipeconnect"
)

// peer is a loopback address whose first connection is held after the
// client's early EHLO, until release, and then refused with 554 (or
// closed, when the client gave up); the connections listed in refuse get
// a 554 banner at once; the others are forwarded to a real server.
type peer struct {
	ln      net.Listener
	held    chan struct{} // the first connection's EHLO arrived
	release chan struct{}
	refuse  map[int]bool
	wg      sync.WaitGroup
}

func startPeer(t *testing.T, target string, refuse ...int) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{ln: ln, held: make(chan struct{}), release: make(chan struct{}), refuse: map[int]bool{}}
	for _, n := range refuse {
		p.refuse[n] = true
	}
	p.wg.Add(1)
	go p.serve(target)
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-p.release:
		default:
			close(p.release)
		}
		p.wg.Wait()
	})
	return p
}

func (p *peer) serve(target string) {
	defer p.wg.Done()
	for n := 1; ; n++ {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(conn)
			switch {
			case n == 1:
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				close(p.held)
				<-p.release
				refuse(conn, r)
			case p.refuse[n]:
				refuse(conn, r)
			default:
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				up.SetDeadline(time.Now().Add(10 * time.Second))
				go func() { io.Copy(up, conn); up.Close() }()
				io.Copy(conn, up)
			}
		}()
	}
}

// refuse answers 554 (RFC 5321 section 3.1), then 221 to the client's QUIT.
func refuse(conn net.Conn, r *bufio.Reader) {
	conn.Write([]byte("554 5.3.2 Not now\r\n"))
	if _, err := r.ReadString('\n'); err == nil {
		conn.Write([]byte("221 2.0.0 Bye\r\n"))
	}
}

// TestConcurrentOpenings: two sessions to one server open at the same
// time from one stale entry. The second succeeds and stores the server's
// fresh EHLO reply; then the first fails: its caller gives up, or the
// server refuses it with 554 (and refuses its classic retry too). A
// failed opening removes only the entry it read: the fresh one stays, in
// memory and in the file, whether each session has a Client of its own
// (pipeconnect.Dial) or both share one (client.Dial's extensions).
func TestConcurrentOpenings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		abandon bool // the first session's caller gives up
		shared  bool // client.Dial with one Client for both
	}{
		{"abandoned", true, false},
		{"refused", false, false},
		{"abandoned, shared Client", true, true},
		{"refused, shared Client", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, &pipeconnect.Server{Wait: 200 * time.Millisecond}, nil)
			// Connections: 1 the first session's early opening, 2 the
			// second session, 3 the first session's classic retry.
			p := startPeer(t, srv.Addr, 3)
			path := filepath.Join(t.TempDir(), "pipeconnect.json")
			cache, err := pipeconnect.OpenFileCache(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			k := pipeconnect.Key{Addr: p.ln.Addr().String(), Helo: "c.test"}
			cache.Put(k, pipeconnect.Entry{EHLO: []string{"PIPELINING", "PIPECONNECT", "SIZE 1"}})
			pc := &pipeconnect.Client{Cache: cache}
			opts := &client.Options{Hostname: "c.test", TLSPolicy: client.TLSNone}
			dial := func(ctx context.Context) (*client.Conn, error) {
				if tc.shared {
					o := *opts
					o.Extensions = []client.Extension{pc}
					return client.Dial(ctx, k.Addr, &o)
				}
				return pipeconnect.Dial(ctx, k.Addr, opts, pc)
			}

			ctxA, cancelA := context.WithCancel(context.Background())
			defer cancelA()
			errA := make(chan error, 1)
			go func() {
				c, err := dial(ctxA)
				if c != nil {
					c.Close()
				}
				errA <- err
			}()
			select {
			case <-p.held:
			case <-time.After(10 * time.Second):
				t.Fatal("the first session wrote no early EHLO")
			}

			ctxB, cancelB := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancelB()
			c, err := dial(ctxB)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			fresh, ok := cache.Get(k)
			if !ok || slices.Contains(fresh.EHLO, "SIZE 1") {
				t.Fatalf("the second session stored %+v %v", fresh, ok)
			}

			if tc.abandon {
				cancelA()
			}
			close(p.release)
			if err := <-errA; err == nil {
				t.Fatal("the first session opened")
			}

			if e, ok := cache.Get(k); !ok || !e.Equal(&fresh) {
				t.Errorf("after the failed opening: %+v %v, want the fresh %+v", e, ok, fresh)
			}
			reopened, err := pipeconnect.OpenFileCache(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := reopened.Get(k); !ok || !slices.Equal(e.EHLO, fresh.EHLO) {
				t.Errorf("in the file: %+v %v, want the fresh %+v", e, ok, fresh)
			}
		})
	}
}

// TestDeleteOnlyWhatWasRead: Delete removes the entry only while it is
// the one read; an entry stored since stays, and a zero Entry (nothing
// was read) removes nothing.
func TestDeleteOnlyWhatWasRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipeconnect.json")
	fc, err := pipeconnect.OpenFileCache(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []pipeconnect.Cache{&pipeconnect.MemoryCache{}, fc} {
		k := pipeconnect.Key{Addr: "192.0.2.1:25", Helo: "c.test"}
		c.Put(k, pipeconnect.Entry{EHLO: []string{"PIPECONNECT"}})
		old, _ := c.Get(k)
		// The same keywords again, stored later: another write.
		c.Put(k, pipeconnect.Entry{EHLO: []string{"PIPECONNECT"}, Stored: old.Stored.Add(time.Second)})
		c.Delete(k, old)
		c.Delete(k, pipeconnect.Entry{})
		cur, ok := c.Get(k)
		if !ok {
			t.Fatalf("%T: the newer entry went", c)
		}
		c.Delete(k, cur)
		if _, ok := c.Get(k); ok {
			t.Errorf("%T: the entry read stayed", c)
		}
	}
	reopened, err := pipeconnect.OpenFileCache(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reopened.Get(pipeconnect.Key{Addr: "192.0.2.1:25", Helo: "c.test"}); ok {
		t.Error("the deleted entry is back from the file")
	}
}

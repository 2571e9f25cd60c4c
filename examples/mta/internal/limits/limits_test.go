package limits

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/acceptretry"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestTemporaryAcceptErrorsAreRetried(t *testing.T) {
	inner := &acceptretry.Failing{Listener: listen(t), Errs: []error{acceptretry.Errno(syscall.EMFILE), acceptretry.Errno(syscall.ENFILE), acceptretry.Errno(syscall.ECONNABORTED)}}
	l := NewListener(inner, &Options{Logger: quiet})
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(2 * time.Second)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("temporary errors not retried: %v", err)
	}
	c.Close()
	// Anything else is returned as it is.
	bad := acceptretry.Errno(syscall.EINVAL)
	inner.SetErrs(bad)
	if _, err := l.Accept(); err != bad {
		t.Fatalf("permanent error: %v", err)
	}
}

func TestCloseEndsBackoff(t *testing.T) {
	var errs []error
	for range 100 {
		errs = append(errs, acceptretry.Errno(syscall.EMFILE))
	}
	l := NewListener(&acceptretry.Failing{Listener: listen(t), Errs: errs}, &Options{Logger: quiet})
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}

// Many clients opening and closing at once, some over the limits: every
// place is given back (run with -race).
func TestCountsAreReleased(t *testing.T) {
	l := NewListener(listen(t), &Options{Hostname: "mx.test", MaxConnections: 8, MaxPerHost: 4, Logger: quiet})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, "220 mx.test\r\n"); err != nil {
					return
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	replies := map[string]int{}
	for i := range 40 {
		wg.Go(func() {
			src := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}[i%3]
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := d.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			replies[line[:min(len(line), 9)]]++
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		})
	}
	wg.Wait()
	if replies["220 mx.te"] == 0 || replies["421 4.7.0"] == 0 || replies["220 mx.te"]+replies["421 4.7.0"] != 40 {
		t.Fatalf("replies %v", replies)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Open() != 0 || len(l.perHostCounts()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still counted, per host %v", l.Open(), l.perHostCounts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *Listener) perHostCounts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.perHost {
		out[k] = v
	}
	return out
}

func TestHostKey(t *testing.T) {
	for in, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 25}:          "192.0.2.1",
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 25, Zone: "eth0"}: "2001:db8::1",
		&net.UnixAddr{Name: "/run/smtp", Net: "unix"}:                        "/run/smtp",
	} {
		if got := hostKey(in); got != want {
			t.Errorf("%v: %q, want %q", in, got, want)
		}
	}
	if !strings.Contains(ErrRefused.Error(), "too many") || !errors.Is(ErrRefused, net.ErrClosed) {
		t.Fatal("ErrRefused")
	}
}

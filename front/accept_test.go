package front_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/acceptretry"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// slack is what a test allows beyond a deadline before it calls the
// session hung: generous, for a loaded machine; the point is "cut", not
// "cut on time".
const slack = 3 * time.Second

// TestAcceptTemporaryErrors: a process out of descriptors (EMFILE,
// ENFILE), out of buffers or memory, or a connection aborted before
// Accept does not end Serve: it backs off and accepts again, as net/http
// does. Any other error ends it.
func TestAcceptTemporaryErrors(t *testing.T) {
	inner := smtp.NewServer(&fronttest.Backend{})
	inner.Domain = "mx.test"
	fs := front.New(inner, nil)
	defer fs.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &acceptretry.Failing{Listener: l, Errs: []error{
		acceptretry.Errno(syscall.EMFILE), acceptretry.Errno(syscall.ENFILE), acceptretry.Errno(syscall.ECONNABORTED),
		acceptretry.Errno(syscall.ENOBUFS), acceptretry.Errno(syscall.ENOMEM), acceptretry.Errno(syscall.EMFILE),
	}}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(fl) }()
	c := greet(t, l.Addr().String())
	c.MustCmd("QUIT", 221)
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v", err)
	default:
	}

	permanent := errors.New("listener broken")
	fl.SetErrs(acceptretry.Errno(syscall.EMFILE), permanent)
	smtptest.Dial(t, l.Addr().String()) // wakes the Accept under way
	select {
	case err := <-done:
		if !errors.Is(err, permanent) {
			t.Errorf("Serve: %v, want %v", err, permanent)
		}
	case <-time.After(slack):
		t.Fatal("Serve did not return on a permanent error")
	}
}

// TestAcceptCloseWhileBackingOff: Close ends a Serve that is waiting to
// accept again.
func TestAcceptCloseWhileBackingOff(t *testing.T) {
	inner := smtp.NewServer(&fronttest.Backend{})
	fs := front.New(inner, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 100)
	for i := range errs {
		errs[i] = acceptretry.Errno(syscall.EMFILE)
	}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(&acceptretry.Failing{Listener: l, Errs: errs}) }()
	time.Sleep(100 * time.Millisecond)
	fs.Close()
	select {
	case err := <-done:
		if err != front.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(slack):
		t.Fatal("Serve did not return after Close")
	}
}

// TestAcceptOutOfDescriptors: a front in a process allowed few file
// descriptors, as under "ulimit -n", keeps serving when more clients
// connect than it can accept, and takes the waiting ones as others
// leave. The front runs in a child process (this test binary again, in
// TestAcceptOutOfDescriptorsChild) with a low RLIMIT_NOFILE.
func TestAcceptOutOfDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := newChild(t, exe, "-test.run=^TestAcceptOutOfDescriptorsChild$")
	addr := child.addr(t)
	// More clients than the child has descriptors left; all wait in the
	// listen queue or are served.
	const clients = 40
	conns := make([]*smtptest.Client, clients)
	for i := range conns {
		conns[i] = smtptest.Dial(t, addr)
	}
	for i, c := range conns {
		c.Timeout = slack
		if rep := c.ReadReply(); rep.Code != 220 {
			t.Fatalf("client %d: banner %v; child: %s", i, rep, child.output())
		}
		c.MustCmd("QUIT", 221)
		c.Close()
	}
	for deadline := time.Now().Add(slack); !strings.Contains(child.output(), "accept failed; retrying"); {
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran out of descriptors:\n%s", child.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAcceptOutOfDescriptorsChild is the child of
// TestAcceptOutOfDescriptors: a front with room for descriptorsLeft
// more descriptors, until its stdin closes.
func TestAcceptOutOfDescriptorsChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		return // only as the child of TestAcceptOutOfDescriptors
	}
	const descriptorsLeft = 10
	inner := smtp.NewServer(&fronttest.Backend{})
	inner.Domain = "mx.test"
	inner.ErrorLog = nopLog{}
	fs := front.New(inner, &front.Options{Logger: childLogger()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + descriptorsLeft)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("addr " + l.Addr().String() + "\n")
	go func() {
		io.Copy(io.Discard, os.Stdin)
		fs.Close()
	}()
	if err := fs.Serve(l); err != front.ErrServerClosed {
		os.Stdout.WriteString("serve: " + err.Error() + "\n")
		os.Exit(1)
	}
}

const childEnv = "FRONT_TEST_CHILD"

func childLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// child is this test binary run again for one test, with its output
// collected; it stops when the test ends.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	mu    sync.Mutex
	out   strings.Builder
	lines chan string
}

func newChild(t *testing.T, exe string, args ...string) *child {
	t.Helper()
	ch := &child{cmd: exec.Command(exe, args...), lines: make(chan string, 100)}
	ch.cmd.Env = append(os.Environ(), childEnv+"=1")
	ch.cmd.Stderr = os.Stderr
	stdin, err := ch.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := ch.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ch.stdin = stdin
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ch.mu.Lock()
			ch.out.WriteString(sc.Text() + "\n")
			ch.mu.Unlock()
			select {
			case ch.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		exited := make(chan error, 1)
		go func() { <-read; exited <- ch.cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			ch.cmd.Process.Kill()
			<-exited
			t.Errorf("child did not stop:\n%s", ch.output())
		}
	})
	return ch
}

// addr waits for the child's "addr host:port" line.
func (ch *child) addr(t *testing.T) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-ch.lines:
			if a, ok := strings.CutPrefix(l, "addr "); ok {
				return a
			}
		case <-timeout:
			t.Fatalf("child gave no address:\n%s", ch.output())
		}
	}
}

func (ch *child) output() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.out.String()
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

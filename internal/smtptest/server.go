package smtptest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Server is a go-smtp server serving on a loopback port for one test.
type Server struct {
	*smtp.Server
	// Addr is the host:port the server listens on.
	Addr string
}

// Start creates a go-smtp server for be with the domain "mx.test", lets each
// configure function adjust it (TLS, limits, LMTP...), serves it on
// 127.0.0.1:0 and stops it when the test ends.
func Start(t testing.TB, be smtp.Backend, configure ...func(*smtp.Server)) *Server {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	for _, f := range configure {
		f(srv)
	}
	return &Server{Server: srv, Addr: Serve(t, srv)}
}

// Serve serves an already configured server on 127.0.0.1:0 and returns the
// address. When the test ends the server is closed and Serve waits for its
// accept loop to return. The server's ErrorLog is routed to t.Logf while the
// test runs.
func Serve(t testing.TB, srv *smtp.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	logger := &testLogger{t: t}
	srv.ErrorLog = logger
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		logger.stop()
		if err := srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtptest: close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("smtptest: serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("smtptest: server did not stop")
		}
	})
	return l.Addr().String()
}

// testLogger forwards to t.Logf until the test ends; logging after that
// would panic.
type testLogger struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLogger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

func (l *testLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("smtp server: "+format, v...)
	}
}

func (l *testLogger) Println(v ...any) { l.Printf("%s", fmt.Sprintln(v...)) }

package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/smtpkit/smtpkit/proxyproto"
)

// failingListener's Accept fails with err.
type failingListener struct {
	net.Listener
	err error
}

func (f failingListener) Accept() (net.Conn, error) { return nil, f.err }

// The MTA's own wrappers pass an accept error on as it is, so that a
// server above can still see that it is temporary.
func TestListenWrappersKeepAcceptErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, wrapped := range map[string]net.Listener{
		"conn.go listener": &listener{Listener: failingListener{l, emfile}, log: log},
		"proxyproto":       proxyproto.NewListener(failingListener{l, emfile}, nil),
	} {
		_, err := wrapped.Accept()
		var te interface{ Temporary() bool }
		if err != emfile || !errors.As(err, &te) || !te.Temporary() {
			t.Errorf("%s: accept error %v (%T) is not the temporary one below", name, err, err)
		}
	}
}

package acceptretry

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// Failing is a listener for tests: its next Accepts fail with Errs in
// turn, as accept(2) does when the process is out of descriptors, and
// then it accepts from the Listener it wraps.
type Failing struct {
	net.Listener
	mu   sync.Mutex
	Errs []error
}

// Accept returns the next of Errs, or the wrapped listener's connection.
func (f *Failing) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.Errs) > 0 {
		err := f.Errs[0]
		f.Errs = f.Errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

// SetErrs replaces the failures still to come.
func (f *Failing) SetErrs(errs ...error) {
	f.mu.Lock()
	f.Errs = errs
	f.mu.Unlock()
}

// Errno is errno as the net package returns it from a failed accept(2).
func Errno(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// Package acceptretry is what smtpkit's listeners share about accept(2)
// failures: which are worth a retry, and the backoff between retries,
// the figures net/http's Server uses. A process out of descriptors keeps
// serving the connections it has and accepts again when one ends, rather
// than exit.
package acceptretry

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"
)

// The backoff doubles from Min up to Max while Accept keeps failing.
const (
	Min = 5 * time.Millisecond
	Max = time.Second
)

// retried are the accept(2) failures that pass: a process or system out
// of descriptors, buffers or memory, or a client gone before it was
// accepted.
var retried = []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
	syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN}

// Temporary reports whether an Accept error is worth a retry: one of the
// failures above, a timeout, or an error that says it is temporary, as
// net/http asks. A closed listener is not.
func Temporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range retried {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Backoff is the wait between failed Accepts; its zero value is ready.
type Backoff struct{ d time.Duration }

// Wait waits for the next delay, doubled from the last one within Min and
// Max, and returns it; it returns early, with ctx's error, when ctx ends,
// or with net.ErrClosed when done is closed (done may be nil).
func (b *Backoff) Wait(ctx context.Context, done <-chan struct{}) (time.Duration, error) {
	b.d = min(max(2*b.d, Min), Max)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
		return b.d, nil
	case <-ctx.Done():
		return b.d, ctx.Err()
	case <-done:
		return b.d, net.ErrClosed
	}
}

// Reset starts the backoff over, after an Accept that succeeded.
func (b *Backoff) Reset() { b.d = 0 }

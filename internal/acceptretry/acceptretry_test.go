package acceptretry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

func TestTemporary(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN} {
		if !Temporary(Errno(errno)) || !Temporary(fmt.Errorf("wrapped: %w", Errno(errno))) {
			t.Errorf("%v not retried", errno)
		}
	}
	for _, err := range []error{Errno(syscall.EINVAL), Errno(syscall.EBADF), net.ErrClosed,
		fmt.Errorf("accept: %w", net.ErrClosed), errors.New("other")} {
		if Temporary(err) {
			t.Errorf("%v retried", err)
		}
	}
}

func TestBackoff(t *testing.T) {
	var b Backoff
	done := make(chan struct{})
	var got []string
	for range 3 {
		d, err := b.Wait(context.Background(), done)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.String())
	}
	if fmt.Sprint(got) != "[5ms 10ms 20ms]" {
		t.Fatalf("delays %v", got)
	}
	b.d = Max
	close(done)
	if d, err := b.Wait(context.Background(), done); d != Max || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed: %v %v", d, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Wait(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	b.Reset()
	if d, _ := b.Wait(ctx, nil); d != Min {
		t.Fatalf("after Reset: %v", d)
	}
}

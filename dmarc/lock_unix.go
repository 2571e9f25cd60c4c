//go:build unix

package dmarc

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on f, waiting for readers such as
// opendmarc-import, which takes it shared.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

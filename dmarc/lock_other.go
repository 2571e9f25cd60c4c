//go:build !unix

package dmarc

import "os"

// lockFile does nothing where flock(2) does not exist; History's mutex
// still orders the writers of one process.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }

package dmarc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// DefaultSpoolMemory is how much of a message the session wrapper keeps
// in memory; the rest goes to a temporary file.
const DefaultSpoolMemory = 1 << 20

// spool holds one message so that it can be read twice, evaluated then
// delivered: in memory up to limit bytes, then in a temporary file in
// dir.
type spool struct {
	dir   string
	limit int
	mem   bytes.Buffer
	f     *os.File
	n     int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.mem.Len()+len(p) > s.limit {
		f, err := os.CreateTemp(s.dir, "dmarc-spool-")
		if err != nil {
			return 0, fmt.Errorf("dmarc: spool: %w", err)
		}
		s.f = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("dmarc: spool: %w", err)
		}
		s.mem = bytes.Buffer{}
	}
	var (
		n   int
		err error
	)
	if s.f != nil {
		n, err = s.f.Write(p)
		if err != nil {
			err = fmt.Errorf("dmarc: spool: %w", err)
		}
	} else {
		n, err = s.mem.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// reader reads the message from its start; readers are independent.
func (s *spool) reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.n)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// header reads the header section of the message, at most max bytes
// (readHeader), and returns it with a reader of the rest. A message in
// memory has its header section indexed where it is.
func (s *spool) header(max int) (*header, io.Reader, error) {
	if s.f == nil {
		h, err := headerOf(s.mem.Bytes(), max)
		if err != nil {
			return nil, nil, err
		}
		return h, s.readerFrom(int64(len(h.raw))), nil
	}
	br := bufio.NewReader(s.reader())
	h, err := readHeader(br, max)
	return h, br, err
}

// readerFrom reads the message from offset off.
func (s *spool) readerFrom(off int64) io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, off, s.n-off)
	}
	return bytes.NewReader(s.mem.Bytes()[off:])
}

// close removes the temporary file, if any.
func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
}

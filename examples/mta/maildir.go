package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// maildirs delivers into DATA/maildir/<address>/{tmp,new,cur}, one Maildir
// per local address (https://cr.yp.to/proto/maildir.html).
//
// A message is written to tmp/, fsynced, renamed into new/ and the new/
// directory is fsynced, for every recipient, before delivery reports
// success: once the client has its 250, a crash loses nothing.
type maildirs struct {
	root    string // DATA/maildir
	host    string // for unique names, with / and : escaped
	quota   int64  // default per-mailbox quota, 0 for none
	counter atomic.Uint64
}

// maxFolderName is the longest mailbox folder name: NAME_MAX, 255 bytes,
// on the usual Unix file systems.
const maxFolderName = 255

var errFolderTooLong = errors.New("mailbox folder name longer than 255 bytes")

// quotaFile in a mailbox folder overrides the default quota for it.
const quotaFile = "quota"

func newMaildirs(root, hostname string, quota int64) (*maildirs, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("maildir root: %w", err)
	}
	host := strings.NewReplacer("/", `\057`, ":", `\072`).Replace(hostname)
	return &maildirs{root: root, host: host, quota: quota}, nil
}

func (m *maildirs) dir(mailbox string) string { return filepath.Join(m.root, mailbox) }

var (
	errQuotaExceeded  = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	errTooBigForQuota = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Message larger than the mailbox quota"}
	errQuotaConfig    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 5}, Message: "Mailbox quota misconfigured, try again later"}
	errLocalWrite     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error writing the message, try again later"}
	errLineTooLong    = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	errReadFailed     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection problem while reading the message"}
)

// limit returns the quota in force for mailbox: the number in its quota
// file, else the default. 0 means none.
func (m *maildirs) limit(mailbox string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(m.dir(mailbox), quotaFile))
	if errors.Is(err, os.ErrNotExist) {
		return m.quota, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("quota file of %s: %q is not a byte count", mailbox, strings.TrimSpace(string(b)))
	}
	return n, nil
}

// usage is the size of the messages in new/ and cur/.
func (m *maildirs) usage(mailbox string) (int64, error) {
	var total int64
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(m.dir(mailbox), sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
		}
	}
	return total, nil
}

// checkQuota refuses a mailbox that is full, or that a message of the
// declared size (0 if unknown) would overfill. The check is made at RCPT:
// a message accepted then is delivered even if it ends over the quota, so
// nothing accepted is ever dropped; the next one is refused.
func (m *maildirs) checkQuota(mailbox string, declared int64) error {
	limit, err := m.limit(mailbox)
	if err != nil {
		return fmt.Errorf("%w: %w", errQuotaConfig, err)
	}
	if limit == 0 {
		return nil
	}
	used, err := m.usage(mailbox)
	if err != nil {
		return fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	if declared > limit {
		// RFC 3463 X.2.2: it would not fit even in an empty mailbox, so
		// trying again is no use.
		return errTooBigForQuota
	}
	if used >= limit || used+declared > limit {
		return errQuotaExceeded
	}
	return nil
}

// ensure creates a mailbox's Maildir folders, fsyncing each parent whose
// entries changed so the folders survive a crash.
func (m *maildirs) ensure(mailbox string) error {
	d := m.dir(mailbox)
	if fi, err := os.Stat(filepath.Join(d, "new")); err == nil && fi.IsDir() {
		if _, err := os.Stat(filepath.Join(d, "tmp")); err == nil {
			return nil
		}
	}
	if err := os.MkdirAll(d, 0o750); err != nil {
		return err
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if err := syncDir(d); err != nil {
		return err
	}
	return syncDir(m.root)
}

// uniqueName follows the Maildir convention time.MusecPpidQn.host.
func (m *maildirs) uniqueName(now time.Time) string {
	return fmt.Sprintf("%d.M%dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), m.counter.Add(1), m.host)
}

// deliver writes header followed by the message read from body into the
// Maildir of every mailbox. It returns the size of each copy. On error no
// copy has reached new/ and the error is an *smtp.SMTPError.
func (m *maildirs) deliver(header string, body io.Reader, mailboxes []string) (int64, error) {
	for _, mb := range mailboxes {
		if err := m.ensure(mb); err != nil {
			return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
		}
	}
	base := m.uniqueName(time.Now())
	tmps := make([]string, 0, len(mailboxes))
	cleanup := func() {
		for _, p := range tmps {
			os.Remove(p)
		}
	}

	first := filepath.Join(m.dir(mailboxes[0]), "tmp", base)
	tmps = append(tmps, first)
	size, err := writeFirst(first, header, body)
	if err != nil {
		cleanup()
		return 0, err
	}
	for _, mb := range mailboxes[1:] {
		p := filepath.Join(m.dir(mb), "tmp", base)
		tmps = append(tmps, p)
		if err := copyFile(p, first); err != nil {
			cleanup()
			return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
		}
	}

	final := fmt.Sprintf("%s,S=%d", base, size)
	for i, mb := range mailboxes {
		if err := os.Rename(tmps[i], filepath.Join(m.dir(mb), "new", final)); err != nil {
			// Copies renamed before this one stay delivered: a retry may
			// duplicate them, but nothing is lost.
			cleanup()
			return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
		}
	}
	for _, mb := range mailboxes {
		if err := syncDir(filepath.Join(m.dir(mb), "new")); err != nil {
			return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
		}
	}
	return size, nil
}

// writeFirst streams the message into path with LF line ends (the Maildir
// convention) and fsyncs it.
func writeFirst(path, header string, body io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	defer f.Close()
	cw := &countWriter{w: f}
	bw := bufio.NewWriterSize(cw, 64<<10)
	lw := &lfWriter{w: bw}
	if _, err := io.WriteString(lw, header); err != nil {
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	if _, err := io.Copy(lw, body); err != nil {
		return 0, readError(err)
	}
	if err := lw.Flush(); err != nil {
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	return cw.n, f.Close()
}

// readError turns an error met while copying the message into the reply
// the client should get. Write errors surface as local errors.
func readError(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se // e.g. smtp.ErrDataTooLarge, 552 5.3.4
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	case errors.Is(err, errWrite):
		return fmt.Errorf("%w: %w", errLocalWrite, err)
	default:
		return fmt.Errorf("%w: %w", errReadFailed, err)
	}
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errWrite marks errors from the file side of a copy, so that they are
// not mistaken for the client's.
var errWrite = errors.New("write")

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		err = fmt.Errorf("%w: %w", errWrite, err)
	}
	return n, err
}

// lfWriter turns CRLF into LF; a lone CR is kept. Errors come from the
// bufio.Writer over a countWriter, so they are already marked errWrite.
type lfWriter struct {
	w      *bufio.Writer
	heldCR bool
}

func (l *lfWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if l.heldCR {
			l.heldCR = false
			if p[0] != '\n' {
				if err := l.w.WriteByte('\r'); err != nil {
					return 0, err
				}
			}
		}
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			if _, err := l.w.Write(p); err != nil {
				return 0, err
			}
			break
		}
		if _, err := l.w.Write(p[:i]); err != nil {
			return 0, err
		}
		l.heldCR = true
		p = p[i+1:]
	}
	return n, nil
}

// Flush writes a CR held at the very end of the input.
func (l *lfWriter) Flush() error {
	if l.heldCR {
		l.heldCR = false
		return l.w.WriteByte('\r')
	}
	return nil
}

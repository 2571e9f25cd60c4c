package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// spool keeps messages for remote recipients under DATA/spool until every
// recipient has a final result: <id>.msg holds the message as it goes on
// the wire (CRLF), <id>.env its envelope and per-recipient state as JSON.
//
// The .msg file is fsynced before the .env file is written, and the .env
// file is replaced atomically (write, fsync, rename, fsync the folder), so
// a message is queued exactly when its .env exists. A .msg without .env
// found at start was never acknowledged and is removed.
type spool struct {
	dir string
}

// rcptState is where one recipient of a queued message stands.
type rcptState string

const (
	statePending   rcptState = "pending"
	stateDelivered rcptState = "delivered"
	stateFailed    rcptState = "failed"
)

type queuedRcpt struct {
	Addr        string    `json:"addr"`
	State       rcptState `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastReply   string    `json:"last_reply,omitempty"` // "550 5.1.1 text" or an error
	RemoteMTA   string    `json:"remote_mta,omitempty"` // host that gave LastReply
	Notified    bool      `json:"notified,omitempty"`   // a DSN for its failure is queued
}

// queued is one spooled message.
type queued struct {
	ID      string        `json:"id"`
	From    string        `json:"from"`
	Arrived time.Time     `json:"arrived"`
	Rcpts   []*queuedRcpt `json:"rcpts"`
	// NotifyAt delays the next try to queue a DSN after a failed one.
	NotifyAt time.Time `json:"notify_at,omitzero"`
	msgFlags
}

// msgFlags are what the envelope records of how a message must travel on.
type msgFlags struct {
	// UTF8: received with SMTPUTF8 (Exim's $message_smtputf8); relayed
	// with SMTPUTF8, or downgraded (package smtputf8).
	UTF8 bool `json:"smtputf8,omitempty"`
	// RequireTLS: REQUIRETLS on MAIL (RFC 8689 section 4.1), or a DSN of
	// such a message (section 5); relayed only as section 4.2.1 says.
	RequireTLS bool `json:"requiretls,omitempty"`
	// TLSOptional: "TLS-Required: No" (section 4.2.2); relayed over TLS
	// when offered, whatever the certificate.
	TLSOptional bool `json:"tls_optional,omitempty"`
}

func (q *queued) done() bool {
	for _, r := range q.Rcpts {
		if r.State == statePending || (r.State == stateFailed && !r.Notified && q.From != "") {
			return false
		}
	}
	return true
}

func newSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &spool{dir: dir}, nil
}

func (s *spool) msgPath(id string) string { return filepath.Join(s.dir, id+".msg") }
func (s *spool) envPath(id string) string { return filepath.Join(s.dir, id+".env") }

// writeMessage stores the message data of a new spool entry and fsyncs
// it. The entry is not queued until saveEnvelope.
func (s *spool) writeMessage(id, header string, body io.Reader) (int64, error) {
	f, err := os.OpenFile(s.msgPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	defer f.Close()
	cw := &countWriter{w: f}
	if _, err := io.WriteString(cw, header); err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	if _, err := io.Copy(cw, body); err != nil {
		os.Remove(f.Name())
		return 0, readError(err)
	}
	if err := f.Sync(); err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	return cw.n, f.Close()
}

// saveEnvelope writes q's state atomically and durably.
func (s *spool) saveEnvelope(q *queued) error {
	b, err := json.MarshalIndent(q, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.envPath(q.ID), b, 0o640); err != nil {
		return fmt.Errorf("%w: %w", errLocalWrite, err)
	}
	return nil
}

func (s *spool) open(id string) (*os.File, error) { return os.Open(s.msgPath(id)) }

// remove drops a finished entry: the envelope first, so that a crash in
// between leaves an orphan .msg (removed at start), never an envelope
// without its message.
func (s *spool) remove(id string) error {
	if err := os.Remove(s.envPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(s.msgPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(s.dir)
}

// discard drops the message file of an entry that never got its envelope.
func (s *spool) discard(id string) { os.Remove(s.msgPath(id)) }

// load reads every queued entry, removing orphans and temporary files left
// by a crash. An unreadable envelope is kept aside as <id>.env.bad and
// reported, never deleted.
func (s *spool) load() ([]*queued, []error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, []error{err}
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	var out []*queued
	var errs []error
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(s.dir, name))
		case strings.HasSuffix(name, ".msg"):
			if !have[strings.TrimSuffix(name, ".msg")+".env"] {
				os.Remove(filepath.Join(s.dir, name))
			}
		case strings.HasSuffix(name, ".env"):
			id := strings.TrimSuffix(name, ".env")
			q, err := s.read(id)
			if err == nil && !have[id+".msg"] {
				err = errors.New("message file missing")
			}
			if err != nil {
				errs = append(errs, &badEntry{id: id, err: err})
				os.Rename(s.envPath(id), s.envPath(id)+".bad")
				continue
			}
			out = append(out, q)
		}
	}
	return out, errs
}

func (s *spool) read(id string) (*queued, error) {
	b, err := os.ReadFile(s.envPath(id))
	if err != nil {
		return nil, err
	}
	var q queued
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, err
	}
	if q.ID != id || len(q.Rcpts) == 0 {
		return nil, errors.New("envelope does not match its file")
	}
	return &q, nil
}

// badEntry is a spool entry given up at start: its envelope does not
// parse or its message file is gone. The envelope is kept aside as .bad.
type badEntry struct {
	id  string
	err error
}

func (e *badEntry) Error() string { return fmt.Sprintf("spool entry %s: %v", e.id, e.err) }
func (e *badEntry) Unwrap() error { return e.err }

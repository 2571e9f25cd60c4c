package pipeconnect

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is how long a cached EHLO reply is used: 7 days, Exim's
// retry_data_expire.
const DefaultTTL = 7 * 24 * time.Hour

// MaxFileSize bounds the cache file a FileCache reads.
const MaxFileSize = 16 << 20

// Key identifies a cached peer: the server's address and the name the
// client gives in EHLO (Exim skips early pipelining when its HELO name
// depends on the local address).
type Key struct {
	// Addr is "ip:port", IPv6 in brackets.
	Addr string
	// Helo is the client's EHLO name.
	Helo string
}

func (k Key) String() string { return k.Addr + " " + k.Helo }

// Entry is what a server said in its last session.
type Entry struct {
	// EHLO are the keywords of the cleartext EHLO reply, one per line
	// ("SIZE 10240000").
	EHLO []string `json:"ehlo"`
	// TLSEHLO are those after STARTTLS; nil without TLS.
	TLSEHLO []string `json:"tls_ehlo,omitempty"`
	// Auth are the AUTH mechanisms and Limits the LIMITS parameters of
	// the last EHLO reply (RFC 4954, RFC 9422).
	Auth   string `json:"auth,omitempty"`
	Limits string `json:"limits,omitempty"`
	// Stored is when the entry was written.
	Stored time.Time `json:"stored"`
}

// offers reports whether the cleartext reply offered early pipelining, in
// any of its spellings.
func (e *Entry) offers() bool {
	for _, k := range e.EHLO {
		kw, _, _ := strings.Cut(k, " ")
		kw = strings.ToUpper(kw)
		if kw == Keyword {
			return true
		}
		for _, o := range OldKeywords {
			if kw == o {
				return true
			}
		}
	}
	return false
}

// Equal reports whether e and o are the same write: the same time stored
// and the same keywords, AUTH and LIMITS.
func (e *Entry) Equal(o *Entry) bool {
	return e.Stored.Equal(o.Stored) && slices.Equal(e.EHLO, o.EHLO) && slices.Equal(e.TLSEHLO, o.TLSEHLO) &&
		e.Auth == o.Auth && e.Limits == o.Limits
}

func (e *Entry) has(keyword string) bool {
	for _, k := range e.EHLO {
		kw, _, _ := strings.Cut(k, " ")
		if strings.EqualFold(kw, keyword) {
			return true
		}
	}
	return false
}

// Cache stores EHLO replies between sessions. Implementations must be
// safe for concurrent use.
type Cache interface {
	Get(k Key) (Entry, bool)
	Put(k Key, e Entry)
	// Delete removes the entry for k only if it is still old, the one
	// the caller read with Get ([Entry.Equal]): an entry stored since,
	// by a session that ran at the same time, is newer knowledge and
	// stays. A zero old (nothing was read) removes nothing.
	Delete(k Key, old Entry)
}

// MemoryCache is a Cache in memory whose entries expire after TTL. Its
// zero value is ready to use with DefaultTTL.
type MemoryCache struct {
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	m  map[Key]Entry
}

func (c *MemoryCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *MemoryCache) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTTL
}

// Get returns the entry for k unless it expired.
func (c *MemoryCache) Get(k Key) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok && c.now().Sub(e.Stored) > c.ttl() {
		delete(c.m, k)
		return Entry{}, false
	}
	return e, ok
}

// Put stores e for k; a zero Stored becomes now.
func (c *MemoryCache) Put(k Key, e Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Stored.IsZero() {
		e.Stored = c.now()
	}
	if c.m == nil {
		c.m = map[Key]Entry{}
	}
	c.m[k] = e
}

// Delete removes the entry for k if it is still old.
func (c *MemoryCache) Delete(k Key, old Entry) {
	c.remove(k, old)
}

// remove is Delete, reporting whether an entry went.
func (c *MemoryCache) remove(k Key, old Entry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !e.Equal(&old) {
		return false
	}
	delete(c.m, k)
	return true
}

func (c *MemoryCache) snapshot() map[string]Entry {
	out := map[string]Entry{}
	now := c.now()
	for k, e := range c.m {
		if now.Sub(e.Stored) <= c.ttl() {
			out[k.String()] = e
		}
	}
	return out
}

// FileCache is a MemoryCache kept in a JSON file, rewritten (atomically,
// by rename) at each change, so that the entries survive a restart.
type FileCache struct {
	MemoryCache
	path string
	// wmu orders the file writes.
	wmu sync.Mutex
}

// OpenFileCache reads the cache at path, if it exists, dropping expired
// entries. ttl zero means DefaultTTL.
func OpenFileCache(path string, ttl time.Duration) (*FileCache, error) {
	fc := &FileCache{path: path}
	fc.TTL = ttl
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fc, nil
	case err != nil:
		return nil, fmt.Errorf("pipeconnect: %w", err)
	}
	m, err := parseCacheFile(b)
	if err != nil {
		return nil, fmt.Errorf("pipeconnect: %s: %w", path, err)
	}
	for k, e := range m {
		fc.MemoryCache.Put(k, e)
	}
	return fc, nil
}

// parseCacheFile decodes a cache file: a JSON object of "addr helo" to
// Entry.
func parseCacheFile(b []byte) (map[Key]Entry, error) {
	if len(b) > MaxFileSize {
		return nil, errors.New("cache file too large")
	}
	var raw map[string]Entry
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(map[Key]Entry, len(raw))
	for s, e := range raw {
		addr, helo, ok := strings.Cut(s, " ")
		if !ok || addr == "" || helo == "" || e.Stored.IsZero() {
			continue
		}
		out[Key{Addr: addr, Helo: helo}] = e
	}
	return out, nil
}

// Put stores e and rewrites the file; a write error is dropped (the cache
// is an optimisation).
func (c *FileCache) Put(k Key, e Entry) {
	c.MemoryCache.Put(k, e)
	c.save()
}

// Delete removes the entry for k if it is still old, and then rewrites
// the file.
func (c *FileCache) Delete(k Key, old Entry) {
	if c.MemoryCache.remove(k, old) {
		c.save()
	}
}

func (c *FileCache) save() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	b, err := json.MarshalIndent(c.snapshot(), "", " ")
	c.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".pipeconnect-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

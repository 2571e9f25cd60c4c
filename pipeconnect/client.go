package pipeconnect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
)

// Client is the sending side of PIPECONNECT, a client.Extension: with a
// cached EHLO reply of the server that offered PIPECONNECT, the engine
// writes EHLO (and STARTTLS, when the cache says it is offered) before
// the banner arrives, and reads banner and replies together
// (draft-harris-early-pipe-01 section 3). After each opening it keeps the
// cache: the entry is written when the server offers PIPECONNECT and
// removed when it does not, or when the opening failed.
//
// It is also a client.EarlyEnveloper: with DialSend the first message's
// envelope goes with the EHLO, built for the cached capabilities.
//
// Use Dial and DialSend rather than client.Dial and client.DialSend: on a
// failure of an early opening or envelope they connect once more the
// classic way.
//
// Sessions to one server may open at the same time: a failed opening
// removes only the entry it read, never one that a concurrent session
// stored meanwhile. A Client must not be copied after first use.
type Client struct {
	// Cache holds the EHLO replies; nil means a process-wide MemoryCache.
	Cache  Cache
	Logger *slog.Logger

	// st is set per Dial.
	st *dialState
	// read holds, per connection from PipelineOpening to Opened, the
	// entry the opening found (*client.Conn to Entry).
	read sync.Map
}

// dialState is what one Dial learns, and whether it opens classically.
type dialState struct {
	early   bool // the opening was early
	key     Key
	read    Entry // the entry the opening found; zero for none
	classic bool  // no early pipelining
}

var (
	_            client.EarlyEnveloper = (*Client)(nil)
	defaultCache                       = &MemoryCache{}
)

// Name implements client.Extension.
func (p *Client) Name() string { return "pipeconnect" }

func (p *Client) cache() Cache {
	if p.Cache != nil {
		return p.Cache
	}
	return defaultCache
}

func (p *Client) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// KeyFor is the cache key of a connection: the server's address and the
// client's EHLO name.
func KeyFor(c *client.Conn) Key {
	return Key{Addr: c.RemoteAddr().String(), Helo: c.Hostname()}
}

// PipelineOpening says to write EHLO early when the cache holds an entry
// for this server that offers PIPECONNECT, and STARTTLS with it when the
// entry's cleartext reply offered STARTTLS.
func (p *Client) PipelineOpening(c *client.Conn) (ehlo, starttls bool) {
	if p.st != nil {
		p.st.key = KeyFor(c)
		if p.st.classic {
			return false, false
		}
	}
	e, ok := p.cache().Get(KeyFor(c))
	if ok {
		p.read.Store(c, e)
	}
	if !ok || !e.offers() {
		return false, false
	}
	return true, e.has("STARTTLS")
}

// CachedEHLO returns the cached keywords, cleartext or after TLS, of an
// entry that offers PIPECONNECT.
func (p *Client) CachedEHLO(c *client.Conn, afterTLS bool) ([]string, bool) {
	if p.st != nil && p.st.classic {
		return nil, false
	}
	e, ok := p.cache().Get(KeyFor(c))
	if !ok || !e.offers() {
		return nil, false
	}
	if afterTLS {
		return e.TLSEHLO, e.TLSEHLO != nil
	}
	return e.EHLO, true
}

// Opened updates the cache from what the server answered. What it
// removes is only the entry this opening found: one stored since by a
// concurrent session stays.
func (p *Client) Opened(c *client.Conn, o *client.Opening) {
	var read Entry
	if v, ok := p.read.LoadAndDelete(c); ok {
		read = v.(Entry)
	}
	if p.st != nil {
		p.st.early = o.Early
		p.st.read = read
	}
	k := KeyFor(c)
	if o.Err != nil || o.Banner == nil || o.Banner.Code != 220 || o.EHLO == nil || o.EHLO.Code != 250 {
		// A failed opening, a banner other than 220, a refused EHLO,
		// a failed AUTH: forget what this opening used.
		p.cache().Delete(k, read)
		if o.Early {
			p.log().Info("pipeconnect: early opening failed, cache entry dropped", "server", k.Addr, "err", o.Err)
		}
		return
	}
	e := Entry{EHLO: Keywords(o.EHLO)}
	if o.TLSEHLO != nil {
		e.TLSEHLO = Keywords(o.TLSEHLO)
	}
	last := e.EHLO
	if e.TLSEHLO != nil {
		last = e.TLSEHLO
	}
	for _, k := range last {
		kw, param, _ := strings.Cut(k, " ")
		switch strings.ToUpper(kw) {
		case "AUTH":
			e.Auth = param
		case "LIMITS":
			e.Limits = param
		}
	}
	if !e.offers() {
		p.cache().Delete(k, read)
		return
	}
	if old, ok := p.cache().Get(k); ok && slices.Equal(old.EHLO, e.EHLO) && slices.Equal(old.TLSEHLO, e.TLSEHLO) {
		return
	}
	p.cache().Put(k, e)
}

// Keywords returns the keyword lines of an EHLO reply (RFC 5321 section
// 4.1.1.1): every line after the first, trimmed, empty ones dropped.
func Keywords(ehlo *smtp.SMTPError) []string {
	lines := strings.Split(ehlo.Message, "\n")
	var out []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" && len(out) < 100 {
			out = append(out, l)
		}
	}
	return out
}

// Dial is client.Dial with PIPECONNECT: p is used in place of any
// *Client in opts.Extensions (it is added when missing). When an early
// opening fails, the cache entry is dropped and Dial connects once more
// without early pipelining, as Exim does.
func Dial(ctx context.Context, addr string, opts *client.Options, p *Client) (*client.Conn, error) {
	o, st := p.options(opts)
	c, err := client.Dial(ctx, addr, &o)
	if err == nil || !st.early || ctx.Err() != nil {
		return c, err
	}
	p.log().Info("pipeconnect: retrying without early pipelining", "server", addr, "err", err)
	st.classic = true
	c, err2 := client.Dial(ctx, addr, &o)
	if err2 != nil {
		return nil, fmt.Errorf("pipeconnect: early opening failed (%v), then: %w", err, err2)
	}
	return c, nil
}

// DialSend is client.DialSend with PIPECONNECT: with a cache entry that
// offers PIPECONNECT the first message's envelope goes with the EHLO
// (cleartext: EHLO, MAIL, RCPT..., DATA before the banner; with STARTTLS:
// EHLO and STARTTLS before the banner, the envelope with the EHLO after
// the handshake). When the early opening or envelope fails before any of
// the message was sent (a banner other than 220 such as 554 SMTP
// synchronization error, a refused EHLO, capabilities other than the
// cached ones, replies out of step: an error wrapping
// client.ErrEarlyFailed), the entry is dropped and the message is sent
// once more the classic way on a fresh connection; nothing was delivered
// by the first attempt. After the message was sent, errors are Send's and
// nothing is retried.
func DialSend(ctx context.Context, addr string, opts *client.Options, p *Client, env *client.Envelope, msg io.Reader) (*client.Conn, *client.Result, error) {
	o, st := p.options(opts)
	c, res, err := client.DialSend(ctx, addr, &o, env, msg)
	if c != nil || !st.early || ctx.Err() != nil {
		return c, res, err
	}
	// The session did not open, or the early envelope failed: either
	// way nothing of the message left and msg was not consumed.
	p.cache().Delete(st.key, st.read)
	p.log().Info("pipeconnect: retrying without early pipelining", "server", addr, "err", err)
	st.classic = true
	c, res2, err2 := client.DialSend(ctx, addr, &o, env, msg)
	if err2 != nil && c == nil {
		return nil, res2, fmt.Errorf("pipeconnect: early pipelining failed (%v), then: %w", err, err2)
	}
	return c, res2, err2
}

// options puts a Client like p, with its own state, first in the
// extensions.
func (p *Client) options(opts *client.Options) (client.Options, *dialState) {
	var o client.Options
	if opts != nil {
		o = *opts
	}
	st := &dialState{}
	mine := &Client{Cache: p.Cache, Logger: p.Logger, st: st}
	exts := []client.Extension{mine}
	for _, e := range o.Extensions {
		if _, ok := e.(*Client); !ok {
			exts = append(exts, e)
		}
	}
	o.Extensions = exts
	return o, st
}

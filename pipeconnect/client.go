package pipeconnect

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

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
// Use Dial rather than client.Dial: on a failure of an early opening it
// connects once more the classic way.
type Client struct {
	// Cache holds the EHLO replies; nil means a process-wide MemoryCache.
	Cache  Cache
	Logger *slog.Logger

	// early is set, per Dial, to whether the opening was early.
	early *bool
}

var (
	_            client.EarlyPipeliner = (*Client)(nil)
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
	e, ok := p.cache().Get(KeyFor(c))
	if !ok || !e.offers() {
		return false, false
	}
	return true, e.has("STARTTLS")
}

// Opened updates the cache from what the server answered.
func (p *Client) Opened(c *client.Conn, o *client.Opening) {
	if p.early != nil {
		*p.early = o.Early
	}
	k := KeyFor(c)
	if o.Err != nil || o.Banner == nil || o.Banner.Code != 220 || o.EHLO == nil || o.EHLO.Code != 250 {
		// A failed opening, a banner other than 220, a refused EHLO,
		// a failed AUTH: forget the server.
		p.cache().Delete(k)
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
		p.cache().Delete(k)
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
	var o client.Options
	if opts != nil {
		o = *opts
	}
	var early bool
	mine := *p
	mine.early = &early
	exts := []client.Extension{&mine}
	for _, e := range o.Extensions {
		if _, ok := e.(*Client); !ok {
			exts = append(exts, e)
		}
	}
	o.Extensions = exts
	c, err := client.Dial(ctx, addr, &o)
	if err == nil || !early || ctx.Err() != nil {
		return c, err
	}
	p.log().Info("pipeconnect: retrying without early pipelining", "server", addr, "err", err)
	c, err2 := client.Dial(ctx, addr, &o)
	if err2 != nil {
		return nil, fmt.Errorf("pipeconnect: early opening failed (%v), then: %w", err, err2)
	}
	return c, nil
}

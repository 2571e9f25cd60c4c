package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-sasl"
)

// Limits on what a server may send, and on what the engine buffers.
const (
	// MaxReplyLines bounds the lines of one reply. RFC 5321 sets no
	// limit; an EHLO reply has one line per extension, rarely over 30.
	MaxReplyLines = 100
	// MaxReplyLineLength bounds one reply line, without its CRLF: twice
	// the 512 octets of RFC 5321 section 4.5.3.1.5, rounded up as go-smtp
	// does, for servers that exceed it.
	MaxReplyLineLength = 2000
	// DefaultChunkSize is the largest BDAT chunk (RFC 3030 section 2): a
	// message up to this size goes in a single "BDAT n LAST".
	DefaultChunkSize = 1 << 20
	// PeekSize is how much of a message that is not an io.Seeker is read
	// ahead to tell 7-bit from 8-bit content (see [BodyAuto]).
	PeekSize = 64 << 10
)

// Dialer opens the TCP connection. It has the shape of
// golang.org/x/net/proxy.ContextDialer, so a *net.Dialer or a SOCKS5
// dialer fits.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// TLSPolicy says what Dial does about STARTTLS (RFC 3207).
type TLSPolicy int

const (
	// TLSOpportunistic, the zero value, starts TLS when the server
	// offers STARTTLS and goes on in plaintext otherwise (RFC 7435).
	// When the server refuses STARTTLS the session continues in
	// plaintext; when the handshake fails (including a VerifyConnection
	// error) Dial connects once more and stays in plaintext, as Exim does
	// with tls_tempfail_tryclear.
	TLSOpportunistic TLSPolicy = iota
	// TLSNone never sends STARTTLS.
	TLSNone
	// TLSRequired fails Dial when STARTTLS is not offered, is refused,
	// or the handshake fails; nothing of a message is sent in plaintext.
	TLSRequired
)

func (p TLSPolicy) String() string {
	switch p {
	case TLSOpportunistic:
		return "opportunistic"
	case TLSNone:
		return "none"
	case TLSRequired:
		return "required"
	}
	return "TLSPolicy(?)"
}

// Timeouts bound each step of a session. A zero field takes the default,
// which for the steps RFC 5321 section 4.5.3.2 names is the value it
// recommends. A context deadline shorter than a timeout wins.
type Timeouts struct {
	Connect   time.Duration // TCP connect: 5m
	Banner    time.Duration // the 220 greeting (4.5.3.2.1): 5m
	Command   time.Duration // EHLO, HELO, STARTTLS with its handshake, AUTH, RSET: 5m
	Mail      time.Duration // MAIL reply (4.5.3.2.2): 5m
	Rcpt      time.Duration // each RCPT reply (4.5.3.2.3): 5m
	DataInit  time.Duration // DATA reply (4.5.3.2.4): 2m
	DataBlock time.Duration // each write of message data, each non-final BDAT reply (4.5.3.2.5): 3m
	DataEnd   time.Duration // reply to the final dot or BDAT LAST (4.5.3.2.6): 10m
	Quit      time.Duration // QUIT reply, on Close: 10s
}

func (t Timeouts) withDefaults() Timeouts {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&t.Connect, 5*time.Minute)
	set(&t.Banner, 5*time.Minute)
	set(&t.Command, 5*time.Minute)
	set(&t.Mail, 5*time.Minute)
	set(&t.Rcpt, 5*time.Minute)
	set(&t.DataInit, 2*time.Minute)
	set(&t.DataBlock, 3*time.Minute)
	set(&t.DataEnd, 10*time.Minute)
	set(&t.Quit, 10*time.Second)
	return t
}

// Limits overrides the package constants; zero fields take them.
type Limits struct {
	ReplyLines      int // default MaxReplyLines
	ReplyLineLength int // default MaxReplyLineLength
	ChunkSize       int // default DefaultChunkSize
}

func (l Limits) withDefaults() Limits {
	if l.ReplyLines <= 0 {
		l.ReplyLines = MaxReplyLines
	}
	if l.ReplyLineLength <= 0 {
		l.ReplyLineLength = MaxReplyLineLength
	}
	if l.ChunkSize <= 0 {
		l.ChunkSize = DefaultChunkSize
	}
	return l
}

// Options configures Dial. A nil *Options means all defaults.
type Options struct {
	// Hostname is the name given in EHLO and HELO, before and after TLS
	// (RFC 5321 section 4.1.1.1); default "localhost".
	Hostname string
	// Dialer opens the connection; nil means a net.Dialer.
	Dialer Dialer
	// TLSConfig is used for STARTTLS. It is cloned, never modified; an
	// empty ServerName becomes the host part of the address. Its
	// VerifyConnection callback is where DANE and OCSP checks plug in.
	TLSConfig *tls.Config
	// TLSPolicy says when STARTTLS is used.
	TLSPolicy TLSPolicy
	// Auth, when set, authenticates after STARTTLS (RFC 4954) with a
	// go-sasl client such as sasl.NewPlainClient. Dial fails when the
	// server does not offer the mechanism or refuses the credentials.
	Auth sasl.Client
	// Timeouts bound each step; zero fields take RFC 5321 defaults.
	Timeouts Timeouts
	// Limits bounds replies and BDAT chunks.
	Limits Limits
	// IgnoreKeywords lists EHLO keywords to act as if the server had not
	// advertised them, for peers that advertise what they do badly
	// (Postfix's smtp_discard_ehlo_keywords): "PIPELINING", "CHUNKING",
	// "8BITMIME"... Case does not matter.
	IgnoreKeywords []string
	// Extensions are feature packages plugged into the engine; see
	// [Extension] for the hooks they may implement.
	Extensions []Extension
	// Logger receives a debug line per command and reply (never AUTH
	// data) and an info line when opportunistic TLS falls back to
	// plaintext; nil discards.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.Dialer == nil {
		c.Dialer = &net.Dialer{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Timeouts = c.Timeouts.withDefaults()
	c.Limits = c.Limits.withDefaults()
	return c
}

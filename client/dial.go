package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
)

// tlsError marks a failed handshake, after which TLSOpportunistic connects
// again in plaintext.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "client: TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// Dial connects to addr ("host:port"), reads the banner, says EHLO (HELO
// when EHLO is refused with 5xx, RFC 5321 section 3.2), starts TLS as the
// policy says (RFC 3207) and says EHLO again, then authenticates when
// Options.Auth is set (RFC 4954).
//
// A banner other than 220 (RFC 5321 section 3.1: 554 means no service), an
// EHLO refused with 4xx, a HELO refused, a refused STARTTLS under
// TLSRequired, and a refused AUTH give an error wrapping the server's
// *smtp.SMTPError; STARTTLS missing under TLSRequired gives one wrapping
// ErrTLSRequired. The connection is closed on error (with QUIT when the
// session is still in step).
func Dial(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	return dialFallback(ctx, addr, opts.withDefaults(), nil)
}

// dialFallback is Dial, with DialSend's first message when em is set.
func dialFallback(ctx context.Context, addr string, o Options, em *earlyMail) (*Conn, error) {
	if strings.ContainsAny(o.Hostname, " \t\r\n") {
		return nil, fmt.Errorf("client: bad EHLO name %q", o.Hostname)
	}
	c, err := dial(ctx, addr, o, em)
	var te *tlsError
	if err != nil && o.TLSPolicy == TLSOpportunistic && errors.As(err, &te) && ctx.Err() == nil {
		// The handshake comes before any envelope after TLS.
		o.Logger.Info("TLS failed, connecting again in plaintext", "remote", addr, "err", err)
		o.TLSPolicy = TLSNone
		return dial(ctx, addr, o, em)
	}
	return c, err
}

func dial(ctx context.Context, addr string, o Options, em *earlyMail) (*Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeouts.Connect)
	nc, err := o.Dialer.DialContext(cctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("client: connect %s: %w", addr, err)
	}
	c := newConn(nc, addr, host, o)
	stop := c.watch(ctx)
	defer stop()

	var op Opening
	err = c.open(ctx, &op, em)
	if err != nil && em.sent() {
		// The replies to the envelope are pending: no QUIT.
		err = fmt.Errorf("%w: %w", ErrEarlyFailed, err)
		c.fail(err)
	}
	op.Err = err
	for _, ext := range o.Extensions {
		if ep, ok := ext.(EarlyPipeliner); ok {
			ep.Opened(c, &op)
		}
	}
	if err != nil {
		if c.err == nil {
			c.quit()
		}
		c.fail(err)
		return nil, err
	}
	return c, nil
}

// open runs the session's opening on a fresh connection. With em, the
// first message's envelope may go with the EHLO (see DialSend).
func (c *Conn) open(ctx context.Context, op *Opening, em *earlyMail) error {
	t := c.opts.Timeouts
	var (
		earlyTLS bool
		pl       EarlyPipeliner
	)
	for _, ext := range c.opts.Extensions {
		if ep, ok := ext.(EarlyPipeliner); ok {
			if ehlo, starttls := ep.PipelineOpening(c); ehlo {
				op.Early, pl = true, ep
				earlyTLS = starttls && c.opts.TLSPolicy != TLSNone
				break
			}
		}
	}
	if op.Early {
		// draft-harris-early-pipe section 3: the opening commands go
		// before the banner, in one packet.
		c.writeLine("EHLO " + c.opts.Hostname)
		if earlyTLS {
			c.writeLine("STARTTLS")
		} else if c.opts.TLSPolicy != TLSRequired {
			c.earlyEnvelope(em, pl, false)
		}
		if err := c.flush(t.Banner); err != nil {
			return err
		}
	}

	banner, err := c.readReply(t.Banner)
	if err != nil {
		return fmt.Errorf("client: banner from %s: %w", c.addr, err)
	}
	c.banner = banner
	op.Banner = banner.smtpError(false)
	if banner.code != 220 {
		// RFC 5321 section 3.1: 554 instead of 220 means no service; the
		// client should send QUIT.
		return fmt.Errorf("client: banner from %s: %w", c.addr, op.Banner)
	}

	ehlo, tlsAnswered, err := c.greet(!op.Early, earlyTLS, em.sent())
	if ehlo.code != 0 {
		op.EHLO = ehlo.smtpError(false)
	}
	if err != nil {
		return err
	}
	if err := c.checkEarly(em); err != nil {
		return err
	}

	if c.opts.TLSPolicy != TLSNone {
		_, offered := c.ext["STARTTLS"]
		switch {
		case tlsAnswered:
			// EHLO was refused; the early STARTTLS too.
			if c.opts.TLSPolicy == TLSRequired {
				return fmt.Errorf("%w by %s (EHLO refused)", ErrTLSRequired, c.addr)
			}
			offered, earlyTLS = false, false
		case earlyTLS:
			// The STARTTLS written early is answered whether offered
			// or not.
		case offered:
			c.writeLine("STARTTLS")
			if err := c.flush(t.Command); err != nil {
				return err
			}
		case c.opts.TLSPolicy == TLSRequired:
			return fmt.Errorf("%w by %s", ErrTLSRequired, c.addr)
		}
		if offered || earlyTLS {
			started, err := c.startTLS(ctx)
			if err != nil {
				return err
			}
			if started {
				// With a cached reply after TLS, the envelope
				// goes with this EHLO.
				c.writeLine("EHLO " + c.opts.Hostname)
				c.earlyEnvelope(em, pl, true)
				if err := c.flush(t.Command); err != nil {
					return err
				}
				ehlo, _, err := c.greet(false, false, em.sent())
				if ehlo.code != 0 {
					op.TLSEHLO = ehlo.smtpError(false)
				}
				if err != nil {
					return err
				}
				if err := c.checkEarly(em); err != nil {
					return err
				}
			}
		}
	}

	if c.opts.Auth != nil {
		if err := c.authenticate(); err != nil {
			return err
		}
	}
	return nil
}

// greet says EHLO, or only reads its reply when it was written early, and
// falls back to HELO when EHLO is refused with 5xx (RFC 5321 section 3.2).
// It returns the EHLO reply. With earlyTLS, a STARTTLS was written after
// the EHLO: when EHLO is refused its reply is read (and must be a refusal)
// before HELO, and tlsAnswered is true. With strict (an envelope follows
// the EHLO) a refused EHLO is an error: there is no HELO.
func (c *Conn) greet(send, earlyTLS, strict bool) (ehlo reply, tlsAnswered bool, err error) {
	t := c.opts.Timeouts
	if send {
		c.writeLine("EHLO " + c.opts.Hostname)
		if err := c.flush(t.Command); err != nil {
			return reply{}, false, err
		}
	}
	ehlo, err = c.readReply(t.Command)
	if err != nil {
		return ehlo, false, fmt.Errorf("client: EHLO: %w", err)
	}
	c.ext = map[string]string{}
	if ehlo.class() == 2 {
		c.hello = ehlo
		c.parseEHLO(ehlo)
		return ehlo, false, nil
	}
	if ehlo.class() != 5 || strict {
		return ehlo, false, fmt.Errorf("client: EHLO: %w", ehlo.smtpError(true))
	}
	if earlyTLS {
		rep, err := c.readReply(t.Command)
		if err != nil {
			return ehlo, true, fmt.Errorf("client: STARTTLS: %w", err)
		}
		if rep.class() == 2 {
			return ehlo, true, c.fail(fmt.Errorf("%w: STARTTLS accepted after EHLO was refused", errProtocol))
		}
		tlsAnswered = true
	}
	c.writeLine("HELO " + c.opts.Hostname)
	if err := c.flush(t.Command); err != nil {
		return ehlo, tlsAnswered, err
	}
	helo, err := c.readReply(t.Command)
	if err != nil {
		return ehlo, tlsAnswered, fmt.Errorf("client: HELO: %w", err)
	}
	if helo.class() != 2 {
		return ehlo, tlsAnswered, fmt.Errorf("client: EHLO and HELO refused: %w", helo.smtpError(true))
	}
	c.hello = helo
	return ehlo, tlsAnswered, nil
}

// parseEHLO records the keywords of an EHLO reply (RFC 5321 section
// 4.1.1.1: the lines after the first are "keyword [params]").
func (c *Conn) parseEHLO(r reply) {
	c.addKeywords(c.ext, r.lines[1:])
}

// addKeywords records keyword lines ("SIZE 1000") in m, upper-cased, those
// of Options.IgnoreKeywords left out.
func (c *Conn) addKeywords(m map[string]string, lines []string) {
	ignored := func(k string) bool {
		for _, i := range c.opts.IgnoreKeywords {
			if strings.EqualFold(i, k) {
				return true
			}
		}
		return false
	}
	for _, line := range lines {
		kw, param, _ := strings.Cut(strings.TrimSpace(line), " ")
		kw = strings.ToUpper(kw)
		if kw == "" || ignored(kw) {
			continue
		}
		m[kw] = strings.TrimSpace(param)
	}
}

// startTLS reads the reply to STARTTLS and, on 220, runs the handshake. It
// returns false when the server refused STARTTLS and the policy lets the
// session go on in plaintext.
func (c *Conn) startTLS(ctx context.Context) (bool, error) {
	t := c.opts.Timeouts
	rep, err := c.readReply(t.Command)
	if err != nil {
		return false, fmt.Errorf("client: STARTTLS: %w", err)
	}
	if rep.code != 220 {
		if c.opts.TLSPolicy == TLSRequired {
			return false, fmt.Errorf("client: STARTTLS refused: %w", rep.smtpError(true))
		}
		c.log.Info("STARTTLS refused, going on in plaintext", "reply", rep.code)
		return false, nil
	}
	// RFC 3207 section 6 and CVE-2011-0411: anything the server sent
	// after its 220 and before the handshake would be taken as protected
	// later. Refuse it.
	if c.br.Buffered() > 0 {
		return false, c.fail(fmt.Errorf("%w: data after the STARTTLS reply, before the TLS handshake", errProtocol))
	}
	cfg := c.opts.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = c.host
	}
	tc := tls.Client(c.netConn, cfg)
	if err := c.deadline(false, t.Command); err != nil {
		return false, c.fail(err)
	}
	if err := c.deadline(true, t.Command); err != nil {
		return false, c.fail(err)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return false, c.fail(&tlsError{c.ioError(err)})
	}
	c.conn, c.tlsConn = tc, tc
	// RFC 3207 section 4.2: forget what was learnt before TLS.
	c.ext = nil
	return true, nil
}

// hasExt is Extension without the case folding, for upper-case keywords.
func (c *Conn) hasExt(kw string) bool {
	_, ok := c.ext[kw]
	return ok
}

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
)

// ErrEarlyFailed is wrapped by DialSend's error when the first message's
// envelope went out with the opening (see [EarlyEnveloper]) and the
// session failed before any of the message did: the server's banner or
// EHLO reply refused the session, its capabilities were not the cached
// ones, or its replies were out of step. The connection is closed, nothing
// was delivered, and the message can be sent again on a fresh connection
// without early pipelining.
var ErrEarlyFailed = errors.New("client: early pipelining failed before the message was sent")

// DialSend is Dial followed by Send of a first message, with the same
// results and errors, except that it can save round trips: when an
// [EarlyEnveloper] knows the server's capabilities from a cache, the
// envelope (MAIL, each RCPT, and DATA without CHUNKING) is written before
// the EHLO reply arrives, together with the early EHLO in plaintext or
// with the EHLO after the TLS handshake (draft-harris-early-pipe section
// 3), and the replies are read in order. The message itself is sent only
// once the EHLO reply has shown the cached capabilities to be the
// server's: BDAT chunks wait for the envelope's replies, the DATA text for
// the 354. Without Options.Auth only: AUTH must precede MAIL.
//
// For the early envelope a message that is not an io.ReadSeeker is not
// read ahead: BodyAuto declares BODY=8BITMIME where the server offers it
// and SIZE is sent only with Envelope.Size. Nothing of msg is consumed
// before the message is sent, so after an error wrapping ErrEarlyFailed it
// can be passed again as it is (a seeker is rewound).
//
// The Result is never nil. When the session could not be opened, or the
// error wraps ErrEarlyFailed, the Conn is nil, nothing of the message was
// sent and every recipient is TempFailed with a 451 that tells the error.
// Otherwise the Conn is open (or broken, as after Send) and carries more
// messages with Send.
func DialSend(ctx context.Context, addr string, opts *Options, env *Envelope, msg io.Reader) (*Conn, *Result, error) {
	if env == nil {
		return nil, &Result{}, errors.New("client: nil Envelope")
	}
	o := opts.withDefaults()
	em := &earlyMail{env: env, msg: msg}
	c, err := dialFallback(ctx, addr, o, em)
	if err != nil {
		return nil, failed(env, err), err
	}
	if em.tx == nil {
		res, err := c.Send(ctx, env, msg)
		return c, res, err
	}
	tx := em.tx
	stop := c.watch(ctx)
	err = tx.early(em)
	stop()
	if err != nil && !tx.dataSent {
		err = fmt.Errorf("%w: %w", ErrEarlyFailed, err)
		c.fail(err)
		return nil, failed(env, err), err
	}
	tx.settle(err)
	return c, tx.res, err
}

// failed is the Result of a message that was not sent.
func failed(env *Envelope, err error) *Result {
	tx := &txn{env: env, res: newResult(env)}
	tx.settle(err)
	return tx.res
}

// earlyMail is DialSend's first message.
type earlyMail struct {
	env *Envelope
	msg io.Reader

	// Set when the envelope was written with the opening.
	tx      *txn
	r       io.Reader
	bdat    bool
	binary  bool
	want    map[string]string // the capabilities it was built for
	checked bool
}

func (em *earlyMail) sent() bool { return em != nil && em.tx != nil }

// earlyEnvelope buffers the envelope of DialSend's first message after
// the EHLO when pl knows the capabilities the EHLO reply will bring
// (after TLS or not) and they allow it: PIPELINING, and in plaintext no
// STARTTLS that the policy would take.
func (c *Conn) earlyEnvelope(em *earlyMail, pl EarlyPipeliner, afterTLS bool) {
	if em == nil || em.tx != nil || pl == nil || c.opts.Auth != nil {
		return
	}
	ee, ok := pl.(EarlyEnveloper)
	if !ok {
		return
	}
	kws, ok := ee.CachedEHLO(c, afterTLS)
	if !ok {
		return
	}
	want := c.keywords(kws)
	if _, ok := want["PIPELINING"]; !ok {
		return
	}
	if _, ok := want["STARTTLS"]; ok && !afterTLS && c.opts.TLSPolicy != TLSNone {
		return
	}
	// The hooks (MailChecker, MailParamer) see the cached capabilities.
	saved := c.ext
	c.ext = want
	defer func() { c.ext = saved }()

	seeker, _ := em.msg.(io.Seeker)
	var start int64 = -1
	if seeker != nil {
		if pos, err := seeker.Seek(0, io.SeekCurrent); err == nil {
			start = pos
		}
	}
	tx := &txn{c: c, env: em.env, res: newResult(em.env)}
	mail, r, binary, err := tx.prepare(em.msg, true)
	if err != nil || mail == "" {
		// Send will say why, with the server's capabilities.
		if start >= 0 {
			seeker.Seek(start, io.SeekStart)
		}
		return
	}
	// A group small enough to be written before the replies are read
	// (see asyncWriteMin).
	n := len(mail) + 8
	for _, i := range tx.sent {
		n += len(em.env.To[i]) + 12
	}
	if n > asyncWriteMin/2 {
		return
	}
	_, bdat := want["CHUNKING"]
	c.writeLine(mail)
	for _, i := range tx.sent {
		c.writeRcpt(em.env.To[i])
	}
	if !bdat {
		// BDAT would carry message data: it waits for the replies.
		c.writeLine("DATA")
	}
	c.messages++
	c.dirty = true
	em.tx, em.r, em.bdat, em.binary, em.want = tx, r, bdat, binary, want
}

// checkEarly compares the capabilities of the EHLO reply just read with
// those the early envelope was built for.
func (c *Conn) checkEarly(em *earlyMail) error {
	if !em.sent() || em.checked {
		return nil
	}
	em.checked = true
	if !maps.Equal(em.want, c.ext) {
		return fmt.Errorf("client: EHLO reply of %s differs from the cached one (%s)", c.addr, diffKeywords(em.want, c.ext))
	}
	return nil
}

// diffKeywords describes how got differs from want, for errors and logs.
func diffKeywords(want, got map[string]string) string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, "-"+k)
		} else if g != v {
			d = append(d, k+" "+v+" -> "+g)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "+"+k)
		}
	}
	return strings.Join(d, ", ")
}

// keywords is the capability map of the keyword lines of an EHLO reply,
// as parseEHLO records them.
func (c *Conn) keywords(lines []string) map[string]string {
	m := map[string]string{}
	c.addKeywords(m, lines)
	return m
}

// early reads the replies to an envelope written with the opening and
// goes on with the message as a pipelined Send does.
func (tx *txn) early(em *earlyMail) error {
	c, t := tx.c, tx.c.opts.Timeouts
	if err := tx.envelopeReplies(false); err != nil {
		return err
	}
	if em.bdat {
		if tx.mailErr != nil || len(tx.accepted) == 0 {
			return nil // RSET comes with the next MAIL
		}
		return tx.chunks(c.newChunker(em.r, em.binary), true)
	}
	rep, err := tx.read(t.DataInit)
	if err != nil {
		return err
	}
	return tx.dataReply(rep, em.r)
}

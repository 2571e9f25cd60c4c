package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Envelope is what Send needs besides the message.
type Envelope struct {
	// From is the reverse path, without angle brackets; "" is the null
	// sender of bounces.
	From string
	// To are the forward paths, one RCPT each, without angle brackets.
	To []string
	// Size, when positive, is sent as SIZE= where advertised (RFC 1870).
	// When zero, Send estimates it if it can do so without buffering
	// the message (see BodyAuto).
	Size int64
	// Body says whether the message is 7-bit, 8-bit or binary.
	Body BodyType
	// UTF8 asks for SMTPUTF8 (RFC 6531 section 3.4); a non-ASCII
	// address implies it. A server without SMTPUTF8 makes Send refuse
	// the message (ErrRefused, 553 5.6.7): converting it is the smtputf8
	// package's business.
	UTF8 bool
	// MailParams are extra MAIL parameters ("RET=HDRS", "ENVID=..."),
	// sent as given, after those of the engine and before those of the
	// extensions.
	MailParams []string
}

// Status is a recipient's outcome.
type Status int

const (
	// Accepted: the server took responsibility for the message (RFC 5321
	// section 6.1) for this recipient.
	Accepted Status = iota + 1
	// TempFailed: a 4xx reply, or no definite reply; try again later.
	TempFailed
	// PermFailed: a 5xx reply; do not try again.
	PermFailed
)

func (s Status) String() string {
	switch s {
	case Accepted:
		return "accepted"
	case TempFailed:
		return "tempfailed"
	case PermFailed:
		return "permfailed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// RecipientResult is the outcome for one recipient.
type RecipientResult struct {
	Address string
	Status  Status
	// Reply is the server's reply that decided Status: the RCPT reply
	// when that refused the recipient, otherwise the MAIL, DATA or
	// end-of-data reply (or the per-recipient one of a DataReplyReader).
	// Without a reply (connection lost, timeout) it is a synthesized 451
	// 4.4.2 that tells what happened.
	Reply *smtp.SMTPError
}

// Result is the outcome of Send. Send never returns a nil Result.
type Result struct {
	// Recipients has one entry per Envelope.To, in the same order.
	Recipients []RecipientResult
	// Data is the reply that ended the data phase (the final reply for a
	// DataReplyReader); nil if the data phase was not reached.
	Data *smtp.SMTPError
}

// asyncWriteMin is the size of a pipelined group above which it is
// written by another goroutine while the replies are read: RFC 2920
// section 3.1 warns that a client that writes a large group before
// reading can deadlock with a server whose replies fill the window.
const asyncWriteMin = 64 << 10

// bdatWindow is how many BDAT chunks may wait for their reply, with
// PIPELINING (RFC 3030 section 4.2).
const bdatWindow = 8

// Send sends one message over the connection: MAIL, RCPT for each
// recipient, then DATA, or BDAT where CHUNKING is advertised (RFC 3030).
// With PIPELINING (RFC 2920) the envelope and DATA (or the first BDAT
// chunk) go in one write, so the envelope costs one round trip whatever the
// number of recipients. The message is read once; line ends are converted
// to CRLF and, for DATA, lines are dot-stuffed.
//
// Replies are results, not errors: a refused MAIL gives every recipient
// that reply's status; a refused RCPT that recipient's; a refused DATA or
// end of data every recipient accepted at RCPT; a 2xx end of data makes
// them Accepted.
//
// An error is returned when the connection failed (I/O error, timeout, the
// context ended, a 421 reply, a protocol error): the connection is then
// unusable, and every recipient without a definite reply is TempFailed.
// An error wrapping ErrRefused means nothing was sent and the connection
// can carry another message. A failure to read msg before anything was
// sent leaves the connection usable too; during DATA it breaks it, since
// only closing the connection can abort DATA (RFC 5321 section 4.1.1.4).
//
// A previous transaction left unfinished is reset with RSET first.
func (c *Conn) Send(ctx context.Context, env *Envelope, msg io.Reader) (*Result, error) {
	if env == nil {
		return &Result{}, errors.New("client: nil Envelope")
	}
	tx := &txn{c: c, env: env, res: newResult(env)}
	err := tx.run(ctx, msg)
	tx.settle(err)
	return tx.res, err
}

func newResult(env *Envelope) *Result {
	res := &Result{Recipients: make([]RecipientResult, len(env.To))}
	for i, a := range env.To {
		res.Recipients[i].Address = a
	}
	return res
}

// txn is the state of one Send.
type txn struct {
	c        *Conn
	env      *Envelope
	res      *Result
	sent     []int // indexes of env.To sent as RCPT, in order
	accepted []int // indexes accepted at RCPT, in order
	mailErr  *smtp.SMTPError
	closing  *smtp.SMTPError // a 421 reply
	dataSent bool            // some of the message may have been sent
	first    *firstChunk     // the first BDAT chunk, already read (SendBatch)
}

func (tx *txn) run(ctx context.Context, msg io.Reader) error {
	c := tx.c
	if err := c.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()

	mail, r, binary, err := tx.prepare(msg, false)
	if err != nil || mail == "" {
		return err
	}
	bdat := c.hasExt("CHUNKING")
	if c.hasExt("PIPELINING") {
		return tx.pipelined(mail, r, bdat, binary)
	}
	return tx.lockstep(mail, r, bdat, binary)
}

// prepare checks the addresses (a bad recipient is decided at once) and
// builds the MAIL command from the server's capabilities and the
// extensions. It returns mail "" and no error when no recipient is left,
// and the reader to send the message from. With noPeek a message that is
// not an io.ReadSeeker is not read (see prepareBody).
func (tx *txn) prepare(msg io.Reader, noPeek bool) (mail string, r io.Reader, binary bool, err error) {
	c, env := tx.c, tx.env
	utf8 := env.UTF8 || !isASCII(env.From)
	if !validAddress(env.From) {
		return "", nil, false, tx.refuse(&smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "bad sender address syntax"})
	}
	for i, a := range env.To {
		if !validAddress(a) || a == "" {
			tx.set(i, &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad recipient address syntax"})
			continue
		}
		utf8 = utf8 || !isASCII(a)
		tx.sent = append(tx.sent, i)
	}
	if len(tx.sent) == 0 {
		return "", nil, false, nil
	}
	body, size, r, err := c.prepareBody(env, msg, noPeek)
	if err != nil {
		return "", nil, false, err
	}
	params, err := tx.mailParams(body, size, utf8)
	if err != nil {
		return "", nil, false, err
	}
	mail = "MAIL FROM:<" + env.From + ">"
	if len(params) > 0 {
		mail += " " + strings.Join(params, " ")
	}
	return mail, r, body == BodyBinary, nil
}

// mailParams collects the MAIL parameters, or refuses the message.
func (tx *txn) mailParams(body BodyType, size int64, utf8 bool) ([]string, error) {
	c, env := tx.c, tx.env
	for _, ext := range c.opts.Extensions {
		if mc, ok := ext.(MailChecker); ok {
			if err := mc.CheckMail(c, env); err != nil {
				return nil, tx.refuse(refusal(err), fmt.Errorf("%s: %w", ext.Name(), err))
			}
		}
	}
	var params []string
	if size > 0 && c.hasExt("SIZE") {
		params = append(params, "SIZE="+strconv.FormatInt(size, 10))
	}
	switch body {
	case Body8Bit:
		if c.hasExt("8BITMIME") {
			params = append(params, "BODY=8BITMIME")
		}
	case BodyBinary:
		if !c.hasExt("BINARYMIME") || !c.hasExt("CHUNKING") {
			return nil, tx.refuse(&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 3}, Message: "binary message and no BINARYMIME with CHUNKING"})
		}
		params = append(params, "BODY=BINARYMIME")
	}
	if utf8 {
		if !c.hasExt("SMTPUTF8") {
			return nil, tx.refuse(&smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "internationalised message and no SMTPUTF8"})
		}
		params = append(params, "SMTPUTF8")
	}
	params = append(params, env.MailParams...)
	for _, ext := range c.opts.Extensions {
		if mp, ok := ext.(MailParamer); ok {
			params = append(params, mp.MailParams(c, env)...)
		}
	}
	for _, p := range params {
		if err := checkParam(p); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	return params, nil
}

// refuse ends a message before MAIL: every recipient not yet decided gets
// rep, and the error wraps ErrRefused and the cause (rep itself when no
// other is given).
func (tx *txn) refuse(rep *smtp.SMTPError, cause ...error) error {
	for i := range tx.res.Recipients {
		tx.set(i, rep)
	}
	var why error = rep
	if len(cause) > 0 {
		why = cause[0]
	}
	return fmt.Errorf("%w: %w", ErrRefused, why)
}

// set decides recipient i with rep, unless it is already decided.
func (tx *txn) set(i int, rep *smtp.SMTPError) {
	r := &tx.res.Recipients[i]
	if r.Status != 0 {
		return
	}
	r.Status, r.Reply = statusOf(rep.Code), rep
}

// statusOf maps a reply code to a status; anything but 2xx and 5xx counts
// as temporary.
func statusOf(code int) Status {
	switch code / 100 {
	case 2:
		return Accepted
	case 5:
		return PermFailed
	}
	return TempFailed
}

// settle decides every recipient left: with the 421 reply or a synthesized
// 451 4.4.2 that tells err (RFC 3463: bad connection).
func (tx *txn) settle(err error) {
	rep := tx.closing
	if rep == nil {
		msg := "no reply"
		if err != nil {
			msg = err.Error()
		}
		var le *localError
		code := smtp.EnhancedCode{4, 4, 2}
		if errors.As(err, &le) {
			code = smtp.EnhancedCode{4, 3, 0}
		}
		rep = &smtp.SMTPError{Code: 451, EnhancedCode: code, Message: msg}
	}
	for i, r := range tx.res.Recipients {
		if r.Status == 0 {
			tx.res.Recipients[i].Status, tx.res.Recipients[i].Reply = TempFailed, rep
		}
	}
}

// read reads a reply; a 421 is kept for settle.
func (tx *txn) read(timeout time.Duration) (reply, error) {
	rep, err := tx.c.readReply(timeout)
	if rep.code == 421 {
		tx.closing = rep.smtpError(true)
	}
	return rep, err
}

// unexpected is the error for a reply that RFC 5321 does not allow there.
func (tx *txn) unexpected(cmd string, rep reply) error {
	return tx.c.fail(fmt.Errorf("%w: %s reply %d %q", errProtocol, cmd, rep.code, rep.text()))
}

// mailReply handles the reply to MAIL.
func (tx *txn) mailReply(rep reply) error {
	switch rep.class() {
	case 2:
		return nil
	case 4, 5:
		// Every recipient gets the refusal, whatever the RCPT replies
		// (503 "need MAIL" when pipelined) say.
		tx.mailErr = rep.smtpError(true)
		for _, i := range tx.sent {
			tx.set(i, tx.mailErr)
		}
		return nil
	}
	return tx.unexpected("MAIL", rep)
}

// rcptReply handles the reply to the RCPT of recipient i.
func (tx *txn) rcptReply(i int, rep reply) error {
	if tx.mailErr != nil {
		return nil
	}
	switch rep.class() {
	case 2:
		tx.accepted = append(tx.accepted, i)
		return nil
	case 4, 5:
		tx.set(i, rep.smtpError(true))
		return nil
	}
	return tx.unexpected("RCPT", rep)
}

// refuseAccepted gives a refusal of DATA or of a chunk to every recipient
// accepted at RCPT.
func (tx *txn) refuseAccepted(cmd string, rep reply) error {
	if rep.class() != 4 && rep.class() != 5 {
		return tx.unexpected(cmd, rep)
	}
	for _, i := range tx.accepted {
		tx.set(i, rep.smtpError(true))
	}
	return nil
}

// pipelined runs the transaction with RFC 2920 PIPELINING: [RSET,] MAIL,
// every RCPT and DATA (or the first BDAT chunk) in one write, then the
// replies in order (section 3.1: the client checks every one of them).
func (tx *txn) pipelined(mail string, r io.Reader, bdat, binary bool) error {
	c, t := tx.c, tx.c.opts.Timeouts
	var (
		k     *chunker
		chunk []byte
		last  bool
	)
	c.wTimeout = t.Mail // should the commands fill the buffer
	if f := tx.first; f != nil {
		k, chunk = f.k, f.chunk // not the last: SendBatch sends those itself
	} else if bdat {
		// Read the first chunk before anything is sent: a local read
		// error leaves the connection usable.
		k = c.newChunker(r, binary)
		var err error
		if chunk, last, err = k.next(); err != nil {
			return err
		}
	}

	rset := c.dirty
	tx.writeEnvelope(rset, mail)
	timeout := t.Mail
	if bdat {
		c.writeLine(bdatCommand(len(chunk), last))
		timeout = t.DataBlock
	} else {
		c.writeLine("DATA")
	}
	c.messages++
	c.dirty = true
	wait, err := c.writeGroup(timeout, chunk)
	if err != nil {
		return err
	}
	err = tx.envelopeReplies(rset)
	if werr := wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}

	if bdat {
		return tx.firstChunkReply(k, last)
	}

	rep, err := tx.read(t.DataInit)
	if err != nil {
		return err
	}
	return tx.dataReply(rep, r)
}

// writeEnvelope buffers [RSET,] MAIL and the RCPT of each recipient sent.
func (tx *txn) writeEnvelope(rset bool, mail string) {
	c := tx.c
	if rset {
		c.writeLine("RSET")
	}
	c.writeLine(mail)
	for _, i := range tx.sent {
		c.writeRcpt(tx.env.To[i])
	}
}

// firstChunkReply handles the reply to the BDAT chunk that went with the
// envelope and, when the message goes on, sends the rest.
func (tx *txn) firstChunkReply(k *chunker, last bool) error {
	var (
		rep reply
		err error
	)
	if last {
		rep, err = tx.readEnd()
	} else {
		rep, err = tx.read(tx.c.opts.Timeouts.DataBlock)
	}
	if err != nil {
		return err
	}
	switch {
	case tx.mailErr != nil || len(tx.accepted) == 0:
		// Nothing to deliver: the server refused the chunk, or a broken
		// one took it. RSET comes with the next MAIL.
		return nil
	case last:
		return tx.endOfData(rep)
	case rep.class() != 2:
		return tx.refuseAccepted("BDAT", rep)
	}
	return tx.chunks(k, true)
}

// dataReply handles the reply to a pipelined DATA and, after a 354,
// sends the message.
func (tx *txn) dataReply(rep reply, r io.Reader) error {
	c, t := tx.c, tx.c.opts.Timeouts
	if rep.code != 354 {
		if tx.mailErr != nil || len(tx.accepted) == 0 {
			c.dirty = tx.mailErr == nil
			return nil // the expected 503/554: nothing to send
		}
		return tx.refuseAccepted("DATA", rep)
	}
	if tx.mailErr != nil || len(tx.accepted) == 0 {
		// RFC 2920 section 3.1: DATA accepted although no recipient
		// was: send a lone dot.
		c.writeLine(".")
		if err := c.flush(t.DataBlock); err != nil {
			return err
		}
		if _, err := tx.read(t.DataEnd); err != nil {
			return err
		}
		c.dirty = false
		return nil
	}
	return tx.data(r)
}

// envelopeReplies reads the replies to [RSET,] MAIL and each RCPT.
func (tx *txn) envelopeReplies(rset bool) error {
	c, t := tx.c, tx.c.opts.Timeouts
	if rset {
		rep, err := tx.read(t.Command)
		if err != nil {
			return err
		}
		if err := c.rsetReply(rep); err != nil {
			return err
		}
		c.dirty = true
	}
	rep, err := tx.read(t.Mail)
	if err != nil {
		return err
	}
	if err := tx.mailReply(rep); err != nil {
		return err
	}
	for _, i := range tx.sent {
		rep, err := tx.read(t.Rcpt)
		if err != nil {
			return err
		}
		if err := tx.rcptReply(i, rep); err != nil {
			return err
		}
	}
	return nil
}

// writeGroup writes the buffered commands followed by extra. A small group
// is written at once; a large one by another goroutine while the caller
// reads the replies, and wait returns its error.
func (c *Conn) writeGroup(timeout time.Duration, extra []byte) (wait func() error, err error) {
	if c.bw.Buffered()+len(extra) <= asyncWriteMin {
		c.bw.Write(extra)
		if err := c.flush(timeout); err != nil {
			return nil, err
		}
		return func() error { return nil }, nil
	}
	c.wTimeout = timeout
	done := make(chan error, 1)
	go func() {
		_, err := c.bw.Write(extra)
		if err == nil {
			err = c.bw.Flush()
		}
		done <- err
	}()
	return func() error {
		if err := <-done; err != nil {
			return c.fail(fmt.Errorf("client: write: %w", c.ioError(err)))
		}
		return nil
	}, nil
}

// lockstep runs the transaction without PIPELINING: each command waits for
// its reply (RFC 5321 section 4.1.1).
func (tx *txn) lockstep(mail string, r io.Reader, bdat, binary bool) error {
	c, t := tx.c, tx.c.opts.Timeouts
	if c.dirty {
		if err := c.rset(); err != nil {
			return err
		}
	}
	c.writeLine(mail)
	c.messages++
	if err := c.flush(t.Mail); err != nil {
		return err
	}
	rep, err := tx.read(t.Mail)
	if err != nil {
		return err
	}
	if err := tx.mailReply(rep); err != nil || tx.mailErr != nil {
		return err
	}
	c.dirty = true
	for _, i := range tx.sent {
		c.writeRcpt(tx.env.To[i])
		if err := c.flush(t.Rcpt); err != nil {
			return err
		}
		rep, err := tx.read(t.Rcpt)
		if err != nil {
			return err
		}
		if err := tx.rcptReply(i, rep); err != nil {
			return err
		}
	}
	if len(tx.accepted) == 0 {
		return nil // RSET comes with the next MAIL
	}
	if bdat {
		return tx.chunks(c.newChunker(r, binary), false)
	}
	c.writeLine("DATA")
	if err := c.flush(t.DataInit); err != nil {
		return err
	}
	rep, err = tx.read(t.DataInit)
	if err != nil {
		return err
	}
	if rep.code != 354 {
		return tx.refuseAccepted("DATA", rep)
	}
	return tx.data(r)
}

// data sends the message after a 354 (RFC 5321 section 4.1.1.4): text
// normalised and dot-stuffed, then CRLF.CRLF, and reads the end-of-data
// reply.
func (tx *txn) data(r io.Reader) error {
	c, t := tx.c, tx.c.opts.Timeouts
	tx.dataSent = true
	c.wTimeout = t.DataBlock
	tw := newTextWriter(c.bw, true)
	_, err := io.CopyBuffer(tw, srcReader{r}, c.scratch())
	if err == nil {
		err = tw.end()
	}
	if err != nil {
		// Only closing the connection aborts DATA; a dot would deliver
		// a truncated message.
		var le *localError
		if !errors.As(err, &le) {
			err = fmt.Errorf("client: write: %w", c.ioError(err))
		}
		return c.fail(err)
	}
	c.bw.WriteString(".\r\n")
	if err := c.flush(t.DataBlock); err != nil {
		return err
	}
	rep, err := tx.readEnd()
	if err != nil {
		return err
	}
	return tx.endOfData(rep)
}

// readEnd reads the reply that ends the data phase; a 421 there is the
// message's Data reply too.
func (tx *txn) readEnd() (reply, error) {
	rep, err := tx.read(tx.c.opts.Timeouts.DataEnd)
	if err != nil && rep.code == 421 {
		tx.res.Data = tx.closing
	}
	return rep, err
}

// chunks sends the rest of the message in BDAT chunks (RFC 3030 section
// 2). With pipelining up to bdatWindow chunks wait for their replies;
// without, each waits. A refused chunk ends the transfer (the chunks in
// flight are answered and ignored) and the accepted recipients get the
// refusal.
func (tx *txn) chunks(k *chunker, pipelining bool) error {
	c, t := tx.c, tx.c.opts.Timeouts
	tx.dataSent = true
	var (
		pending int
		refused bool
	)
	for {
		chunk, last, err := k.next()
		if err != nil {
			// A local read error: stop sending, collect what is in
			// flight; the transaction is reset with the next MAIL.
			for ; pending > 0; pending-- {
				if _, rerr := tx.read(t.DataBlock); rerr != nil {
					return rerr
				}
			}
			return err
		}
		c.writeLine(bdatCommand(len(chunk), last))
		c.bw.Write(chunk)
		if err := c.flush(t.DataBlock); err != nil {
			return err
		}
		pending++
		for pending > 0 && (refused || !pipelining || last || pending >= bdatWindow) {
			final := last && pending == 1
			timeout := t.DataBlock
			if final {
				timeout = t.DataEnd
			}
			rep, err := tx.read(timeout)
			if err != nil {
				if final && rep.code == 421 {
					tx.res.Data = tx.closing
				}
				return err
			}
			pending--
			switch {
			case refused:
			case final:
				return tx.endOfData(rep)
			case rep.class() != 2:
				refused = true
				if err := tx.refuseAccepted("BDAT", rep); err != nil {
					return err
				}
			}
		}
		if refused || last {
			return nil // after a refusal, RSET comes with the next MAIL
		}
	}
}

// endOfData handles the reply after the final dot or BDAT LAST: a
// DataReplyReader may take it; otherwise it applies to every recipient
// accepted at RCPT.
func (tx *txn) endOfData(rep reply) error {
	c := tx.c
	c.dirty = false
	first := rep.smtpError(true)
	var phase *DataPhase
	for _, ext := range c.opts.Extensions {
		drr, ok := ext.(DataReplyReader)
		if !ok {
			continue
		}
		if phase == nil {
			phase = &DataPhase{Conn: c, Envelope: tx.env, First: first, c: c}
			for _, i := range tx.accepted {
				phase.Accepted = append(phase.Accepted, tx.env.To[i])
			}
		}
		dr, err := drr.ReadDataReply(phase)
		if err != nil {
			return c.fail(fmt.Errorf("client: %s: %w", ext.Name(), err))
		}
		if dr == nil {
			continue
		}
		if dr.Final == nil || (dr.Recipients != nil && len(dr.Recipients) != len(tx.accepted)) {
			return c.fail(fmt.Errorf("client: %s: DataReply without Final or with %d replies for %d recipients", ext.Name(), len(dr.Recipients), len(tx.accepted)))
		}
		tx.res.Data = dr.Final
		for j, i := range tx.accepted {
			r := dr.Final
			if dr.Recipients != nil && dr.Recipients[j] != nil {
				r = dr.Recipients[j]
			}
			tx.set(i, r)
		}
		return nil
	}
	if rep.class() == 3 {
		return tx.unexpected("end of data", rep)
	}
	tx.res.Data = first
	for _, i := range tx.accepted {
		tx.set(i, first)
	}
	return nil
}

// validAddress accepts what can be written between angle brackets in a
// command line: no controls, no brackets.
func validAddress(a string) bool {
	for i := 0; i < len(a); i++ {
		if b := a[i]; b < ' ' || b == 0x7f || b == '<' || b == '>' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

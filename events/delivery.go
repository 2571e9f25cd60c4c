package events

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"

	"github.com/emersion/go-smtp"
)

// Recipient raises the outcome of one recipient at one host, from what the
// client engine's RecipientResult holds (Address and Reply): msg:delivery
// for a 2xx reply, msg:fail:delivery for a 5xx, msg:rcpt:host:defer for
// anything else (a 4xx, or the engine's synthesized 451 when the
// connection failed). Data is the reply as one line ("250 2.0.0 OK id=x",
// the confirmation of a delivery).
func (e *Emitter) Recipient(ctx context.Context, addr string, reply *smtp.SMTPError) {
	if e == nil || e.Handler == nil {
		return
	}
	ev := Event{Name: MsgRcptHostDefer}
	ev.SetRecipient(addr)
	if reply != nil {
		switch reply.Code / 100 {
		case 2:
			ev.Name = MsgDelivery
		case 5:
			ev.Name = MsgFailDelivery
			ev.Err = reply
		default:
			ev.Err = reply
		}
		ev.Data = FormatReply(reply)
	}
	e.Emit(ctx, ev)
}

// HostDefer raises msg:host:defer for an attempt at one host that failed as
// a whole: Dial's error (refused, timed out, vetoed, TLS required...) or
// Send's (connection lost, 421). Data is err's text, DeferErrno its errno
// (see [Errno]).
func (e *Emitter) HostDefer(ctx context.Context, err error) {
	if e == nil || e.Handler == nil || err == nil {
		return
	}
	e.Emit(ctx, Event{Name: MsgHostDefer, Data: err.Error(), DeferErrno: Errno(err), Err: err})
}

// Complete raises msg:complete: the queue is done with the message (every
// recipient delivered or failed), Exim's "Completed".
func (e *Emitter) Complete(ctx context.Context) {
	e.Emit(ctx, Event{Name: MsgComplete})
}

// FailInternal raises msg:fail:internal: the queue gave up on a message for
// a local reason (a spool file unreadable, an envelope unparsable). Data is
// err's text.
func (e *Emitter) FailInternal(ctx context.Context, err error) {
	ev := Event{Name: MsgFailInternal, Err: err}
	if err != nil {
		ev.Data = err.Error()
	}
	e.Emit(ctx, ev)
}

// Errno returns the system error number behind err, Exim's
// $event_defer_errno: the syscall.Errno it wraps (ECONNREFUSED,
// ECONNRESET...), ETIMEDOUT for a timeout or an expired deadline, 0
// otherwise (a reply from the server, a veto).
func Errno(err error) int {
	var en syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &en):
		return int(en)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return int(syscall.ETIMEDOUT)
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return int(syscall.ETIMEDOUT)
	}
	return 0
}

// FormatReply renders a reply on one line: "code enhanced-code text", the
// enhanced code (RFC 3463) only when there is one, line breaks of a
// multi-line reply as spaces.
func FormatReply(r *smtp.SMTPError) string {
	if r == nil {
		return ""
	}
	b := strconv.AppendInt(nil, int64(r.Code), 10)
	if c := r.EnhancedCode; c != smtp.NoEnhancedCode && c != smtp.EnhancedCodeNotSet {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(c[0]), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(c[1]), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(c[2]), 10)
	}
	if r.Message != "" {
		b = append(b, ' ')
		for _, ch := range []byte(r.Message) {
			if ch == '\r' {
				continue
			}
			if ch == '\n' {
				ch = ' '
			}
			b = append(b, ch)
		}
	}
	return string(b)
}

package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// DefaultTimeout bounds each event's handlers when Emitter.Timeout is
// zero. A vetoable event holds up a delivery while its handlers run; a
// handler that takes longer is treated as a veto (see [Emitter]).
const DefaultTimeout = 5 * time.Second

// Handler receives events: Exim's event_action. Its error is a veto for
// the vetoable events (tcp:connect, tls:cert, smtp:connect; see
// [Name.Vetoable]) and is logged for the others. HandleEvent is called
// from many deliveries at once and must be safe for concurrent use; it
// should return when ctx ends.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev Event) error

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, ev Event) error { return f(ctx, ev) }

// Chain returns a Handler that calls each handler in order. For a vetoable
// event the first veto wins: the handlers after it are not called. For
// other events every handler is called and the errors are joined.
func Chain(handlers ...Handler) Handler {
	hs := make([]Handler, 0, len(handlers))
	for _, h := range handlers {
		if h != nil {
			hs = append(hs, h)
		}
	}
	return chain(hs)
}

type chain []Handler

func (c chain) HandleEvent(ctx context.Context, ev Event) error {
	var errs []error
	for _, h := range c {
		if err := h.HandleEvent(ctx, ev); err != nil {
			if ev.Name.Vetoable() {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// VetoError is what the adapters return when a handler vetoed: Dial's
// error for tcp:connect, the TLS handshake's for tls:cert, the banner
// read's for smtp:connect. Reason is the handler's error, Exim's non-empty
// expansion result.
type VetoError struct {
	Event  Name
	Reason error
}

func (e *VetoError) Error() string {
	return fmt.Sprintf("events: %s vetoed: %v", e.Event, e.Reason)
}

func (e *VetoError) Unwrap() error { return e.Reason }

// Emitter raises events to a Handler with a deadline. Its zero value, and a
// nil *Emitter, raise nothing and veto nothing, so the adapters can be
// wired unconditionally.
//
// Each event runs its handlers synchronously, in the calling goroutine's
// order of events, bounded by Timeout: a delivery never waits longer for
// them. For a vetoable event the caller's context bounds them too, and a
// handler that has not answered when either ends vetoes with the
// context's error: a policy that cannot be checked fails closed, and the
// delivery is deferred, not lost. Other events get a context that the
// caller's cancellation does not end (a tcp:close or msg:host:defer of a
// delivery being cancelled is still recorded), and their errors and
// timeouts are logged.
type Emitter struct {
	// Handler receives the events; nil raises nothing.
	Handler Handler
	// Timeout bounds the handlers of one event; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Logger receives a line per veto, per handler error and per
	// timeout; nil means slog.Default().
	Logger *slog.Logger
}

// Emit raises ev: it fills ev.Time when zero and the fields the
// template in ctx has (see [NewContext]), and runs the handlers. It returns
// a *VetoError when a handler vetoed a vetoable event, nil otherwise.
func (e *Emitter) Emit(ctx context.Context, ev Event) error {
	if e == nil || e.Handler == nil {
		return nil
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if t, ok := ctx.Value(templateKey{}).(*Event); ok {
		ev.fill(t)
	}
	veto := ev.Name.Vetoable()
	if !veto {
		ctx = context.WithoutCancel(ctx)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// The handlers run in their own goroutine so that one that ignores
	// its context still cannot hold the delivery past the deadline.
	done := make(chan error, 1)
	go func() { done <- e.Handler.HandleEvent(ctx, ev) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("handler did not answer: %w", context.Cause(ctx))
	}
	if err == nil {
		return nil
	}
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	if veto {
		log.LogAttrs(ctx, slog.LevelInfo, "event vetoed", slog.String("event", string(ev.Name)),
			slog.String("reason", err.Error()), slog.String("id", ev.MessageID), slog.String("host", ev.Host))
		return &VetoError{Event: ev.Name, Reason: err}
	}
	log.LogAttrs(ctx, slog.LevelWarn, "event handler failed", slog.String("event", string(ev.Name)),
		slog.String("err", err.Error()), slog.String("id", ev.MessageID))
	return nil
}

// DenyConnect returns a Handler that vetoes tcp:connect to any address in
// prefixes ("no outbound connection to these networks"), the worked
// example of a veto. Other events pass.
func DenyConnect(prefixes ...netip.Prefix) Handler {
	ps := append([]netip.Prefix(nil), prefixes...)
	return HandlerFunc(func(_ context.Context, ev Event) error {
		if ev.Name != TCPConnect || !ev.HostAddr.IsValid() {
			return nil
		}
		a := ev.HostAddr.Addr().Unmap()
		for _, p := range ps {
			if p.Contains(a) {
				return fmt.Errorf("connections to %s are denied (%s)", a, p)
			}
		}
		return nil
	})
}

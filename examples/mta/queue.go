package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smtpkit/smtpkit/events"
)

// queue delivers spooled messages: it retries each pending recipient on
// the -retry schedule until -max-age, sends a DSN for every permanent
// failure or expiry (never to a null sender), and removes a message only
// when every recipient has a final result.
type queue struct {
	spool   *spool
	log     *slog.Logger
	retry   []time.Duration
	maxAge  time.Duration
	workers int
	attempt func(ctx context.Context, q *queued, rcpts []*queuedRcpt) // sets each rcpt's result
	notify  func(q *queued, failed []*queuedRcpt) error               // queues a DSN
	now     func() time.Time
	events  *events.Emitter // msg:complete; nil raises nothing

	mu      sync.Mutex
	msgs    map[string]*queued
	running map[string]bool
	wake    chan struct{}
	wg      sync.WaitGroup
}

// add schedules a newly spooled message for immediate delivery.
func (qu *queue) add(q *queued) {
	qu.mu.Lock()
	qu.msgs[q.ID] = q
	qu.mu.Unlock()
	qu.poke()
}

func (qu *queue) poke() {
	select {
	case qu.wake <- struct{}{}:
	default:
	}
}

// retryDelay is the wait after the n-th failed attempt (n >= 1); the last
// step of the schedule repeats.
func (qu *queue) retryDelay(n int) time.Duration {
	if n > len(qu.retry) {
		n = len(qu.retry)
	}
	return qu.retry[n-1]
}

// run starts due deliveries until ctx ends, then waits for the running
// ones (their contexts end with ctx).
func (qu *queue) run(ctx context.Context) {
	sem := make(chan struct{}, qu.workers)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := qu.startDue(ctx, sem)
		wait := time.Minute
		if !next.IsZero() {
			wait = max(next.Sub(qu.now()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			qu.wg.Wait()
			return
		case <-qu.wake:
		case <-timer.C:
		}
	}
}

// startDue starts a worker for each due message while worker slots are
// free, and returns when the next not-yet-due message falls due.
func (qu *queue) startDue(ctx context.Context, sem chan struct{}) time.Time {
	qu.mu.Lock()
	defer qu.mu.Unlock()
	now := qu.now()
	var next time.Time
	ids := make([]string, 0, len(qu.msgs))
	for id := range qu.msgs {
		ids = append(ids, id)
	}
	sort.Strings(ids) // ids start with their arrival time: oldest first
	for _, id := range ids {
		if qu.running[id] {
			continue
		}
		q := qu.msgs[id]
		due := dueAt(q)
		if due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			return now.Add(50 * time.Millisecond) // all workers busy; look again soon
		}
		qu.running[id] = true
		qu.wg.Add(1)
		go func() {
			defer qu.wg.Done()
			defer func() { <-sem }()
			qu.deliver(ctx, q)
			qu.mu.Lock()
			delete(qu.running, q.ID)
			qu.mu.Unlock()
			qu.poke()
		}()
	}
	return next
}

// dueAt is the earliest next attempt among pending recipients, or now for
// a message with failures still to report.
func dueAt(q *queued) time.Time {
	var due time.Time
	for _, r := range q.Rcpts {
		if r.State == statePending && (due.IsZero() || r.NextAttempt.Before(due)) {
			due = r.NextAttempt
		}
	}
	if due.IsZero() {
		return q.NotifyAt // only a DSN left to queue: zero means at once
	}
	return due
}

// deliver makes one attempt for the due recipients of q and records the
// outcome durably.
func (qu *queue) deliver(ctx context.Context, q *queued) {
	now := qu.now()
	var due []*queuedRcpt
	for _, r := range q.Rcpts {
		if r.State == statePending && !r.NextAttempt.After(now) {
			due = append(due, r)
		}
	}
	if len(due) > 0 {
		qu.attempt(ctx, q, due)
		if ctx.Err() != nil {
			// Shutting down: results so far are real, the rest stays
			// pending for the next start.
			for _, r := range due {
				if r.State == statePending && r.NextAttempt.IsZero() {
					r.NextAttempt = now
				}
			}
		}
		after := qu.now()
		for _, r := range due {
			if r.State != statePending {
				continue
			}
			r.Attempts++
			r.NextAttempt = after.Add(qu.retryDelay(r.Attempts))
			if after.Sub(q.Arrived) >= qu.maxAge {
				r.State = stateFailed
				r.LastReply = fmt.Sprintf("retry time exceeded (%s); last: %s", qu.maxAge, r.LastReply)
			}
		}
	}
	var failed []*queuedRcpt
	for _, r := range q.Rcpts {
		if r.State == stateFailed && !r.Notified && q.From != "" {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		if err := qu.notify(q, failed); err != nil {
			qu.log.Error("DSN not queued; will try again", "id", q.ID, "err", err)
			q.NotifyAt = qu.now().Add(qu.retryDelay(1))
		} else {
			for _, r := range failed {
				r.Notified = true
			}
		}
	}
	if q.done() {
		if err := qu.spool.remove(q.ID); err != nil {
			qu.log.Error("spool entry not removed", "id", q.ID, "err", err)
		}
		qu.mu.Lock()
		delete(qu.msgs, q.ID)
		qu.mu.Unlock()
		qu.log.Info("message completed", "id", q.ID, "result", summary(q))
		qu.events.Complete(events.NewContext(ctx, events.Event{MessageID: q.ID, Sender: q.From}))
		return
	}
	if err := qu.spool.saveEnvelope(q); err != nil {
		qu.log.Error("spool state not saved", "id", q.ID, "err", err)
	}
}

func summary(q *queued) string {
	var parts []string
	for _, r := range q.Rcpts {
		parts = append(parts, r.Addr+"="+string(r.State))
	}
	return strings.Join(parts, ",")
}

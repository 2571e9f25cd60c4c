package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/postgres"
	"github.com/smtpkit/smtpkit/events/sqlsink/sqlite"
)

// eventsCloseTimeout bounds the writing of the last event rows at exit.
const eventsCloseTimeout = 10 * time.Second

// setupEvents builds the Emitter of -events-deny-connect, -events-log and
// -events-db (Exim's event_action): the sinks first, so that a vetoed
// tcp:connect is logged before the veto (the first veto ends the chain).
// Without any of them m.events stays nil and raises nothing.
func (m *mta) setupEvents() error {
	var hs []events.Handler
	if m.cfg.EventsLog {
		hs = append(hs, events.LogSink(m.log, slog.LevelInfo))
	}
	if m.cfg.EventsDB != "" {
		sink, err := openEventsDB(m.cfg.EventsDB, &sqlsink.Options{Logger: m.log})
		if err != nil {
			return fmt.Errorf("-events-db: %w", err)
		}
		m.eventsDB = sink
		hs = append(hs, sink)
	}
	if len(m.cfg.EventsDenyConnect) > 0 {
		hs = append(hs, events.DenyConnect(m.cfg.EventsDenyConnect...))
	}
	hs = append(hs, m.cfg.eventHandlers...)
	if len(hs) > 0 {
		m.events = &events.Emitter{Handler: events.Chain(hs...), Logger: m.log}
	}
	return nil
}

// openEventsDB opens the sink of -events-db with the driver its name
// picks.
func openEventsDB(dsn string, opts *sqlsink.Options) (*sqlsink.Sink, error) {
	switch {
	case sqlite.Accepts(dsn):
		return sqlite.Open(dsn, opts)
	case postgres.Accepts(dsn):
		return postgres.Open(dsn, opts)
	}
	return nil, fmt.Errorf("sqlsink: %q: want sqlite:PATH or a postgres:// URL", dsn)
}

// closeEvents writes the event rows still waiting.
func (m *mta) closeEvents() {
	if m.eventsDB == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventsCloseTimeout)
	defer cancel()
	if err := m.eventsDB.Close(ctx); err != nil {
		m.log.Error("events: rows not written", "err", err)
	}
}

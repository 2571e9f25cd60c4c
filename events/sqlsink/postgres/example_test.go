package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/postgres"
)

// Several MTAs record into one PostgreSQL table; each opens its own Sink.
// (No output: it needs a server.)
func ExampleOpen() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sink, err := postgres.Open("postgres://mta@db.example.test/mail?sslmode=verify-full", &sqlsink.Options{Logger: log})
	if err != nil {
		log.Error("events database", "err", err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sink.Close(ctx) // writes the rows still waiting
	}()
	em := &events.Emitter{Handler: events.Chain(events.LogSink(log, slog.LevelInfo), sink), Logger: log}
	_ = em // hand em to the client engine and the queue
}

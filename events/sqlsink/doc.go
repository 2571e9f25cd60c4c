// Package sqlsink records delivery events in a SQL table, as the example
// of Exim's specification (chapter "Events") does with a record_Delivery
// function in PostgreSQL.
//
// It writes one row per msg:delivery, msg:rcpt:host:defer, msg:host:defer
// and msg:fail:delivery (Options.Events chooses). As the events package's
// Handler:
//
//	sink, err := sqlsink.Open("sqlite:/var/lib/mta/events.db", nil)
//	em := &events.Emitter{Handler: sink}
//	defer sink.Close(ctx) // writes what is buffered
//
// The package links no database driver: the Sink writes to a *sql.DB
// (any [DB]) that the caller opened with the driver it chose, in the
// [Dialect] the caller names ([SQLite] or [Postgres]: placeholders, column
// types, the advisory lock), or that [DetectDialect] reads off the
// driver's Go package (modernc.org/sqlite, mattn/go-sqlite3,
// ncruces/go-sqlite3, glebarez/go-sqlite; jackc/pgx, lib/pq; any other,
// such as a tracing wrapper, is an error, never a guess). [New] leaves the
// database to the caller; [OpenDB] hands it to the Sink, whose Close
// closes it.
//
// Two subpackages link one driver each and open the database from a name:
//
//   - events/sqlsink/sqlite: sqlite.Open("sqlite:PATH", opts) with
//     modernc.org/sqlite (no cgo), in WAL mode; the embedded store of
//     one MTA;
//   - events/sqlsink/postgres: postgres.Open("postgres://...", opts) with
//     pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib); the
//     store that several MTAs share.
//
// A program that imports neither pays for database/sql only.
//
// # The table
//
// Created when missing (default name record_delivery), one row per event:
//
//	id                 integer key, in insertion order
//	time               when the event was raised (TIMESTAMPTZ in PostgreSQL,
//	                   ISO 8601 UTC text in SQLite)
//	event              "msg:delivery", "msg:host:defer"...
//	message_id         $message_exim_id
//	sender_local_part  $sender_address_local_part ("" for the null sender)
//	sender_domain      $sender_address_domain
//	local_part         $local_part of the recipient ("" for a host deferral)
//	domain             $domain of the recipient
//	host               $host, the server's name
//	host_address       $host_address, the IP address
//	host_port          $host_port
//	sending_address    $sending_ip_address:$sending_port when known
//	confirmation       $event_data: the server's reply for a recipient
//	                   ("250 2.0.0 OK id=..."), the error of a deferral
//	errno              $event_defer_errno
//
// with an index on message_id. PostgreSQL creators take an advisory lock,
// so that MTAs starting together do not trip over each other.
//
// # Never in the way of a delivery
//
// HandleEvent only appends a row to a bounded buffer (Options.BufferSize)
// and returns; one goroutine writes batches of up to Options.BatchSize rows
// in a single multi-row INSERT, at once when a batch is full and after
// Options.FlushInterval otherwise. When the database fails, the error is
// logged once per outage (and its end once), and the same batch is tried
// again after a wait that doubles from Options.RetryInterval up to
// MaxRetryInterval. Meanwhile rows keep queueing; when the buffer is full
// the oldest waiting row is dropped for each new one (drop-oldest: recent
// events say more about the present), counted in Stats.Dropped and logged
// once per episode. A batch whose INSERT succeeded but whose answer was
// lost is written again: delivery is at least once.
//
// Close writes what is waiting, retrying until its context ends; rows
// still unwritten then are reported in its error. Flush waits for the rows
// queued so far.
//
// # Wiring
//
//	sink, err := sqlite.Open("sqlite:/var/spool/mta/events.db", nil)
//	// or, with the program's own database:
//	// sink, err := sqlsink.New(db, sqlsink.Postgres, nil)
//	...
//	defer sink.Close(shutdownCtx)
//	em := &events.Emitter{Handler: events.Chain(events.LogSink(log, slog.LevelInfo), sink)}
package sqlsink

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink/sqlite"
)

// Record deliveries in an SQLite file, then read them back.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sqlsink-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.db")

	sink, err := sqlite.Open("sqlite:"+path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	em := &events.Emitter{Handler: sink}
	ctx := events.NewContext(context.Background(), events.Event{
		MessageID: "1qAbCd-000001-Xy", Sender: "alice@example.test", Host: "mx.example.test"})
	// What the client engine's Result says, recipient by recipient.
	em.Recipient(ctx, "bob@example.test", &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"})
	em.Recipient(ctx, "carol@example.test", &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK id=42"})
	if err := sink.Close(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	// Package sqlite linked modernc.org/sqlite as the driver "sqlite".
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	rows, err := db.Query("SELECT event, message_id, sender_domain, local_part, host, confirmation FROM record_delivery ORDER BY id")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var ev, id, sd, lp, host, conf string
		rows.Scan(&ev, &id, &sd, &lp, &host, &conf)
		fmt.Printf("%s %s %s %q %s %q\n", ev, id, sd, lp, host, conf)
	}
	// Output:
	// msg:rcpt:host:defer 1qAbCd-000001-Xy example.test "bob" mx.example.test "452 4.2.2 mailbox full"
	// msg:delivery 1qAbCd-000001-Xy example.test "carol" mx.example.test "250 2.0.0 OK id=42"
}

package sqlsink_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emersion/go-smtp"
	_ "modernc.org/sqlite" // the program's own choice of driver

	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
)

// Record deliveries in a database the program opened itself, with the
// driver it links anyway; the Sink leaves the database open.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "sqlsink-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "events.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	dialect, err := sqlsink.DetectDialect(db) // or sqlsink.SQLite
	if err != nil {
		fmt.Println(err)
		return
	}
	sink, err := sqlsink.New(db, dialect, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	em := &events.Emitter{Handler: sink}
	ctx := events.NewContext(context.Background(), events.Event{
		MessageID: "1qAbCd-000001-Xy", Sender: "alice@example.test", Host: "mx.example.test"})
	em.Recipient(ctx, "carol@example.test", &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK id=42"})
	if err := sink.Close(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	var event, conf string
	err = db.QueryRow("SELECT event, confirmation FROM record_delivery WHERE local_part = 'carol'").Scan(&event, &conf)
	fmt.Println(dialect, event, conf, err)
	// Output:
	// sqlite msg:delivery 250 2.0.0 OK id=42 <nil>
}

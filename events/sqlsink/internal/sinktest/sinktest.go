// Package sinktest holds what the tests of sqlsink and its driver
// subpackages share: a delivery event and a row count.
package sinktest

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/events"
)

// Ctx is a context that ends with the test, or after 20 seconds.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Delivery is the msg:delivery event of message msg-000i to rcpti@y.test.
func Delivery(i int) events.Event {
	ev := events.Event{
		Name:        events.MsgDelivery,
		Time:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data:        "250 2.0.0 OK id=" + fmt.Sprint(i),
		MessageID:   fmt.Sprintf("msg-%04d", i),
		Sender:      "Alice@x.test",
		Host:        "mx.y.test",
		HostAddr:    netip.MustParseAddrPort("192.0.2.1:25"),
		SendingAddr: netip.MustParseAddrPort("198.51.100.7:40000"),
	}
	ev.SetRecipient(fmt.Sprintf("rcpt%d@y.test", i))
	return ev
}

// Count counts the rows of record_delivery in the SQLite file at path
// (through the driver "sqlite", which the test links), where the SQL
// condition where holds ("" for all).
func Count(t testing.TB, path, where string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM record_delivery " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

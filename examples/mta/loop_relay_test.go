package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
)

// spooled counts the queued messages (their envelopes) in an MTA's spool.
func (tm *testMTA) spooled(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(tm.data, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".env") {
			n++
		}
	}
	return n
}

// Two MTAs that relay to each other, each the other's smarthost, pass a
// message back and forth; every hop adds a Received field. The one that
// would take it past -max-received refuses it (554 5.4.6), the sender's
// side makes a DSN to the (remote) sender, which loops the same way and
// is refused in turn, from the null sender, so it bounces no more. The
// original makes at most 31 hops, the DSN 30: both queues end empty.
func TestLoopBetweenTwoInstancesEnds(t *testing.T) {
	for _, prdr := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "front"}[prdr], func(t *testing.T) { testLoop(t, prdr) })
	}
}

// testLoop runs the loop between two instances, behind the front (-prdr)
// or not.
func testLoop(t *testing.T, prdr bool) {
	addrA, addrB := interop.Addr(interop.FreePort(t)), interop.Addr(interop.FreePort(t))
	conf := func(name, listen, smarthost string) config {
		cfg := testConfig(t)
		cfg.Hostname, cfg.LocalDomains = name, []string{name}
		cfg.Listen, cfg.Smarthost = listen, smarthost
		cfg.PRDR = prdr
		cfg.Retry = []time.Duration{200 * time.Millisecond}
		// Each holds idle connections to the other: close them at once.
		cfg.ShutdownGrace = 100 * time.Millisecond
		return cfg
	}
	a := startMTA(t, conf("a.test", addrA, addrB))
	b := startMTA(t, conf("b.test", addrB, addrA))
	sendMessage(t, a.addr, "sender@elsewhere.test", []string{"rcpt@faraway.test"}, body)

	hops := func() int {
		return len(a.logs.lines(`msg="message accepted"`)) + len(b.logs.lines(`msg="message accepted"`))
	}
	// A message is in one spool or the other until it is refused: both
	// empty, twice in a row, means the loop ended.
	deadline := time.Now().Add(2 * time.Minute)
	for empty := 0; empty < 2; {
		if n := hops(); n > 200 || time.Now().After(deadline) {
			t.Fatalf("the loop goes on: %d hops so far", n)
		}
		if a.spooled(t)+b.spooled(t) == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := hops()
	t.Logf("%d hops in total", n)
	if n > 62 {
		t.Fatalf("%d hops: the loop was not cut at -max-received", n)
	}
	refused := append(a.logs.lines(`msg="delivery attempt"`, "result=failed", "554 5.4.6"),
		b.logs.lines(`msg="delivery attempt"`, "result=failed", "554 5.4.6")...)
	if len(refused) != 2 {
		t.Fatalf("want the message and its DSN refused once each, got %q", refused)
	}
	dsns := append(a.logs.lines(`msg="DSN queued"`), b.logs.lines(`msg="DSN queued"`)...)
	if len(dsns) != 1 {
		t.Fatalf("want one DSN, got %q", dsns)
	}
}

//go:build !race

// Not under -race: go-smtp itself races here (handleBdat's dataResult
// channel is replaced while the aborted chunk's goroutine still sends on
// it), which dataBound cannot prevent.

package main

import (
	"strings"
	"testing"
)

// go-smtp reads on after a BDAT transaction ends early (a chunk over
// -max-size, RSET) while the session's Data still runs on its own
// goroutine; the next MAIL must not meet that Data. In plain mode
// dataBound puts the session's Reset off and makes Mail wait; the
// transactions after the aborted ones go through, in both modes, and the
// refused ones leave nothing behind.
func TestProbeBDATAbortThenNextTransaction(t *testing.T) {
	modes(t, bdatAbortThenNext)
}

func bdatAbortThenNext(t *testing.T, prdr bool) {
	cfg := testConfig(t)
	cfg.PRDR = prdr
	cfg.MaxSize = 1000
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	half := "Subject: x\r\n\r\n" + strings.Repeat("y", 586)
	for range 20 {
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		if rep := bdat(c, half, false); rep.Code != 250 {
			t.Fatalf("first chunk: %v", rep)
		}
		expectCode(t, bdat(c, half, true), 552, "5.3.4")
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		bdat(c, half, false)
		c.MustCmd("RSET", 250)
	}
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<a@example.test>", 250)
	if rep := bdat(c, half, true); rep.Code != 250 {
		t.Fatalf("after the aborted ones: %v", rep)
	}
	c.MustCmd("QUIT", 221)
	only(t, tm.messages(t, "a@example.test", "new"))
}

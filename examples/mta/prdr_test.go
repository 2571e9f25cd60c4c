package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With -prdr the MTA runs behind the front: a client that requests PRDR
// gets a reply per recipient after the data, and the quota is decided
// then, with the message's real size: the full mailbox refuses, the
// others take their copies.
func TestPRDRQuotaAtDataTime(t *testing.T) {
	cfg := testConfig(t)
	cfg.PRDR = true
	tm := startMTA(t, cfg)
	full := filepath.Join(tm.data, "maildir", "full@example.test")
	if err := os.MkdirAll(full, 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(full, quotaFile), []byte("100\n"), 0o644)

	c := greet(t, tm.addr)
	if ehlo := c.MustCmd("EHLO client.test", 250); !strings.Contains(ehlo.Text(), "PRDR") {
		t.Fatalf("PRDR not offered: %v", ehlo)
	}
	c.MustCmd("MAIL FROM:<s@x.test> PRDR", 250)
	c.MustCmd("RCPT TO:<one@example.test>", 250)
	c.MustCmd("RCPT TO:<full@example.test>", 250) // decided after the data
	c.MustCmd("RCPT TO:<two@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: prdr\r\n\r\n" + strings.Repeat("a long enough body line\r\n", 10) + ".\r\n")
	c.Expect(353)
	want := []int{250, 552, 250} // the message is larger than the quota: permanent
	for i, code := range want {
		if rep := c.ReadReply(); rep.Code != code {
			t.Fatalf("recipient %d: %v", i, rep)
		}
	}
	c.Expect(250) // the final reply
	only(t, tm.messages(t, "one@example.test", "new"))
	only(t, tm.messages(t, "two@example.test", "new"))
	if got := tm.messages(t, "full@example.test", "new"); len(got) != 0 {
		t.Fatal("the full mailbox got a copy")
	}

	// Without PRDR, a mailbox already over its quota is refused at RCPT,
	// as before.
	os.MkdirAll(filepath.Join(full, "new"), 0o750)
	os.WriteFile(filepath.Join(full, "new", "old-message"), []byte(strings.Repeat("x", 200)), 0o640)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<full@example.test>"), 452, "4.2.2")
	c.MustCmd("RSET", 250)
}

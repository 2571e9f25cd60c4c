package main

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/smtputf8"
)

// longDomain is a domain of n bytes in labels of at most 63.
func longDomain(n int) string {
	var labels []string
	for n > 0 {
		l := min(n, 63)
		if n-l == 1 {
			l-- // no empty label after the last dot
		}
		labels = append(labels, strings.Repeat(string(rune('a'+len(labels))), l))
		n -= l + 1
	}
	return strings.Join(labels, ".")
}

// A local recipient whose Maildir folder name would pass 255 bytes (the
// file system's NAME_MAX) is refused at RCPT with 553 5.1.3, never
// deferred for ever; so is one whose UTF-8 local part fits but grows past
// it as xn-- A-labels. One byte less is delivered.
func TestLongMailboxNameRefusedAtRCPT(t *testing.T) {
	d200, d190 := longDomain(200), longDomain(190)
	if len(d200) != 200 || len(d190) != 190 {
		t.Fatal("longDomain")
	}
	utf8Local := strings.Repeat("a", 61) + "ü" // 63 bytes
	al, err := smtputf8.LocalPartToALabel(utf8Local)
	if err != nil {
		t.Fatal(err)
	}
	if raw, folder := len(utf8Local)+1+len(d190), len(al)+1+len(d190); raw > 255 || folder <= 255 {
		t.Fatalf("test needs a name that fits as UTF-8 (%d) and not as A-labels (%d)", raw, folder)
	}
	cfg := testConfig(t)
	cfg.SMTPUTF8 = true
	cfg.LocalDomains = append(cfg.LocalDomains, d200, d190)
	cfg.Quota = 1 << 20 // the quota check reads the folder at RCPT
	tm := startMTA(t, cfg)

	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test> SMTPUTF8", 250)
	fits := strings.Repeat("x", 54) + "@" + d200 // 255 bytes
	c.MustCmd("RCPT TO:<"+fits+">", 250)
	expectCode(t, c.Cmd("RCPT TO:<"+strings.Repeat("x", 55)+"@"+d200+">"), 553, "5.1.3")
	expectCode(t, c.Cmd("RCPT TO:<"+strings.ToUpper(strings.Repeat("x", 55))+"@"+strings.ToUpper(d200)+">"), 553, "5.1.3")
	expectCode(t, c.Cmd("RCPT TO:<"+utf8Local+"@"+d190+">"), 553, "5.1.3")
	short := strings.Repeat("a", 55) + "ü@" + d190
	c.MustCmd("RCPT TO:<"+short+">", 250)
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	only(t, tm.messages(t, fits, "new"))
	mb, err := mailboxFolder(strings.Repeat("a", 55)+"ü", d190)
	if err != nil {
		t.Fatal(err)
	}
	only(t, tm.messages(t, mb, "new"))
}

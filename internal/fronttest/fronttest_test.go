package fronttest

import (
	"runtime"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func TestStartDeliversPerRecipientWithTLS(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		srvTLS, cliTLS := TLSConfig(t)
		be := &Backend{Refuse: DefaultRefuse}
		srv := Start(t, be, &front.Options{TLSConfig: srvTLS})
		c := smtptest.Dial(t, srv.Addr)
		c.Expect(220)
		c.MustCmd("EHLO client.test", 250)
		c.StartTLS(cliTLS)
		c.MustCmd("EHLO client.test", 250)
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		c.MustCmd("RCPT TO:<ok@y.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write("Subject: t\r\n\r\nbody\r\n.\r\n")
		c.Expect(250)
		c.MustCmd("QUIT", 221)
		c.Close()
		msgs := be.Messages()
		if len(msgs) != 1 || msgs[0].To != "ok@y.test" || !msgs[0].TLS || !strings.Contains(string(msgs[0].Data), "body") {
			t.Fatalf("messages %+v", msgs)
		}
	})
	Goroutines(t, before)
}

func TestDefaultRefuse(t *testing.T) {
	if DefaultRefuse("refuse1@x", nil) == nil || DefaultRefuse("defer@x", nil) == nil || DefaultRefuse("ok@x", nil) != nil {
		t.Fatal("DefaultRefuse")
	}
}

// TestPlain: the same backend and configuration without a front: one
// status for all recipients, the first refusal.
func TestPlain(t *testing.T) {
	be := &Backend{Refuse: DefaultRefuse}
	addr := Plain(t, be)
	c := smtptest.Dial(t, addr)
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)
	for _, tc := range []struct {
		rcpts []string
		want  int
	}{{[]string{"ok@y.test", "ok2@y.test"}, 250}, {[]string{"ok@y.test", "refuse@y.test"}, 550}} {
		c.MustCmd("MAIL FROM:<a@x.test>", 250)
		for _, r := range tc.rcpts {
			c.MustCmd("RCPT TO:<"+r+">", 250)
		}
		c.MustCmd("DATA", 354)
		c.Write("Subject: t\r\n\r\nbody\r\n.\r\n")
		c.Expect(tc.want)
	}
	if n := len(be.Messages()); n != 2 {
		t.Errorf("%d copies, want 2: the refused message has none", n)
	}
}

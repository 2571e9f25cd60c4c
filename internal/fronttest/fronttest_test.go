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

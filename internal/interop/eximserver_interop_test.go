//go:build interop

package interop

import (
	"net/smtp"
	"testing"
)

func TestEximOverrides(t *testing.T) {
	e := StartExim(t, "tls_advertise_hosts =\nsmtputf8_advertise_hosts =")
	c, err := smtp.Dial(Addr(e.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Hello("x.test")
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS still offered")
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		t.Fatal("SMTPUTF8 still offered")
	}
	if ok, _ := c.Extension("PRDR"); !ok {
		t.Fatal("PRDR lost")
	}
}

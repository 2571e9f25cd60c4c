package sessionwrap

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type plain struct{ data string }

func (p *plain) Reset()                               {}
func (p *plain) Logout() error                        { return nil }
func (p *plain) Mail(string, *smtp.MailOptions) error { return nil }
func (p *plain) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (p *plain) Data(r io.Reader) error               { b, err := io.ReadAll(r); p.data = string(b); return err }
func (p *plain) AuthMechanisms() []string             { return []string{sasl.Plain} }
func (p *plain) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != "ok" {
			return errors.New("no")
		}
		return nil
	}), nil
}

type statuses map[string]error

func (s statuses) SetStatus(rcpt string, err error) { s[rcpt] = err }

type noAuth struct{ smtp.Session }

func TestAuthNotesSuccessOnly(t *testing.T) {
	inner := &plain{}
	if got := AuthMechanisms(inner); len(got) != 1 || got[0] != sasl.Plain {
		t.Fatalf("mechanisms %v", got)
	}
	for _, c := range []struct {
		pass string
		want bool
	}{{"bad", false}, {"ok", true}} {
		ok := false
		srv, err := Auth(inner, sasl.Plain, func() { ok = true })
		if err != nil {
			t.Fatal(err)
		}
		srv.Next([]byte("\x00user\x00" + c.pass))
		if ok != c.want {
			t.Fatalf("password %q: success noted = %v", c.pass, ok)
		}
	}
	if AuthMechanisms(noAuth{inner}) != nil {
		t.Fatal("mechanisms from a session without AUTH")
	}
	if _, err := Auth(noAuth{inner}, sasl.Plain, nil); err != smtp.ErrAuthUnknownMechanism {
		t.Fatalf("err = %v", err)
	}
}

func TestLMTPDataFallsBackToData(t *testing.T) {
	inner := &plain{}
	st := statuses{}
	if err := LMTPData(inner, strings.NewReader("msg"), st, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if inner.data != "msg" || len(st) != 2 || st["a"] != nil || st["b"] != nil {
		t.Fatalf("data %q statuses %v", inner.data, st)
	}
}

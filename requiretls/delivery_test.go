package requiretls

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

const testMsg = "From: a@example.com\r\nSubject: secret\r\n\r\nsecret body\r\n"

func sendOne(t *testing.T, addr string, opts *client.Options, env *client.Envelope) (*client.Result, *client.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, err := client.Dial(ctx, addr, opts)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.Close() })
	if env == nil {
		env = &client.Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	}
	res, err := c.Send(ctx, env, strings.NewReader(testMsg))
	return res, c, err
}

func wantRefused(t *testing.T, res *client.Result, err error, rep *smtp.SMTPError) {
	t.Helper()
	if !errors.Is(err, client.ErrRefused) || !errors.Is(err, ErrNotQualified) {
		t.Fatalf("err %v", err)
	}
	for _, r := range res.Recipients {
		if r.Status != client.PermFailed || r.Reply != rep {
			t.Errorf("%+v", r)
		}
	}
}

func TestDelivery(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	good := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}})
	wrongName := ca.Issue(t, pkitest.Leaf{Names: []string{"other.test"}})
	self := pkitest.SelfSigned(t, pkitest.Leaf{Names: []string{"mx.test"}})
	verifying := &client.Options{TLSConfig: &tls.Config{RootCAs: ca.Pool()}}
	skipping := &client.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}

	t.Run("delivered", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, good, true)
		d := &Delivery{Host: "mx.test"}
		res, c, err := sendOne(t, srv.Addr, d.ClientOptions(verifying), nil)
		if err != nil || res.Recipients[0].Status != client.Accepted {
			t.Fatalf("%v %+v", err, res)
		}
		if _, ok := c.TLS(); !ok {
			t.Error("no TLS")
		}
		m := pr.sink.Messages()
		if len(m) != 1 || !m[0].MailOpts.RequireTLS {
			t.Fatalf("messages %+v", m)
		}
		if st := pr.statuses(); len(st) != 1 || !st[0].Required {
			t.Errorf("server status %+v", st)
		}
	})
	t.Run("PKIX here, when crypto/tls skipped it", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, good, true)
		d := &Delivery{Host: "mx.test", RootCAs: ca.Pool()}
		res, _, err := sendOne(t, srv.Addr, d.ClientOptions(skipping), nil)
		if err != nil || res.Recipients[0].Status != client.Accepted || len(pr.sink.Messages()) != 1 {
			t.Fatalf("%v %+v", err, res)
		}
	})
	t.Run("wrong name", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, wrongName, true)
		d := &Delivery{Host: "mx.test", RootCAs: ca.Pool()}
		res, _, err := sendOne(t, srv.Addr, d.ClientOptions(skipping), nil)
		wantRefused(t, res, err, ReplyNoTLS)
		if len(pr.sink.Messages()) != 0 {
			t.Error("sent")
		}
	})
	t.Run("wrong name, crypto/tls verifying: no cleartext retry", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, wrongName, true)
		d := &Delivery{Host: "mx.test"}
		_, _, err := sendOne(t, srv.Addr, d.ClientOptions(verifying), nil)
		if err == nil {
			t.Fatal("Dial succeeded")
		}
		if len(pr.sink.Messages()) != 0 {
			t.Error("sent")
		}
	})
	t.Run("DANE hook", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, self, true)
		d := &Delivery{Host: "mx.test", Authenticated: func(cs tls.ConnectionState) bool {
			return len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Equal(self.Certificate)
		}}
		res, _, err := sendOne(t, srv.Addr, d.ClientOptions(skipping), nil)
		if err != nil || res.Recipients[0].Status != client.Accepted || len(pr.sink.Messages()) != 1 {
			t.Fatalf("%v %+v", err, res)
		}
	})
	t.Run("self-signed", func(t *testing.T) {
		_, srv := tlsServer(t, nil, self, true)
		d := &Delivery{Host: "mx.test"}
		res, _, err := sendOne(t, srv.Addr, d.ClientOptions(skipping), nil)
		wantRefused(t, res, err, ReplyNoTLS)
	})
	t.Run("no REQUIRETLS", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, good, false)
		d := &Delivery{Host: "mx.test"}
		res, _, err := sendOne(t, srv.Addr, d.ClientOptions(verifying), nil)
		wantRefused(t, res, err, ReplyNoREQUIRETLS)
		if len(pr.sink.Messages()) != 0 {
			t.Error("sent")
		}
	})
	t.Run("insecure MX", func(t *testing.T) {
		_, srv := tlsServer(t, nil, good, true)
		d := &Delivery{Host: "mx.test", InsecureMX: true}
		res, _, err := sendOne(t, srv.Addr, d.ClientOptions(verifying), nil)
		wantRefused(t, res, err, ReplyNoTLS)
	})
	t.Run("no STARTTLS", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, nil, true)
		d := &Delivery{Host: "mx.test"}
		if _, _, err := sendOne(t, srv.Addr, d.ClientOptions(verifying), nil); !errors.Is(err, client.ErrTLSRequired) {
			t.Errorf("Dial: %v", err)
		}
		// Opportunistic options by mistake: the checker still refuses.
		opts := *d.ClientOptions(verifying)
		opts.TLSPolicy = client.TLSOpportunistic
		res, _, err := sendOne(t, srv.Addr, &opts, nil)
		wantRefused(t, res, err, ReplyNoTLS)
		if len(pr.sink.Messages()) != 0 {
			t.Error("sent in clear")
		}
	})
	t.Run("Requires", func(t *testing.T) {
		pr, srv := tlsServer(t, nil, nil, true)
		d := &Delivery{Requires: func(env *client.Envelope) bool { return env.From == "secure@example.com" }}
		opts := &client.Options{TLSPolicy: client.TLSOpportunistic, Extensions: []client.Extension{d}}
		res, c, err := sendOne(t, srv.Addr, opts, nil)
		if err != nil || res.Recipients[0].Status != client.Accepted {
			t.Fatalf("plain message: %v %+v", err, res)
		}
		res, err = c.Send(context.Background(), &client.Envelope{From: "secure@example.com", To: []string{"b@example.com"}}, strings.NewReader(testMsg))
		wantRefused(t, res, err, ReplyNoTLS)
		if m := pr.sink.Messages(); len(m) != 1 || m[0].MailOpts.RequireTLS {
			t.Errorf("messages %+v", m)
		}
	})
	t.Run("TLS-Required: No over an invalid certificate", func(t *testing.T) {
		_, srv := tlsServer(t, nil, wrongName, false)
		res, c, err := sendOne(t, srv.Addr, RelaxedOptions(verifying), nil)
		if err != nil || res.Recipients[0].Status != client.Accepted {
			t.Fatalf("%v %+v", err, res)
		}
		if _, ok := c.TLS(); !ok {
			t.Error("not over TLS")
		}
		if verifying.TLSConfig.InsecureSkipVerify {
			t.Error("caller's config modified")
		}
	})
	t.Run("TLS-Required: No without STARTTLS", func(t *testing.T) {
		_, srv := tlsServer(t, nil, nil, false)
		res, _, err := sendOne(t, srv.Addr, RelaxedOptions(nil), nil)
		if err != nil || res.Recipients[0].Status != client.Accepted {
			t.Fatalf("%v %+v", err, res)
		}
	})
}

func TestMailParams(t *testing.T) {
	d := &Delivery{}
	if p := d.MailParams(nil, &client.Envelope{}); len(p) != 1 || p[0] != "REQUIRETLS" {
		t.Errorf("%q", p)
	}
	if p := d.MailParams(nil, &client.Envelope{MailParams: []string{"requiretls"}}); len(p) != 0 {
		t.Errorf("duplicate %q", p)
	}
	if d.Name() != "requiretls" {
		t.Error(d.Name())
	}
}

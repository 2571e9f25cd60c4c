//go:build interop

package requiretls

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
)

func eximSend(t *testing.T, e *interop.Exim, opts *client.Options) (*client.Result, *client.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	opts.Hostname = "relay.test"
	c, err := client.Dial(ctx, interop.Addr(e.Port), opts)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.Close() })
	env := &client.Envelope{From: "a@client.test", To: []string{"b@peer.test"}}
	res, err := c.Send(ctx, env, strings.NewReader(testMsg))
	return res, c, err
}

// Exim 4.96 does not offer REQUIRETLS: the message is refused with
// 5.7.30 over TLS, and nothing of it reaches Exim.
func TestEximWithoutREQUIRETLS(t *testing.T) {
	e := interop.StartExim(t, "")
	d := &Delivery{Host: "peer.test", Authenticated: func(tls.ConnectionState) bool { return true }}
	res, c, err := eximSend(t, e, d.ClientOptions(&client.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}))
	if c == nil {
		t.Fatalf("Dial: %v", err)
	}
	if _, ok := c.TLS(); !ok {
		t.Fatal("no TLS with Exim")
	}
	wantRefused(t, res, err, ReplyNoREQUIRETLS)
	c.Close()
	time.Sleep(200 * time.Millisecond)
	if log := e.MainLog(); strings.Contains(log, "<=") || strings.Contains(log, "a@client.test") {
		t.Errorf("Exim saw the message:\n%s", log)
	}
	if n := len(e.Messages()); n != 0 {
		t.Errorf("Exim holds %d messages", n)
	}
}

// Without STARTTLS: Dial fails, and an opportunistic connection refuses
// the message with 5.7.10; never cleartext. (interop's StartExim sets
// tls_advertise_hosts itself, and Exim refuses an option set twice: the
// engine ignores the keyword instead.)
func TestEximWithoutSTARTTLS(t *testing.T) {
	e := interop.StartExim(t, "")
	d := &Delivery{Host: "peer.test"}
	noTLS := []string{"STARTTLS"}
	if _, _, err := eximSend(t, e, d.ClientOptions(&client.Options{IgnoreKeywords: noTLS})); !errors.Is(err, client.ErrTLSRequired) {
		t.Errorf("Dial: %v", err)
	}
	res, _, err := eximSend(t, e, &client.Options{Extensions: []client.Extension{d}, IgnoreKeywords: noTLS})
	wantRefused(t, res, err, ReplyNoTLS)
	time.Sleep(200 * time.Millisecond)
	if log := e.MainLog(); strings.Contains(log, "<=") {
		t.Errorf("Exim saw the message:\n%s", log)
	}
}

// TLS-Required: No to Exim's self-signed certificate: delivered over TLS.
func TestEximTLSRequiredNo(t *testing.T) {
	e := interop.StartExim(t, "")
	res, c, err := eximSend(t, e, RelaxedOptions(&client.Options{TLSConfig: &tls.Config{ServerName: "peer.test"}}))
	if err != nil || res.Recipients[0].Status != client.Accepted {
		t.Fatalf("%v %+v", err, res)
	}
	if _, ok := c.TLS(); !ok {
		t.Error("not over TLS")
	}
	e.WaitMessages(1, 20*time.Second)
	if log := e.MainLog(); !strings.Contains(log, "P=esmtps") {
		t.Errorf("Exim did not receive over TLS:\n%s", log)
	}
}

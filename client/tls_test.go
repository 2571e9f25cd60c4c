package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func TestSTARTTLS(t *testing.T) {
	srv := startTLS(t)
	var verified atomic.Int32
	cfg := &tls.Config{
		RootCAs: srv.CA.Pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			verified.Add(1)
			// Verified against the IP address (no SNI for an IP).
			if len(cs.VerifiedChains) == 0 {
				t.Errorf("VerifyConnection without a verified chain")
			}
			return nil
		},
	}
	for _, policy := range []TLSPolicy{TLSOpportunistic, TLSRequired} {
		c := dialT(t, srv.Addr, &Options{TLSConfig: cfg, TLSPolicy: policy})
		st, ok := c.TLS()
		if !ok || !st.HandshakeComplete || st.Version < tls.VersionTLS12 {
			t.Fatalf("%v: TLS %v %+v", policy, ok, st)
		}
		// The EHLO after TLS was read: go-smtp drops STARTTLS from it.
		if _, ok := c.Extension("STARTTLS"); ok {
			t.Fatal("STARTTLS still listed after TLS")
		}
		send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
	}
	if verified.Load() != 2 {
		t.Fatalf("VerifyConnection called %d times", verified.Load())
	}
	if cfg.ServerName != "" {
		t.Fatal("caller's tls.Config was modified")
	}
	for _, s := range srv.be.sessions() {
		if !s.TLS || s.Helo != "client.test" {
			t.Fatalf("server saw %+v", s)
		}
	}
}

func TestSTARTTLSServerName(t *testing.T) {
	srv := startTLS(t)
	// Dial by name: ServerName defaults to the host part.
	_, port, _ := net.SplitHostPort(srv.Addr)
	var got string
	d := dialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
	})
	c := dialT(t, net.JoinHostPort("mx.test", port), &Options{Dialer: d, TLSPolicy: TLSRequired, TLSConfig: &tls.Config{
		RootCAs:          srv.CA.Pool(),
		VerifyConnection: func(cs tls.ConnectionState) error { got = cs.ServerName; return nil },
	}})
	if _, ok := c.TLS(); !ok || got != "mx.test" {
		t.Fatalf("ServerName %q", got)
	}
}

type dialerFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

func TestSTARTTLSFailure(t *testing.T) {
	srv := startTLS(t)
	other := pkitest.NewCA(t, pkitest.ECDSA) // not the server's CA
	refuse := errors.New("DANE says no")
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want error
	}{
		{"unknown CA", &tls.Config{RootCAs: other.Pool()}, nil},
		{"VerifyConnection", &tls.Config{RootCAs: srv.CA.Pool(), VerifyConnection: func(tls.ConnectionState) error { return refuse }}, refuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Required: an error, and nothing sent in plaintext.
			before := len(srv.Sink.Messages())
			_, err := Dial(testCtx(t), srv.Addr, &Options{TLSConfig: tc.cfg, TLSPolicy: TLSRequired})
			var te *tlsError
			if !errors.As(err, &te) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err %v", err)
			}
			// Opportunistic: a second connection, in plaintext.
			c := dialT(t, srv.Addr, &Options{TLSConfig: tc.cfg})
			if _, ok := c.TLS(); ok {
				t.Fatal("TLS after fallback")
			}
			if _, ok := c.Extension("STARTTLS"); !ok {
				t.Fatal("the plaintext connection still sees STARTTLS offered")
			}
			send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
			if len(srv.Sink.Messages()) != before+1 {
				t.Fatal("message not delivered")
			}
		})
	}
}

func TestTLSNone(t *testing.T) {
	srv := startTLS(t)
	c := dialT(t, srv.Addr, &Options{TLSPolicy: TLSNone})
	if _, ok := c.TLS(); ok {
		t.Fatal("TLS with TLSNone")
	}
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
	if s := srv.be.sessions(); len(s) != 1 || s[0].TLS {
		t.Fatalf("%+v", s)
	}
}

func TestTLSRequiredNotOffered(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink) // no TLSConfig: no STARTTLS
	_, err := Dial(testCtx(t), srv.Addr, &Options{TLSPolicy: TLSRequired})
	if !errors.Is(err, ErrTLSRequired) || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("err %v", err)
	}
}

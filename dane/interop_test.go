//go:build interop

package dane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// startUnbound runs interop.StartUnbound and returns a Resolver for it.
func startUnbound(t *testing.T, zones map[string]string) *Resolver {
	t.Helper()
	return &Resolver{Addr: interop.StartUnbound(t, zones), Timeout: 5 * time.Second}
}

func TestInteropUnboundExim(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	names := []string{"ee.dane.test", "ee512.dane.test", "sel0.dane.test", "ta.dane.test", "ta0.dane.test",
		"mismatch.dane.test", "notlsa.dane.test", "mx.bogus.test", "mx.insecure.test", "insecaddr.dane.test"}
	leaf := in.Issue(t, pkitest.Leaf{Names: names})
	other := in.Issue(t, pkitest.Leaf{Names: []string{"other.test"}})
	r := func(c *pkitest.Cert, u, s, m uint8) string { return rec(t, c.Certificate, u, s, m).String() }
	res := startUnbound(t, map[string]string{
		"dane.test": fmt.Sprintf(`
ee A 127.0.0.1
_25._tcp.ee TLSA %s
ee512 A 127.0.0.1
_25._tcp.ee512 TLSA %s
sel0 A 127.0.0.1
_25._tcp.sel0 TLSA %s
ta A 127.0.0.1
_25._tcp.ta TLSA %s
ta0 A 127.0.0.1
_25._tcp.ta0 TLSA %s
mismatch A 127.0.0.1
_25._tcp.mismatch TLSA %s
notlsa A 127.0.0.1
insecaddr CNAME mx.insecure.test.
_25._tcp.insecaddr TLSA %s
`, r(leaf, 3, 1, 1), r(leaf, 3, 1, 2), r(leaf, 3, 0, 1), r(in.Cert, 2, 1, 1), r(in.Cert, 2, 0, 1), r(other, 3, 1, 1), r(leaf, 3, 1, 1)),
		"bogus.test":    fmt.Sprintf("mx A 127.0.0.1\n_25._tcp.mx TLSA %s\n", r(leaf, 3, 1, 1)),
		"insecure.test": fmt.Sprintf("mx A 127.0.0.1\n_25._tcp.mx TLSA %s\n", r(leaf, 3, 1, 1)),
	})

	// Exim 4.96 as the receiving MX, with the certificate the TLSA
	// records describe.
	// Exim reads them as Debian-exim: a folder all may enter.
	dir, err := os.MkdirTemp("", "dane-exim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	files := leaf.WriteFiles(t, dir)
	os.Chmod(files.Key, 0o644)
	exim := interop.StartExim(t, fmt.Sprintf("tls_certificate = %s\ntls_privatekey = %s\n", files.FullChain, files.Key))
	addr := interop.Addr(exim.Port)

	ctx := context.Background()
	delivered := 0
	for _, tc := range []struct {
		host    string
		mode    Mode
		wantErr error  // from Lookup
		dialErr bool   // handshake refused
		cv      string // on success
	}{
		{host: "ee.dane.test", mode: Try, cv: "dane"},
		{host: "ee.dane.test", mode: Require, cv: "dane"},
		{host: "ee512.dane.test", mode: Require, cv: "dane"},
		{host: "sel0.dane.test", mode: Require, cv: "dane"},
		{host: "ta.dane.test", mode: Try, cv: "dane"},
		{host: "ta0.dane.test", mode: Require, cv: "dane"},
		{host: "mismatch.dane.test", mode: Try, dialErr: true},
		{host: "mismatch.dane.test", mode: Require, dialErr: true},
		{host: "notlsa.dane.test", mode: Try, cv: "no"},
		{host: "notlsa.dane.test", mode: Require, wantErr: ErrNoTLSA},
		{host: "mx.bogus.test", mode: Try, wantErr: ErrLookup},
		{host: "mx.bogus.test", mode: Require, wantErr: ErrLookup},
		{host: "mx.insecure.test", mode: Try, cv: "no"},
		{host: "mx.insecure.test", mode: Require, wantErr: ErrNotSecure},
		{host: "insecaddr.dane.test", mode: Try, cv: "no"},
		{host: "insecaddr.dane.test", mode: Require, wantErr: ErrNotSecure},
	} {
		t.Run(tc.mode.String()+"/"+tc.host, func(t *testing.T) {
			p, err := Lookup(ctx, Destination{Host: tc.host}, &Options{Mode: tc.mode, Resolver: res})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Lookup: %v, want %v", err, tc.wantErr)
				}
				t.Logf("deferred: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			opts := &client.Options{
				Hostname:  "client.test",
				TLSConfig: p.TLSConfig(&tls.Config{InsecureSkipVerify: true}),
				Timeouts:  client.Timeouts{Connect: 5 * time.Second, Command: 10 * time.Second},
			}
			if p.TLSRequired() {
				opts.TLSPolicy = client.TLSRequired
			}
			c, err := client.Dial(ctx, addr, opts)
			if tc.dialErr {
				if err == nil {
					c.Close()
					t.Fatal("delivered despite a mismatching TLSA record")
				}
				if res := p.Result(); !errors.Is(res.Err, ErrNoMatch) {
					t.Fatalf("result %+v", res)
				}
				t.Logf("deferred: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if _, ok := c.TLS(); !ok {
				t.Fatal("no TLS")
			}
			res := p.Result()
			if res.CV != tc.cv {
				t.Fatalf("CV=%s, want %s (%+v)", res.CV, tc.cv, res)
			}
			sr, err := c.Send(ctx, &client.Envelope{From: "a@client.test", To: []string{"b@peer.test"}},
				strings.NewReader("Subject: dane "+tc.host+"\r\n\r\nhello\r\n"))
			if err != nil || sr.Recipients[0].Reply != nil && sr.Recipients[0].Reply.Code/100 != 2 {
				t.Fatalf("Send: %v %+v", err, sr)
			}
			delivered++
			t.Logf("CV=%s %v", res.CV, res.LogValue())
		})
	}
	exim.WaitMessages(delivered, 20*time.Second)
}

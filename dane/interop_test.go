//go:build interop

package dane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// startUnbound runs a validating unbound on a loopback port, serving the
// zones (name -> zone text) as ../shared/recipes/dnssec-unbound.sh does:
// each zone signed with fresh keys (ldns-keygen, ldns-signzone) and its
// KSK as trust anchor; a zone named bogus.* is signed with signatures that
// expired in 2020; one named insecure.* is left unsigned.
func startUnbound(t *testing.T, zones map[string]string) *Resolver {
	t.Helper()
	interop.Need(t, "unbound", "ldns-keygen", "ldns-signzone")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var anchors, auth, insecure strings.Builder
	for z, text := range zones {
		zf := filepath.Join(dir, z+".zone")
		body := fmt.Sprintf("$ORIGIN %s.\n$TTL 300\n@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n@ NS ns.%s.\nns A 127.0.0.1\n%s\n", z, z, z, z, text)
		if err := os.WriteFile(zf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		served := zf
		if strings.HasPrefix(z, "insecure.") {
			fmt.Fprintf(&insecure, "    domain-insecure: %q\n", z)
		} else {
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
				return strings.TrimSpace(string(out))
			}
			ksk := run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", z)
			zsk := run("ldns-keygen", "-a", "ECDSAP256SHA256", z)
			args := []string{"ldns-signzone"}
			if strings.HasPrefix(z, "bogus.") {
				args = append(args, "-i", "20200101000000", "-e", "20200201000000")
			}
			run(append(args, "-o", z, zf, ksk, zsk)...)
			k, err := os.ReadFile(filepath.Join(dir, ksk+".key"))
			if err != nil {
				t.Fatal(err)
			}
			anchors.Write(k)
			served = zf + ".signed"
		}
		fmt.Fprintf(&auth, "auth-zone:\n  name: %q\n  zonefile: %q\n  for-upstream: yes\n  for-downstream: no\n", z, served)
	}
	if err := os.WriteFile(filepath.Join(dir, "anchors.keys"), []byte(anchors.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := interop.FreePort(t)
	conf := fmt.Sprintf(`server:
    interface: 127.0.0.1
    port: %d
    do-ip6: no
    username: ""
    chroot: ""
    directory: %q
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    val-log-level: 2
    ede: yes
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "validator iterator"
    trust-anchor-file: %q
    root-hints: ""
    local-zone: "test." nodefault
%s
remote-control:
    control-enable: no
%s`, port, dir, filepath.Join(dir, "anchors.keys"), insecure.String(), auth.String())
	cf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unbound-checkconf", cf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	// -d: stay in the foreground, so that the test owns the pid.
	interop.Start(t, "unbound", "-d", "-c", cf)
	addr := interop.Addr(port)
	interop.WaitPort(t, addr, 10*time.Second)
	return &Resolver{Addr: addr, Timeout: 5 * time.Second}
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

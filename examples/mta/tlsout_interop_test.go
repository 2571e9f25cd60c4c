//go:build interop

package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/ocsp"
)

// eximWithCert starts Exim as the receiving MX with leaf's certificate
// chain, and extra configuration.
func eximWithCert(t *testing.T, leaf *pkitest.Cert, extra string) *interop.Exim {
	t.Helper()
	// Exim reads the files as Debian-exim: a folder all may enter.
	dir, err := os.MkdirTemp("", "mta-exim-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	files := leaf.WriteFiles(t, dir)
	os.Chmod(files.Key, 0o644)
	return interop.StartExim(t, fmt.Sprintf("tls_certificate = %s\ntls_privatekey = %s\n%s", files.FullChain, files.Key, extra))
}

// The MTA binary delivers through a validating unbound to Exim, with
// -dane try and -dane require: matching DANE-EE and DANE-TA records give
// CV=dane, a mismatching record and a bogus zone defer, and an insecure
// zone or a secure one without TLSA records get ordinary TLS under try
// and a deferral under require.
func TestInteropDANEToExim(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	var names []string
	for _, h := range []string{"ee", "ta", "mismatch", "notlsa"} {
		names = append(names, "mx."+h+".dane.test")
	}
	leaf := in.Issue(t, pkitest.Leaf{Names: append(names, "mx.bogus.test", "mx.insecure.test")})
	other := in.Issue(t, pkitest.Leaf{Names: names})
	exim := eximWithCert(t, leaf, "")
	port := tlsaPort(t, interop.Addr(exim.Port)) // the TLSA records of the port dialled
	mx := func(label, rec string) string {
		s := fmt.Sprintf("%[1]s MX 10 mx.%[1]s\nmx.%[1]s A 127.0.0.1\n", label)
		if rec != "" {
			s += fmt.Sprintf("%s._tcp.mx.%s TLSA %s\n", port, label, rec)
		}
		return s
	}
	ee := tlsa(t, leaf.Certificate, 3, 1, 1)
	dns := interop.StartUnbound(t, map[string]string{
		"dane.test": mx("ee", ee) + mx("ta", tlsa(t, in.Certificate, 2, 1, 1)) +
			mx("mismatch", tlsa(t, other.Certificate, 3, 1, 1)) + mx("notlsa", ""),
		"bogus.test":    "@ MX 10 mx\nmx A 127.0.0.1\n" + port + "._tcp.mx TLSA " + ee + "\n",
		"insecure.test": "@ MX 10 mx\nmx A 127.0.0.1\n" + port + "._tcp.mx TLSA " + ee + "\n",
	})
	domains := []string{"ee.dane.test", "ta.dane.test", "mismatch.dane.test", "notlsa.dane.test", "bogus.test", "insecure.test"}
	want := map[string]map[string]string{ // mode -> domain -> CV= of the delivery, "" for a deferral
		"try":     {"ee.dane.test": "dane", "ta.dane.test": "dane", "notlsa.dane.test": "no", "insecure.test": "no"},
		"require": {"ee.dane.test": "dane", "ta.dane.test": "dane"},
	}
	delivered := 0
	for _, mode := range []string{"try", "require"} {
		t.Run(mode, func(t *testing.T) {
			p, addr, _ := startBinary(t, "-dns", dns, "-remote-port", strconv.Itoa(exim.Port), "-retry", "1h", "-dane", mode)
			var rcpts []string
			for _, d := range domains {
				rcpts = append(rcpts, mode+"@"+d)
			}
			if err := submit(addr, "sender@example.test", rcpts, []byte("Subject: dane "+mode+"\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
			for _, d := range domains {
				cv := want[mode][d]
				if cv == "" {
					waitLog(t, p, "domain="+d+" perm=false")
					t.Logf("%s", logLine(p.Output(), "domain="+d+" perm=false"))
					continue
				}
				needle := "rcpt=" + mode + "@" + d
				waitLog(t, p, needle)
				line := logLine(p.Output(), needle)
				if !strings.Contains(line, "result=delivered") || !strings.Contains(line, " cv="+cv+" ") {
					t.Fatalf("%s: %s", d, line)
				}
				delivered++
			}
		})
	}
	// One transaction per domain: one message per delivered domain.
	if msgs := exim.WaitMessages(delivered, 30*time.Second); len(msgs) != delivered {
		t.Fatalf("Exim holds %d messages, want %d", len(msgs), delivered)
	}
}

// sClientStatus runs `openssl s_client -starttls smtp -status` against
// addr and returns its output.
func sClientStatus(t *testing.T, addr, caFile string) string {
	t.Helper()
	out, _ := interop.Run(t, 20*time.Second, "sh", "-c",
		fmt.Sprintf("echo QUIT | openssl s_client -connect %s -starttls smtp -servername mx.test -status -CAfile %s 2>&1", addr, caFile))
	return out
}

func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// openssl s_client -status sees the MTA's staple; after the file is
// replaced by a revoked response the next connection staples nothing, and
// an expired response is never stapled.
func TestInteropStapleWithSClient(t *testing.T) {
	interop.Need(t, "openssl")
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}})
	dir := t.TempDir()
	files := leaf.WriteFiles(t, dir)
	staple := filepath.Join(dir, "ocsp.der")
	writeAtomic(t, staple, in.OCSP(t, leaf, pkitest.OCSPOptions{}))
	_, addr, _ := startBinary(t, "-tls-cert", files.FullChain, "-tls-key", files.Key, "-ocsp-file", staple)
	out := sClientStatus(t, addr, files.CA)
	if !strings.Contains(out, "OCSP Response Status: successful") || !strings.Contains(out, "Cert Status: good") ||
		!strings.Contains(out, "Verify return code: 0 (ok)") {
		t.Fatalf("no good staple:\n%s", out)
	}
	for _, o := range []pkitest.OCSPOptions{{Status: ocsp.Revoked}, {Expired: true}} {
		writeAtomic(t, staple, in.OCSP(t, leaf, o))
		if out := sClientStatus(t, addr, files.CA); !strings.Contains(out, "OCSP response: no response sent") {
			t.Fatalf("%+v stapled:\n%s", o, out)
		}
	}
}

// -ocsp-refresh fetches the staple from an `openssl ocsp` responder named
// in the certificate, and the MTA staples it.
func TestInteropRefreshFromOpensslOCSP(t *testing.T) {
	interop.Need(t, "openssl")
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	port := interop.FreePort(t)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}, OCSPURL: fmt.Sprintf("http://127.0.0.1:%d/", port)})
	dir := t.TempDir()
	files := leaf.WriteFiles(t, dir)
	interop.StartOpenSSLOCSP(t, filepath.Join(dir, "responder"), port, in, leaf, false)
	staple := filepath.Join(dir, "ocsp.der")
	_, addr, _ := startBinary(t, "-tls-cert", files.FullChain, "-tls-key", files.Key, "-ocsp-file", staple, "-ocsp-refresh")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(staple); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresher wrote no staple")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := sClientStatus(t, addr, files.CA); !strings.Contains(out, "Cert Status: good") {
		t.Fatalf("the refreshed staple is not served:\n%s", out)
	}
}

// The MTA with -ocsp require delivers to Exim stapling a good response
// (tls_ocsp_file), and defers where Exim staples nothing or a revoked one.
func TestInteropOCSPRequireToExim(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.remote.test"}})
	for _, tc := range []struct {
		name   string
		staple []byte
		ok     bool
	}{
		{"good", in.OCSP(t, leaf, pkitest.OCSPOptions{}), true},
		{"missing", nil, false},
		{"revoked", in.OCSP(t, leaf, pkitest.OCSPOptions{Status: ocsp.Revoked}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.staple != nil {
				dir, err := os.MkdirTemp("", "mta-ocsp-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				os.Chmod(dir, 0o755)
				f := filepath.Join(dir, "ocsp.der")
				writeAtomic(t, f, tc.staple)
				extra = "tls_ocsp_file = " + f + "\n"
			}
			exim := eximWithCert(t, leaf, extra)
			dns := mxTo(t)
			p, addr, _ := startBinary(t, "-dns", dns.Addr(), "-remote-port", strconv.Itoa(exim.Port), "-retry", "1h", "-ocsp", "require")
			if err := submit(addr, "sender@example.test", []string{"r@remote.test"}, []byte("Subject: ocsp\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				waitLog(t, p, "rcpt=r@remote.test")
				if line := logLine(p.Output(), "rcpt=r@remote.test"); !strings.Contains(line, "result=delivered") || !strings.Contains(line, "ocsp.status=good") {
					t.Fatalf("delivery: %s", line)
				}
				exim.WaitMessages(1, 20*time.Second)
				return
			}
			waitLog(t, p, "domain=remote.test perm=false")
			if line := logLine(p.Output(), `msg="connection failed"`); !strings.Contains(line, "ocsp.status=") {
				t.Fatalf("connection line: %s", line)
			}
			if n := len(exim.Messages()); n != 0 {
				t.Fatalf("Exim received %d messages", n)
			}
		})
	}
}

// Exim 4.96 as the sending client with hosts_require_dane = * delivers to
// the MTA, whose generated certificate the test publishes as a 3 1 1
// TLSA record in a zone that unbound validates: Exim's log shows CV=dane.
// Exim's stub resolver only asks port 53, so unbound listens on
// 127.0.10.53:53 and Exim sees it through a private /etc/resolv.conf.
func TestInteropEximRequiresDANEToMTA(t *testing.T) {
	_, addr, data := startBinary(t, "-hostname", "mx.dane.test", "-local-domains", "dane.test")
	certPEM, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	ns := interop.StartUnboundOn(t, "127.0.10.53", 53, map[string]string{
		"dane.test": fmt.Sprintf("mx A 127.0.0.1\n_%d._tcp.mx TLSA %s\n", port, tlsa(t, cert, 3, 1, 1)),
	})
	log := interop.EximSendResolving(t, "127.0.10.53", "dnssec_require_domains = *", "mx.dane.test", port,
		"sender@elsewhere.test", []string{"dane@dane.test"}, "Subject: dane\n\nvia DANE\n", "hosts_require_dane = *")
	line := ""
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "=> dane@dane.test") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, "CV=dane") {
		t.Fatalf("Exim (resolver %s) did not deliver with CV=dane:\n%s", ns, log)
	}
	if msgs := maildirFiles(t, data, "dane@dane.test"); len(msgs) != 1 {
		t.Fatalf("%d messages in the mailbox", len(msgs))
	}
}

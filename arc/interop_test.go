//go:build interop

package arc_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/arc"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// Interoperability with dkimpy (Debian python3-dkim, whose arcsign needs
// python3-authres): its arcsign seals, and dkim.arc_verify (what
// arcverify runs) verifies, through internal/interop.DkimpyARCVerify, which
// looks keys up on this test's DNS server on loopback rather than on the
// resolvers of /etc/resolv.conf.

// peer is the DNS world and the keys of one interop test.
type peer struct {
	t      *testing.T
	srv    *dnstest.Server
	python string // the interpreter dkimpy is installed for
	pyKey  string // dkimpy's private key file
	ours   *rsa.PrivateKey
	ourEd  ed25519.PrivateKey
}

const (
	ourDomain = "relay1.test" // our sealer, selectors "rsa" and "ed"
	pyDomain  = "relay2.test" // dkimpy's sealer, selector "py"
)

func newPeer(t *testing.T) *peer {
	t.Helper()
	interop.Need(t, "arcsign", "arcverify")
	p := &peer{t: t, python: interop.Interpreter(t, "arcsign")}
	var err error
	if p.ours, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	_, p.ourEd, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pyKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.pyKey = filepath.Join(t.TempDir(), "py.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(pyKey)})
	if err := os.WriteFile(p.pyKey, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	p.srv = dnstest.Start(t,
		dnstest.Zone{Name: ourDomain, Text: "rsa._domainkey TXT " + txt(record(t, p.ours.Public())) + "\n" +
			"ed._domainkey TXT " + txt(record(t, p.ourEd.Public()))},
		dnstest.Zone{Name: pyDomain, Text: "py._domainkey TXT " + txt(record(t, pyKey.Public()))},
	)
	return p
}

func record(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	if ed, ok := pub.(ed25519.PublicKey); ok {
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(ed)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

// txt quotes a record as zone file character-strings of 255 bytes or
// less.
func txt(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}

// run runs a command with stdin and returns its standard output; its
// standard error goes to the test log.
func (p *peer) run(stdin string, name string, args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", name, args, err, errOut.String())
	}
	return out.String()
}

// dkimpyVerify is dkimpy's verdict on msg: "pass", "fail", "none" or "".
func (p *peer) dkimpyVerify(msg string) (cv, line string) {
	p.t.Helper()
	return interop.DkimpyARCVerify(p.t, p.srv.Addr(), msg)
}

// ourVerify is our verdict on msg.
func (p *peer) ourVerify(msg string) *arc.Result {
	p.t.Helper()
	res, err := arc.Verify(context.Background(), strings.NewReader(msg), &arc.VerifyOptions{LookupTXT: p.srv.Resolver().LookupTXT})
	if err != nil {
		p.t.Fatal(err)
	}
	return res
}

// both checks that dkimpy and we agree on want, at instance n.
func (p *peer) both(msg string, want arc.State, n int) {
	p.t.Helper()
	cv, line := p.dkimpyVerify(msg)
	if cv != string(want) {
		p.t.Errorf("dkimpy at i=%d: %s, want %s", n, line, want)
	}
	res := p.ourVerify(msg)
	if res.State != want || res.Instance != n {
		p.t.Errorf("we at i=%d: %s (%s) at i=%d, want %s", n, res.State, res.Reason, res.Instance, want)
	}
}

// ourSeal adds our set to msg, after the Authentication-Results field
// our hop adds on entry.
func (p *peer) ourSeal(msg string, signer crypto.Signer, selector, results string) string {
	p.t.Helper()
	msg = "Authentication-Results: " + ourDomain + "; " + results + "\r\n" + msg
	set, err := arc.Seal(strings.NewReader(msg), &arc.SealOptions{
		Domain: ourDomain, Selector: selector, Signer: signer, Timestamps: true, Expire: arc.DefaultExpire,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	if set.Header == "" {
		p.t.Fatalf("no set: %s", set.Skipped)
	}
	return set.Header + msg
}

// pySeal has dkimpy's arcsign add its set.
func (p *peer) pySeal(msg, results string) string {
	p.t.Helper()
	msg = "Authentication-Results: " + pyDomain + "; " + results + "\r\n" + msg
	out := p.run(msg, "arcsign", "py", pyDomain, p.pyKey, pyDomain)
	if !strings.HasPrefix(out, "ARC-Seal:") && !strings.HasPrefix(out, "ARC-Message-Signature:") && !strings.HasPrefix(out, "ARC-Authentication-Results:") {
		p.t.Fatalf("arcsign added no set:\n%s", out)
	}
	return out
}

const original = "From: Ann <ann@sender.test>\r\n" +
	"To: list@relay1.test\r\n" +
	"Subject: interop\r\n" +
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n" +
	"Message-ID: <interop@sender.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"Hello,  with two spaces\r\n" +
	"and a trailing one \r\n" +
	"\r\n"

// TestInteropChain builds a chain of three sets, alternating sealers
// (ours, dkimpy, ours), and has both verifiers check it at each step.
func TestInteropChain(t *testing.T) {
	p := newPeer(t)
	msg := original
	p.both(msg, arc.StateNone, 0)

	msg = p.ourSeal(msg, p.ours, "rsa", "spf=pass smtp.mailfrom=sender.test; dkim=none")
	p.both(msg, arc.StatePass, 1)

	msg = p.pySeal(msg, "arc=pass")
	p.both(msg, arc.StatePass, 2)

	msg = p.ourSeal(msg, p.ours, "rsa", "arc=pass")
	p.both(msg, arc.StatePass, 3)
	if res := p.ourVerify(msg); strings.Join(res.Domains, ":") != ourDomain+":"+pyDomain+":"+ourDomain || res.OldestPass != 1 {
		t.Errorf("domains %q, oldest pass %d", res.Domains, res.OldestPass)
	}

	// A body changed after the last seal: the newest AMS fails on both
	// sides.
	p.both(strings.Replace(msg, "Hello,", "Hullo,", 1), arc.StateFail, 3)
	// A changed seal: its signature fails.
	p.both(strings.Replace(msg, "cv=pass", "cv=pass ", 1), arc.StateFail, 3)
}

// TestInteropDkimpyFirst has dkimpy seal first and us second.
func TestInteropDkimpyFirst(t *testing.T) {
	p := newPeer(t)
	msg := p.pySeal(original, "spf=pass smtp.mailfrom=sender.test")
	p.both(msg, arc.StatePass, 1)
	msg = p.ourSeal(msg, p.ours, "rsa", "arc=pass")
	p.both(msg, arc.StatePass, 2)
	p.both(strings.Replace(msg, "two spaces", "three spaces", 1), arc.StateFail, 2)
}

// TestInteropEd25519 has dkimpy seal over our Ed25519 set (RFC 8463).
// dkimpy 1.1 verifies ARC with rsa-sha256 only ("unknown signature
// algorithm: b'ed25519-sha256'"), so only we verify the chain; its
// ARC-Seal covers our set byte for byte all the same.
func TestInteropEd25519(t *testing.T) {
	p := newPeer(t)
	msg := p.ourSeal(original, p.ourEd, "ed", "spf=pass smtp.mailfrom=sender.test")
	if res := p.ourVerify(msg); res.State != arc.StatePass {
		t.Fatalf("i=1: %s (%s)", res.State, res.Reason)
	}
	msg = p.pySeal(msg, "arc=pass")
	if res := p.ourVerify(msg); res.State != arc.StatePass || res.Instance != 2 {
		t.Errorf("i=2: %s (%s) at i=%d", res.State, res.Reason, res.Instance)
	}
	if _, line := p.dkimpyVerify(msg); !strings.Contains(line, "ed25519") {
		t.Logf("dkimpy now says %q: it may verify Ed25519 ARC seals; make this test check it", line)
	}
	if res := p.ourVerify(strings.Replace(msg, "trailing one", "trailing two", 1)); res.State != arc.StateFail {
		t.Errorf("changed body: %s", res.State)
	}
}

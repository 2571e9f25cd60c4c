package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// StartOpenSSLOCSP runs `openssl ocsp` as the responder of ca on port,
// answering for leaf (good, or revoked) with a delegated responder
// certificate, as ../shared/recipes/ocsp-pki.sh does. Its files go in dir.
// OpenSSL 3.0's responder takes a port only and binds every interface; it
// answers one request and exits. It is stopped, by its pid, when the test
// ends.
func StartOpenSSLOCSP(t testing.TB, dir string, port int, ca *pkitest.CA, leaf *pkitest.Cert, revoked bool) *Process {
	t.Helper()
	Need(t, "openssl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	signer := ca.NewOCSPSigner(t, pkitest.Leaf{})
	sf := signer.WriteFiles(t, filepath.Join(dir, "signer"))
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Format("060102150405Z")
	serial := strings.ToUpper(leaf.Certificate.SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	subject := "/CN=" + leaf.Certificate.Subject.CommonName
	line := fmt.Sprintf("V\t%s\t\t%s\tunknown\t%s\n", exp, serial, subject)
	if revoked {
		line = fmt.Sprintf("R\t%s\t%s,keyCompromise\t%s\tunknown\t%s\n", exp, time.Now().Add(-time.Hour).UTC().Format("060102150405Z"), serial, subject)
	}
	index := filepath.Join(dir, "index.txt")
	if err := os.WriteFile(index, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "issuer.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Start(t, "openssl", "ocsp", "-index", index, "-port", fmt.Sprint(port),
		"-rsigner", sf.Cert, "-rkey", sf.Key, "-CA", caFile, "-ndays", "1", "-nrequest", "1")
}

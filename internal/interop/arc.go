package interop

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// DkimpyARCVerify is dkimpy's verdict on the ARC chain of msg (Debian
// python3-dkim: dkim.arc_verify, what arcverify runs), with DKIM keys
// looked up over TCP at the DNS server dnsAddr ("127.0.0.1:port", such as
// a dnstest server) instead of the resolvers of /etc/resolv.conf. cv is
// "pass", "fail", "none" or ""; line is dkimpy's whole answer.
func DkimpyARCVerify(t testing.TB, dnsAddr, msg string) (cv, line string) {
	t.Helper()
	Need(t, "arcverify")
	python := Interpreter(t, "arcverify") // the interpreter dkimpy is installed for
	_, port, err := net.SplitHostPort(dnsAddr)
	if err != nil {
		t.Fatalf("DkimpyARCVerify: %v", err)
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "testdata", "dkimpy_arc_verify.py")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, port)
	cmd.Stdin = strings.NewReader(msg)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("dkimpy ARC verification: %v\n%s", err, errOut.String())
	}
	line = strings.TrimSpace(out.String())
	cv, _, _ = strings.Cut(strings.TrimPrefix(line, "cv="), " ")
	return cv, line
}

// Interpreter returns the interpreter named on the #! line of a program on
// PATH (python3 on PATH may be another installation than Debian's).
func Interpreter(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "#!") {
		t.Fatalf("%s has no #! line: %q %v", path, line, err)
	}
	return strings.Fields(line[2:])[0]
}

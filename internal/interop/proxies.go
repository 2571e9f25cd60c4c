package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartHAProxy runs Debian's HAProxy 2.6 in the foreground on a loopback
// port, forwarding TCP to target with send-proxy ("v1") or send-proxy-v2
// ("v2"), as ../shared/recipes/socks-proxy-peers.sh configures it, and
// returns the port it listens on. It is stopped by its pid when the test
// ends.
func StartHAProxy(t testing.TB, target, version string) int {
	t.Helper()
	Need(t, "haproxy")
	send, ok := map[string]string{"v1": "send-proxy", "v2": "send-proxy-v2"}[version]
	if !ok {
		t.Fatalf("StartHAProxy: version %q is not v1 or v2", version)
	}
	port := FreePort(t)
	cfg := fmt.Sprintf(`global
  maxconn 256
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend smtp_in
  bind 127.0.0.1:%d
  default_backend smtp_out
backend smtp_out
  server mta %s %s
`, port, target, send)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	Start(t, "haproxy", "-db", "-f", path)
	WaitPort(t, Addr(port), 10*time.Second)
	return port
}

// Dante user and password of the SOCKS5 server StartDante runs.
const (
	DanteUser = "smtpkit-socks"
	DantePass = "dante-Pa55"
)

// StartDante runs Debian's Dante 1.4 in the foreground on a loopback port,
// requiring RFC 1929 username authentication against the system user
// DanteUser (created for the test when missing, as
// ../shared/recipes/socks-proxy-peers.sh does; tests run as root), and
// returns its port and the path of its log. It is stopped by its pid when
// the test ends.
func StartDante(t testing.TB) (port int, logPath string) {
	t.Helper()
	Need(t, "danted", "useradd", "chpasswd")
	if err := exec.Command("id", DanteUser).Run(); err != nil {
		if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", DanteUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd (tests run as root): %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", DanteUser).Run() })
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(DanteUser + ":" + DantePass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	dir := t.TempDir()
	port = FreePort(t)
	logPath = filepath.Join(dir, "danted.log")
	conf := fmt.Sprintf(`logoutput: %s
internal: 127.0.0.1 port = %d
external: 127.0.0.1
clientmethod: none
socksmethod: username
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  log: connect error
}
`, logPath, port)
	path := filepath.Join(dir, "danted.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	Start(t, "danted", "-f", path)
	WaitPort(t, Addr(port), 10*time.Second)
	t.Cleanup(func() {
		if b, err := os.ReadFile(logPath); err == nil {
			t.Logf("danted.log:\n%s", b)
		}
	})
	return port, logPath
}

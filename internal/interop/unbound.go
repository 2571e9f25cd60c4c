package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartUnbound runs a validating unbound on a loopback port, serving the
// zones (name -> zone text) as ../shared/recipes/dnssec-unbound.sh does:
// each zone signed with fresh keys (ldns-keygen, ldns-signzone) and its
// KSK as trust anchor; a zone named bogus.* is signed with signatures that
// expired in 2020; one named insecure.* is left unsigned.
// It returns the resolver's "127.0.0.1:port"; unbound is stopped, by its
// pid, when the test ends.
func StartUnbound(t testing.TB, zones map[string]string) string {
	t.Helper()
	return StartUnboundOn(t, "127.0.0.1", FreePort(t), zones)
}

// StartUnboundOn is StartUnbound on a given loopback address and port,
// for peers such as Exim whose stub resolver only asks port 53 (see
// EximSendResolving).
func StartUnboundOn(t testing.TB, ip string, port int, zones map[string]string) string {
	t.Helper()
	Need(t, "unbound", "ldns-keygen", "ldns-signzone")
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
	conf := fmt.Sprintf(`server:
    interface: %s
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
%s`, ip, port, dir, filepath.Join(dir, "anchors.keys"), insecure.String(), auth.String())
	cf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unbound-checkconf", cf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	// -d: stay in the foreground, so that the test owns the pid.
	Start(t, "unbound", "-d", "-c", cf)
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	WaitPort(t, addr, 10*time.Second)
	return addr
}

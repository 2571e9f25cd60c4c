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

// EximSend makes Debian's Exim 4.96 deliver one message as an SMTP client
// to host:port, the way ../shared/recipes/exim-peer.sh does: a private
// spool, routing of every address to that host, PIPECONNECT and PRDR
// tried. transport holds extra smtp transport options (one per line).
// It returns Exim's main log, where the "=>" lines show TLS (X=), CV=,
// the early-pipelining flag L and the server's confirmation C="...".
//
// Exim must run as root with -C: it then drops to the Debian-exim user,
// which must own the spool; the configuration itself stays root's.
func EximSend(t testing.TB, host string, port int, from string, to []string, message string, transport ...string) string {
	t.Helper()
	return eximSend(t, "", "", host, port, from, to, message, transport)
}

// EximSendResolving is EximSend with Exim's DNS lookups going to the
// resolver at nameserver (an address whose port 53 answers, such as
// StartUnboundOn's), with the AD bit trusted: Exim runs in a private mount
// namespace where /etc/resolv.conf is replaced, so the machine's own is
// never touched. router holds extra manualroute options (one per line),
// e.g. "dnssec_require_domains = *" for DANE.
func EximSendResolving(t testing.TB, nameserver, router, host string, port int, from string, to []string, message string, transport ...string) string {
	t.Helper()
	Need(t, "unshare", "mount")
	return eximSend(t, nameserver, router, host, port, from, to, message, transport)
}

// EximClient is Exim 4.96 as an SMTP client with a spool of its own that
// lasts for the test, so that its hints (PIPECONNECT's EHLO cache, retry
// data) carry over from one message to the next.
type EximClient struct {
	t          testing.TB
	dir        string
	confPath   string
	spool      string
	nameserver string
}

// NewEximClient prepares Exim to send to host:port as EximSend does;
// each Send is one message.
func NewEximClient(t testing.TB, host string, port int, transport ...string) *EximClient {
	t.Helper()
	return newEximClient(t, "", "", host, port, transport)
}

func eximSend(t testing.TB, nameserver, router, host string, port int, from string, to []string, message string, transport []string) string {
	t.Helper()
	return newEximClient(t, nameserver, router, host, port, transport).Send(from, to, message)
}

func newEximClient(t testing.TB, nameserver, router, host string, port int, transport []string) *EximClient {
	t.Helper()
	Need(t, "exim4")
	dir, err := os.MkdirTemp("", "exim-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Exim drops privileges: the folder must be reachable by Debian-exim.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(filepath.Join(spool, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	dnssec, bydns := "", ""
	if nameserver != "" {
		// Ask for DNSSEC, and look hosts up in the DNS (not through
		// gethostbyname), so that DANE can see validated answers.
		dnssec, bydns = "dns_dnssec_ok = 1", " bydns"
	}
	conf := fmt.Sprintf(`primary_hostname = client.test
spool_directory = %s
log_file_path = %s/log/%%slog
log_selector = +pipelining +tls_certificate_verified +received_recipients
keep_environment =
%s
begin routers
r1:
  driver = manualroute
  route_list = * %s::%d%s
  self = send
  transport = t1
%s
begin transports
t1:
  driver = smtp
  allow_localhost
  hosts_pipe_connect = *
  hosts_try_prdr = *
%s
begin retry
* * F,1h,1m
`, spool, spool, dnssec, host, port, bydns, indent(strings.Split(router, "\n")), indent(transport))
	confPath := filepath.Join(dir, "client.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "Debian-exim", spool).CombinedOutput(); err != nil {
		t.Fatalf("chown spool for Exim (tests run as root): %v %s", err, out)
	}
	return &EximClient{t: t, dir: dir, confPath: confPath, spool: spool, nameserver: nameserver}
}

// Send submits one message (exim -odi: delivered at once) and returns
// Exim's main log so far.
func (c *EximClient) Send(from string, to []string, message string) string {
	t := c.t
	t.Helper()
	dir, confPath, spool, nameserver := c.dir, c.confPath, c.spool, c.nameserver
	args := append([]string{"-C", confPath, "-odi", "-f", from}, to...)
	cmd := exec.Command("exim4", args...)
	if nameserver != "" {
		resolv := filepath.Join(dir, "resolv.conf")
		// glibc passes the AD bit on only with trust-ad (glibc 2.31).
		if err := os.WriteFile(resolv, []byte("nameserver "+nameserver+"\noptions trust-ad\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		script := `mount --bind "$0" /etc/resolv.conf && exec "$@"`
		cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, resolv, "exim4"}, args...)...)
	}
	cmd.Stdin = strings.NewReader(message)
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Logf("exim4: %v\n%s", err, out)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("exim4 did not finish in 60 s")
	}
	log, err := os.ReadFile(filepath.Join(spool, "log", "mainlog"))
	if err != nil {
		t.Fatalf("exim main log: %v (output: %s)", err, out)
	}
	return string(log)
}

func indent(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		b.WriteString("  ")
		b.WriteString(strings.TrimSpace(l))
		b.WriteByte('\n')
	}
	return b.String()
}

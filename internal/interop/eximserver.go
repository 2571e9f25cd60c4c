package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Exim is an Exim 4.96 daemon listening on a loopback port for one test,
// configured as ../shared/recipes/exim-peer.sh does: primary_hostname
// peer.test, PRDR and PIPECONNECT advertised, SMTPUTF8, every recipient
// accepted except local part "badrcpt" (refused at RCPT), "prdrdeny*"
// (refused per recipient after data) and "prdrdefer" (deferred there),
// and every message delivered into one Maildir.
type Exim struct {
	Dir  string
	Port int
	t    testing.TB
}

// StartExim starts the daemon; extra is added to the main section of its
// configuration, and replaces the defaults it sets again (Exim refuses an
// option set twice): "tls_advertise_hosts =" turns STARTTLS off,
// "smtputf8_advertise_hosts =" SMTPUTF8. It is stopped, by its pid, when
// the test ends.
func StartExim(t testing.TB, extra string) *Exim {
	t.Helper()
	Need(t, "exim4")
	dir, err := os.MkdirTemp("", "exim-server-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &Exim{Dir: dir, Port: FreePort(t), t: t}
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(filepath.Join(spool, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`primary_hostname = peer.test
spool_directory = %[1]s
log_file_path = %[1]s/log/%%slog
daemon_smtp_ports = %[2]d
local_interfaces = 127.0.0.1
keep_environment =
# Deliver every message at once: by default Exim only queues messages past
# the tenth on one connection, and this daemon runs no queue.
smtp_accept_queue_per_connection = 0
%[4]s
acl_smtp_rcpt = acl_rcpt
acl_smtp_data_prdr = acl_prdr
log_selector = +pipelining +smtp_connection +received_recipients +tls_certificate_verified +proxy +smtp_confirmation
%[3]s
begin acl
acl_rcpt:
  deny local_parts = badrcpt
  accept
acl_prdr:
  deny local_parts = ^prdrdeny.*
       message = content refused for $local_part@$domain
  defer local_parts = prdrdefer
  accept
begin routers
r1:
  driver = accept
  transport = t1
begin transports
t1:
  driver = appendfile
  directory = %[1]s/maildir
  maildir_format
  create_directory
  user = Debian-exim
`, spool, e.Port, extra, eximDefaults(extra))
	confPath := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "Debian-exim", spool).CombinedOutput(); err != nil {
		t.Fatalf("chown spool for Exim (tests run as root): %v %s", err, out)
	}
	pidFile := filepath.Join(dir, "exim.pid")
	if out, err := exec.Command("exim4", "-C", confPath, "-bd", "-oX", strconv.Itoa(e.Port), "-oP", pidFile).CombinedOutput(); err != nil {
		t.Fatalf("exim4 -bd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		e.stop(pidFile)
		t.Logf("exim server log:\n%s", e.MainLog())
		os.RemoveAll(dir)
	})
	WaitPort(t, Addr(e.Port), 10*time.Second)
	return e
}

func (e *Exim) stop(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// MainLog returns the daemon's main log so far.
func (e *Exim) MainLog() string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "spool", "log", "mainlog"))
	return string(b)
}

// Messages returns the messages delivered so far, in no particular order.
func (e *Exim) Messages() []string {
	var out []string
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(e.Dir, "spool", "maildir", sub)
		entries, _ := os.ReadDir(dir)
		for _, ent := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, ent.Name())); err == nil {
				out = append(out, string(b))
			}
		}
	}
	return out
}

// WaitMessages waits until at least n messages were delivered and returns
// them; it fails the test after timeout.
func (e *Exim) WaitMessages(n int, timeout time.Duration) []string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := e.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("exim holds %d messages, want %d, after %v\n%s", len(msgs), n, timeout, e.MainLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eximDefaults are the main options StartExim sets unless extra does.
func eximDefaults(extra string) string {
	set := map[string]bool{}
	for _, line := range strings.Split(extra, "\n") {
		if name, _, ok := strings.Cut(line, "="); ok {
			set[strings.TrimSpace(name)] = true
		}
	}
	var b strings.Builder
	for _, opt := range []string{"prdr_enable = true", "pipelining_connect_advertise_hosts = *",
		"smtputf8_advertise_hosts = *", "tls_advertise_hosts = *"} {
		name, _, _ := strings.Cut(opt, " =")
		if !set[name] {
			b.WriteString(opt + "\n")
		}
	}
	return b.String()
}

package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartPostgres runs Debian's PostgreSQL server on a loopback port with
// its own data directory, as the postgres user when the test runs as root,
// and returns a URL for it. It is stopped, by its pid, when the test ends.
func StartPostgres(t testing.TB) string {
	t.Helper()
	bin := ""
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) > 0 {
		slices.Sort(m)
		bin = filepath.Dir(m[len(m)-1])
	} else if p, err := exec.LookPath("postgres"); err == nil {
		bin = filepath.Dir(p)
	} else {
		t.Fatal("PostgreSQL is missing (.ci/run installs the Debian package postgresql)")
	}
	dir, err := os.MkdirTemp("", "interop-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// As root, PostgreSQL refuses to run: drop to the postgres user with
	// setpriv, which execs, so the pid is the server's own.
	var asUser []string
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v %s", dir, err, out)
		}
		asUser = []string{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"}
	}
	cmd := func(name string, args ...string) []string {
		return append(append(slices.Clone(asUser), filepath.Join(bin, name)), args...)
	}
	initdb := cmd("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := Run(t, time.Minute, initdb[0], initdb[1:]...); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := FreePort(t)
	server := cmd("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "full_page_writes=off")
	p := Start(t, server[0], server[1:]...)
	t.Cleanup(func() {
		// SIGINT is PostgreSQL's fast shutdown; Start's
		// SIGTERM (smart) would wait for clients.
		p.Signal(os.Interrupt)
		if err := p.Wait(10 * time.Second); err != nil {
			t.Logf("postgres: %v", err)
		}
	})
	WaitPort(t, Addr(port), 20*time.Second)
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	// Ready when it answers a query, not when it listens.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(filepath.Join(bin, "psql"), "-d", url, "-Atc", "SELECT 1").CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "1" {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not ready: %v %s\n%s", err, out, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

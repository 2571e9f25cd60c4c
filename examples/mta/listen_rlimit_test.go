package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv carries the flags of the MTA that TestListenChildMTA runs in a
// child process, separated by 0x1f bytes; childNoFile its RLIMIT_NOFILE.
const (
	childEnv    = "SMTPKIT_LISTEN_CHILD_ARGS"
	childNoFile = 256
)

// TestListenChildMTA is the MTA itself when the test binary is run again
// by startChild; otherwise it does nothing.
func TestListenChildMTA(t *testing.T) {
	args, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	lim := syscall.Rlimit{Cur: childNoFile, Max: childNoFile}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	os.Args = append([]string{"mta"}, strings.Split(args, "\x1f")...)
	main()
}

// child is an MTA process started by startChild.
type child struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	mu     sync.Mutex
	log    strings.Builder
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

var listeningAt = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startChild runs the MTA with args in a process of its own, under an
// RLIMIT_NOFILE of childNoFile, and waits for its address.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	args = append([]string{"-data", t.TempDir(), "-hostname", "mx.test", "-local-domains", "example.test",
		"-listen", "127.0.0.1:0", "-dns", "127.0.0.1:9", "-log-level", "debug"}, args...)
	cmd := exec.Command(os.Args[0], "-test.run=^TestListenChildMTA$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.log.WriteString(line + "\n")
			c.mu.Unlock()
			if m := listeningAt.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() {
		<-scanned
		cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		if c.alive() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-c.exited
			}
		}
		if t.Failed() {
			t.Logf("MTA log:\n%s", c.output())
		}
	})
	select {
	case c.addr = <-addr:
	case <-c.exited:
		t.Fatalf("MTA exited at start:\n%s", c.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("MTA never listened:\n%s", c.output())
	}
	return c
}

// Out of file descriptors, accept(2) fails with EMFILE until connections
// close. The MTA waits and tries again, as net/http does, in both modes,
// and serves the next client once the flood has gone.
func TestListenSurvivesDescriptorExhaustion(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"plain", nil}, {"prdr", []string{"-prdr"}}} {
		t.Run(mode.name, func(t *testing.T) {
			// No per-host limit: every connection takes a descriptor.
			c := startChild(t, append([]string{"-max-connections-per-host", "0"}, mode.args...)...)
			var flood []net.Conn
			defer func() {
				for _, f := range flood {
					f.Close()
				}
			}()
			for i := 0; i < 300; i++ {
				f, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				flood = append(flood, f)
			}
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(c.output(), "too many open files") {
				if !c.alive() {
					t.Fatalf("MTA exited under the flood:\n%s", c.output())
				}
				if time.Now().After(deadline) {
					t.Fatalf("the MTA never ran out of descriptors:\n%s", c.output())
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, f := range flood {
				f.Close()
			}
			flood = nil
			if !c.alive() {
				t.Fatalf("MTA exited under the flood:\n%s", c.output())
			}
			p := servedSoon(t, c.addr, "127.0.0.1")
			if l := p.cmd(t, "EHLO client.test"); !strings.HasPrefix(l, "250 ") {
				t.Fatalf("EHLO after the flood: %q", l)
			}
			p.cmd(t, "MAIL FROM:<s@x.test>")
			p.cmd(t, "RCPT TO:<after@example.test>")
			if l := p.cmd(t, "DATA"); !strings.HasPrefix(l, "354 ") {
				t.Fatalf("DATA after the flood: %q", l)
			}
			if l := p.cmd(t, "Subject: after\r\n\r\nserved\r\n."); !strings.HasPrefix(l, "250 ") {
				t.Fatalf("message after the flood: %q", l)
			}
			if !c.alive() {
				t.Fatalf("MTA exited:\n%s", c.output())
			}
			if !strings.Contains(c.output(), `level=WARN msg="accept failed; retrying"`) {
				t.Fatal("accept failures not logged at warn")
			}
		})
	}
}

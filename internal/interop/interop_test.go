package interop

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHelpers(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", Addr(port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	WaitPort(t, Addr(port), time.Second)

	out, err := Run(t, 5*time.Second, "sh", "-c", "echo hi; exit 3")
	if err == nil || strings.TrimSpace(out) != "hi" {
		t.Fatalf("Run: %q %v", out, err)
	}
	if _, err := Run(t, 100*time.Millisecond, "sleep", "5"); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Run timeout: %v", err)
	}

	p := Start(t, "sh", "-c", "echo started; exec sleep 30")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Output(), "started") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Stop(5 * time.Second); err == nil {
		t.Fatal("a process stopped by SIGTERM reported success")
	}
	if err := p.Signal(os.Interrupt); err == nil {
		t.Fatal("signal to an exited process succeeded")
	}
	Need(t, "sh")
}

package rttproxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// lineEcho answers every line with "ok <line>", one write per line.
func lineEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, "ok "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestFlightsAndDelay(t *testing.T) {
	const delay = 5 * time.Millisecond
	p := Start(t, lineEcho(t), delay)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)

	// Three exchanges in lock step: three client flights.
	start := time.Now()
	for i := 0; i < 3; i++ {
		io.WriteString(c, "a\n")
		if line, err := br.ReadString('\n'); err != nil || line != "ok a\n" {
			t.Fatalf("got %q, %v", line, err)
		}
	}
	if el := time.Since(start); el < 3*2*delay {
		t.Errorf("3 round trips took %v, want at least %v", el, 6*delay)
	}
	if got := p.ClientFlights(); got != 3 {
		t.Errorf("client flights %d, want 3", got)
	}
	if got := p.ServerFlights(); got != 3 {
		t.Errorf("server flights %d, want 3", got)
	}

	// Three lines in one write, then the three replies: one flight more.
	io.WriteString(c, "x\ny\nz\n")
	var got []string
	for i := 0; i < 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(line))
	}
	if strings.Join(got, ",") != "ok x,ok y,ok z" {
		t.Errorf("replies %q", got)
	}
	if got := p.ClientFlights(); got != 4 {
		t.Errorf("client flights %d, want 4", got)
	}
	if p.Conns() != 1 {
		t.Errorf("conns %d", p.Conns())
	}
}

func TestHalfCloseAndClose(t *testing.T) {
	p := Start(t, lineEcho(t), 0)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "bye\n")
	c.(*net.TCPConn).CloseWrite()
	// The server sees EOF after the line, answers, and closes: the
	// client reads the reply and then EOF.
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "ok bye\n" {
		t.Fatalf("got %q, %v", b, err)
	}
	p.Close()
	p.Close() // idempotent
	if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		t.Error("proxy still listening after Close")
	}
}

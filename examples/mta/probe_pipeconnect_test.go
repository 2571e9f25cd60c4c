package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// PIPECONNECT: a client may send before the banner. One that floods
// commands from the start and never reads a reply is cut once a write
// to it has waited the idle timeout; it holds no session beyond that.
// Without -pipeconnect (go-smtp alone, which drops write errors and
// reads on) the same holds.
func TestProbePipeconnectFloodNeverReading(t *testing.T) {
	for _, pc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "pipeconnect"}[pc], func(t *testing.T) {
			cfg := testConfig(t)
			cfg.PipeConnect = pc
			cfg.IdleTimeout = 500 * time.Millisecond
			tm := startMTA(t, cfg)
			conn, err := net.Dial("tcp", tm.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.(*net.TCPConn).SetReadBuffer(4096)
			flood := []byte("EHLO client.test\r\n" + strings.Repeat("MAIL FROM:<s@x.test>\r\n", 2000))
			done := make(chan struct{})
			defer close(done)
			go func() {
				conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := conn.Write(flood); err != nil {
						return
					}
				}
			}()
			// The server's log line for the closed connection.
			deadline := time.Now().Add(30 * time.Second)
			for len(tm.logs.lines("msg=connection ")) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the server kept a client that never reads")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

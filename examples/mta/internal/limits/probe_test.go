package limits

import (
	"net"
	"sync"
	"testing"
	"time"
)

// addrConn reports a chosen client address, as a PROXY listener does.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// addrListener gives its connections the addresses of remotes in turn.
type addrListener struct {
	net.Listener
	mu      sync.Mutex
	remotes []string
}

func (l *addrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	r := l.remotes[0]
	l.remotes = l.remotes[1:]
	l.mu.Unlock()
	return addrConn{c, &net.TCPAddr{IP: net.ParseIP(r), Port: 4000}}, nil
}

// One host is one host whatever the form of its address: an IPv4
// client seen through an IPv6 socket (::ffff:a.b.c.d), or with a zone,
// counts with its plain IPv4 connections against MaxPerHost.
func TestProbePerHostMappedAddresses(t *testing.T) {
	inner := &addrListener{Listener: listen(t), remotes: []string{"192.0.2.7", "::ffff:192.0.2.7", "::ffff:c000:0207"}}
	l := NewListener(inner, &Options{MaxPerHost: 1, Logger: quiet, RefuseTimeout: time.Second})
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var got []error
	for range 3 {
		sc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		_, err = sc.Write([]byte("220 x\r\n"))
		got = append(got, err)
	}
	if got[0] != nil || got[1] != ErrRefused || got[2] != ErrRefused {
		t.Fatalf("writes: %v; want the mapped forms refused as the same host", got)
	}
}

// Counting under churn: many clients of one host connect at once and
// most close at once (some before their first byte, some while their
// 421 is being written, some with a reset). Afterwards every place is
// free again: Open is 0 and the host gets MaxPerHost connections, no
// more.
func TestProbeCountingUnderChurn(t *testing.T) {
	inner := listen(t)
	l := NewListener(inner, &Options{MaxConnections: 40, MaxPerHost: 3, Logger: quiet, RefuseTimeout: 200 * time.Millisecond})
	var served sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() {
				defer served.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write([]byte("220 x\r\n")); err != nil {
					return
				}
				buf := make([]byte, 64)
				c.Read(buf) // until the client closes
			}()
		}
	}()
	var clients sync.WaitGroup
	for i := range 300 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				return
			}
			switch i % 3 {
			case 0:
				c.(*net.TCPConn).SetLinger(0) // reset
			case 1:
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				c.Read(make([]byte, 8))
			}
			c.Close()
		}()
	}
	clients.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for l.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still counted after every client closed", l.Open())
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	left := len(l.perHost)
	l.mu.Unlock()
	if left != 0 {
		t.Fatalf("per-host counts left: %d hosts", left)
	}
}

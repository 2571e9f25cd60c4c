package socks5

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
)

// testServer is a SOCKS5 server for tests: RFC 1928 CONNECT with the
// NO AUTHENTICATION or, when User is set, only the USERNAME/PASSWORD
// method (RFC 1929), on a loopback port.
type testServer struct {
	User, Pass string
	// Reply, if non-zero, is sent instead of connecting.
	Reply Reply
	// Stall makes the server read the greeting and never answer.
	Stall bool

	Addr string
	ln   net.Listener

	mu      sync.Mutex
	targets []string
	conns   int
}

func startServer(t *testing.T, s *testServer) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				s.serve(c)
			}()
		}
	}()
	return s
}

func (s *testServer) port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *testServer) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

func (s *testServer) serve(c net.Conn) {
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	if s.Stall {
		io.Copy(io.Discard, c)
		return
	}
	want := byte(0)
	if s.User != "" {
		want = 2
	}
	ok := false
	for _, m := range methods {
		ok = ok || m == want
	}
	if !ok {
		c.Write([]byte{5, 0xFF})
		return
	}
	c.Write([]byte{5, want})
	if want == 2 {
		var b [2]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 1 {
			return
		}
		user := make([]byte, b[1])
		io.ReadFull(c, user)
		if _, err := io.ReadFull(c, b[:1]); err != nil {
			return
		}
		pass := make([]byte, b[0])
		if _, err := io.ReadFull(c, pass); err != nil {
			return
		}
		if string(user) != s.User || string(pass) != s.Pass {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		var a [4]byte
		io.ReadFull(c, a[:])
		host = netip.AddrFrom4(a).String()
	case 4:
		var a [16]byte
		io.ReadFull(c, a[:])
		host = netip.AddrFrom16(a).String()
	case 3:
		var l [1]byte
		io.ReadFull(c, l[:])
		name := make([]byte, l[0])
		io.ReadFull(c, name)
		host = string(name)
	default:
		c.Write([]byte{5, byte(ReplyAddressNotSupported), 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	var pb [2]byte
	if _, err := io.ReadFull(c, pb[:]); err != nil {
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb[:]))))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	if s.Reply != 0 {
		c.Write([]byte{5, byte(s.Reply), 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	if host == "localhost" {
		target = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(binary.BigEndian.Uint16(pb[:]))))
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Write([]byte{5, byte(ReplyConnectionRefused), 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	bnd := up.LocalAddr().(*net.TCPAddr).AddrPort()
	a := bnd.Addr().As4()
	rep := append([]byte{5, 0, 0, 1}, a[:]...)
	rep = binary.BigEndian.AppendUint16(rep, bnd.Port())
	c.Write(rep)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, up)
}

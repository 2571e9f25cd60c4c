package proxyproto

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// v2sig is the v2 signature (spec section 2.2).
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v2 builds a v2 header by the spec (section 2.2), independently of the
// parser under test: cmd 0 LOCAL or 1 PROXY, fam 0x11 TCP over IPv4, 0x21
// TCP over IPv6, 0x00 UNSPEC.
func v2(cmd, fam byte, src, dst netip.AddrPort, tlvs ...TLV) []byte {
	var body []byte
	switch fam {
	case 0x11:
		a, b := src.Addr().As4(), dst.Addr().As4()
		body = append(append(body, a[:]...), b[:]...)
	case 0x21:
		a, b := src.Addr().As16(), dst.Addr().As16()
		body = append(append(body, a[:]...), b[:]...)
	}
	if fam != 0 {
		body = binary.BigEndian.AppendUint16(body, src.Port())
		body = binary.BigEndian.AppendUint16(body, dst.Port())
	}
	for _, t := range tlvs {
		body = append(body, t.Type)
		body = binary.BigEndian.AppendUint16(body, uint16(len(t.Value)))
		body = append(body, t.Value...)
	}
	out := append([]byte(nil), v2sig...)
	out = append(out, 0x20|cmd, fam)
	out = binary.BigEndian.AppendUint16(out, uint16(len(body)))
	return append(out, body...)
}

// sslTLV builds a PP2_TYPE_SSL value (spec section 2.2.5).
func sslTLV(client byte, verify uint32, subs ...TLV) TLV {
	v := []byte{client}
	v = binary.BigEndian.AppendUint32(v, verify)
	for _, t := range subs {
		v = append(v, t.Type)
		v = binary.BigEndian.AppendUint16(v, uint16(len(t.Value)))
		v = append(v, t.Value...)
	}
	return TLV{Type: TypeSSL, Value: v}
}

var (
	client4 = netip.MustParseAddrPort("192.0.2.10:41234")
	target4 = netip.MustParseAddrPort("198.51.100.1:25")
	client6 = netip.MustParseAddrPort("[2001:db8::10]:41234")
	target6 = netip.MustParseAddrPort("[2001:db8::1]:587")
)

// loopbackOnly requires 127.0.0.0/8 and ::1.
func loopbackOnly(timeout time.Duration) *Options {
	hosts, _ := ParseHosts("127.0.0.0/8, ::1")
	return &Options{RequiredHosts: hosts, Timeout: timeout, Logger: slog.New(slog.DiscardHandler)}
}

// serve runs a go-smtp server for be behind a Listener with opts on
// 127.0.0.1:0 (wrap may add layers, such as TLS) until the test ends.
func serve(t *testing.T, opts *Options, be smtp.Backend, wrap func(net.Listener) net.Listener, configure ...func(*smtp.Server)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener = NewListener(l, opts)
	if wrap != nil {
		ln = wrap(ln)
	}
	srv := smtp.NewServer(NewBackend(be))
	srv.Domain = "mx.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = true
	srv.ErrorLog = testLog{t}
	for _, f := range configure {
		f(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

type testLog struct{ t *testing.T }

func (l testLog) Printf(format string, v ...any) {}
func (l testLog) Println(v ...any)               {}

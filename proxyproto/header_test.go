package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestReadHeader(t *testing.T) {
	ssl := sslTLV(0x01|0x02, 0,
		TLV{0x21, []byte("TLSv1.3")},
		TLV{0x22, []byte("client.example")},
		TLV{0x23, []byte("TLS_AES_128_GCM_SHA256")},
	)
	tests := []struct {
		name    string
		in      []byte
		want    Info
		ssl     *SSL
		wantErr bool
	}{
		{name: "v1 TCP4", in: []byte("PROXY TCP4 192.0.2.10 198.51.100.1 41234 25\r\n"),
			want: Info{Version: 1, ClientAddr: client4, TargetAddr: target4}},
		{name: "v1 TCP6", in: []byte("PROXY TCP6 2001:db8::10 2001:db8::1 41234 587\r\n"),
			want: Info{Version: 1, ClientAddr: client6, TargetAddr: target6}},
		{name: "v1 UNKNOWN", in: []byte("PROXY UNKNOWN\r\n"), want: Info{Version: 1, Local: true}},
		{name: "v1 UNKNOWN with addresses", in: []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
			want: Info{Version: 1, Local: true}},
		{name: "v2 TCP4", in: v2(1, 0x11, client4, target4), want: Info{Version: 2, ClientAddr: client4, TargetAddr: target4}},
		{name: "v2 TCP6", in: v2(1, 0x21, client6, target6), want: Info{Version: 2, ClientAddr: client6, TargetAddr: target6}},
		{name: "v2 LOCAL", in: v2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}), want: Info{Version: 2, Local: true}},
		{name: "v2 LOCAL with a block", in: v2(0, 0x11, client4, target4), want: Info{Version: 2, Local: true}},
		// Spec section 2.2: for LOCAL the receiver "must use the real
		// connection endpoints and discard the protocol block including
		// the family which is ignored": its len bytes are skipped,
		// whatever they hold.
		{name: "v2 LOCAL, block of no TLVs", in: fixLen(append(v2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}), TypeAuthority, 0, 9, 'x')),
			want: Info{Version: 2, Local: true}},
		{name: "v2 LOCAL, addresses then junk", in: fixLen(append(v2(0, 0x11, client4, target4), 0xff, 0xff)),
			want: Info{Version: 2, Local: true}},
		{name: "v2 LOCAL, block shorter than its family's addresses", in: append(append(append([]byte(nil), v2sig...), 0x20, 0x11, 0, 3), 1, 2, 3),
			want: Info{Version: 2, Local: true}},
		{name: "v2 LOCAL, undefined family", in: fixLen(append(append(append([]byte(nil), v2sig...), 0x20, 0xff, 0, 0), "\r\nQUIT\r\n\x00"...)),
			want: Info{Version: 2, Local: true}},
		{name: "v2 LOCAL, block over the bound", in: fixLen(append(v2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}), make([]byte, 4097)...)),
			wantErr: true},
		{name: "v2 LOCAL, block cut short", in: append(append(append([]byte(nil), v2sig...), 0x20, 0x00, 0, 200), 'x'), wantErr: true},
		{name: "v2 PROXY UNSPEC", in: v2(1, 0x00, netip.AddrPort{}, netip.AddrPort{}), wantErr: true},
		{name: "v2 PROXY, undefined family", in: fixLen(append(append(append([]byte(nil), v2sig...), 0x21, 0xff, 0, 0), make([]byte, 12)...)),
			wantErr: true},
		{name: "v2 TLVs", in: v2(1, 0x11, client4, target4,
			TLV{TypeAuthority, []byte("mx.example")}, TLV{0x04, []byte{0, 0}}, ssl, TLV{0xE0, []byte("app")}),
			want: Info{Version: 2, ClientAddr: client4, TargetAddr: target4, Authority: "mx.example"},
			ssl:  &SSL{ClientSSL: true, ClientCert: true, Verified: true, Version: "TLSv1.3", CommonName: "client.example", Cipher: "TLS_AES_128_GCM_SHA256"}},
		{name: "v1 bad family", in: []byte("PROXY UDP4 192.0.2.10 198.51.100.1 1 2\r\n"), wantErr: true},
		{name: "v1 bad address", in: []byte("PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n"), wantErr: true},
		{name: "v1 without CRLF", in: []byte("PROXY TCP4 192.0.2.10 198.51.100.1 1 2\n"), wantErr: true},
		{name: "v1 too long", in: []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), wantErr: true},
		{name: "v2 bad version", in: append(append([]byte(nil), v2sig...), 0x31, 0x11, 0, 0), wantErr: true},
		{name: "v2 truncated TLV", in: fixLen(append(v2(1, 0x11, client4, target4), TypeAuthority, 0, 9, 'x'))},
		{name: "not a header", in: []byte("EHLO client.example\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest := []byte("EHLO after\r\n")
			br := bufio.NewReader(bytes.NewReader(append(append([]byte(nil), tt.in...), rest...)))
			var got Info
			err := readHeader(br, &got)
			if tt.name == "v2 truncated TLV" {
				if err == nil {
					t.Fatal("truncated TLV accepted")
				}
				return
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.want.Version || got.Local != tt.want.Local || got.ClientAddr != tt.want.ClientAddr ||
				got.TargetAddr != tt.want.TargetAddr || got.Authority != tt.want.Authority {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if (got.SSL == nil) != (tt.ssl == nil) || (got.SSL != nil && *got.SSL != *tt.ssl) {
				t.Fatalf("SSL %+v, want %+v", got.SSL, tt.ssl)
			}
			// The header is consumed, and nothing after it.
			line, _ := br.ReadString('\n')
			if line != string(rest) {
				t.Fatalf("after the header: %q", line)
			}
		})
	}
}

// fixLen rewrites a v2 header's length field to cover what follows it.
func fixLen(b []byte) []byte {
	n := len(b) - 16
	b[14], b[15] = byte(n>>8), byte(n)
	return b
}

func TestTLVsExposed(t *testing.T) {
	br := bufio.NewReader(bytes.NewReader(v2(1, 0x21, client6, target6,
		TLV{TypeAuthority, []byte("a.example")}, TLV{TypeUniqueID, []byte("id-1")}, TLV{TypeALPN, []byte("smtp")})))
	var info Info
	if err := readHeader(br, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.TLVs) != 3 || info.TLVs[1].Type != TypeUniqueID {
		t.Fatalf("TLVs %+v", info.TLVs)
	}
	if v, ok := info.FindTLV(TypeALPN); !ok || string(v) != "smtp" {
		t.Fatalf("ALPN %q %v", v, ok)
	}
	if _, ok := info.FindTLV(TypeSSL); ok {
		t.Fatal("found an SSL TLV that was not sent")
	}
}

func TestNotAHeaderIsErrNoHeader(t *testing.T) {
	var info Info
	err := readHeader(bufio.NewReader(strings.NewReader("EHLO x\r\n")), &info)
	if !errors.Is(err, ErrNoHeader) {
		t.Fatalf("err %v", err)
	}
}

func TestParseHosts(t *testing.T) {
	got, err := ParseHosts("127.0.0.1, 10.0.0.0/8 2001:db8::/32\t::ffff:192.0.2.1 ::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32", "::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "host.example", "1.2.3"} {
		if _, err := ParseHosts(bad); err == nil {
			t.Errorf("ParseHosts(%q) accepted", bad)
		}
	}
	o := Options{RequiredHosts: got, IsRequired: func(a netip.Addr) bool { return a == netip.MustParseAddr("2001:db9::5") }}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": false, "10.1.2.3": true, "::ffff:10.1.2.3": true,
		"2001:db8::5": true, "2001:db9::5": true, "2001:db9::6": false, "::1": true,
	} {
		if got := o.required(netip.MustParseAddr(addr)); got != want {
			t.Errorf("required(%s) = %v", addr, got)
		}
	}
}

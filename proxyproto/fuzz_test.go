package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzReadHeader feeds arbitrary bytes to the header reader: it must never
// panic, never read past a header it accepts, and report what it accepts
// consistently.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.10 198.51.100.1 41234 25\r\nEHLO x\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::10 2001:db8::1 41234 587\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(1, 0x11, client4, target4))
	f.Add(v2(1, 0x21, client6, target6, TLV{TypeAuthority, []byte("a")}, sslTLV(1, 0, TLV{0x21, []byte("TLSv1.2")})))
	f.Add(v2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}))
	f.Add(fixLen(append(v2(0, 0x11, client4, target4), TypeAuthority, 0, 9, 'x')))
	f.Add(append(append([]byte(nil), v2sig...), 0x20, 0xff, 0, 3, 'a', 'b', 'c'))
	f.Add([]byte("EHLO x\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const trailer = "\x00TRAILER"
		all := append(append([]byte(nil), in...), trailer...)
		r := bytes.NewReader(all)
		br := bufio.NewReaderSize(r, 512)
		var info Info
		if err := readHeader(br, &info); err != nil {
			return
		}
		if info.Version != 1 && info.Version != 2 {
			t.Fatalf("version %d", info.Version)
		}
		if !info.Local && (!info.ClientAddr.IsValid() || !info.TargetAddr.IsValid()) {
			t.Fatalf("proxied header without addresses: %+v", info)
		}
		// Exactly the header was consumed: up to the v1 line's LF
		// (spec section 2.1), or the v2 block of the declared length
		// (section 2.2).
		want := 16 + int(binary.BigEndian.Uint16(all[14:16]))
		if info.Version == 1 {
			want = bytes.IndexByte(all, '\n') + 1
		}
		if got := len(all) - r.Len() - br.Buffered(); got != want {
			t.Fatalf("consumed %d bytes of %q, want %d", got, all, want)
		}
	})
}

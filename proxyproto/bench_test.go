package proxyproto

import (
	"bufio"
	"bytes"
	"testing"
)

func benchmarkHeader(b *testing.B, hdr []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(hdr)))
	r := bytes.NewReader(hdr)
	br := bufio.NewReaderSize(r, 512)
	for b.Loop() {
		r.Reset(hdr)
		br.Reset(r)
		var info Info
		if err := readHeader(br, &info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadHeaderV1(b *testing.B) {
	benchmarkHeader(b, []byte("PROXY TCP4 192.0.2.10 198.51.100.1 41234 25\r\n"))
}

func BenchmarkReadHeaderV1TCP6(b *testing.B) {
	benchmarkHeader(b, []byte("PROXY TCP6 2001:db8::10 2001:db8::1 41234 587\r\n"))
}

func BenchmarkReadHeaderV2(b *testing.B) {
	benchmarkHeader(b, v2(1, 0x11, client4, target4))
}

func BenchmarkReadHeaderV2TLVs(b *testing.B) {
	benchmarkHeader(b, v2(1, 0x21, client6, target6, TLV{TypeAuthority, []byte("mx.example")},
		sslTLV(1, 0, TLV{0x21, []byte("TLSv1.3")}, TLV{0x23, []byte("TLS_AES_128_GCM_SHA256")})))
}

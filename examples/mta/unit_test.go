package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if cfg.Listen != "127.0.0.1:2525" || cfg.DataDir != "./mta-data" || cfg.MaxSize != 50<<20 ||
		cfg.MaxRecipients != 100 || cfg.Quota != 0 || cfg.LogLevel != slog.LevelInfo || cfg.IdleTimeout != 5*time.Minute {
		t.Fatalf("defaults: %+v", cfg)
	}
	if strings.Join(cfg.LocalDomains, ",") != "localhost,"+normalizeDomain(host) {
		t.Fatalf("local domains %v", cfg.LocalDomains)
	}
	cfg, err = parseFlags([]string{"-local-domains", " A.test., b.TEST ,", "-log-level", "debug", "-hostname", "MX.Test."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.LocalDomains, ",") != "a.test,b.test" || cfg.LogLevel != slog.LevelDebug || cfg.Hostname != "mx.test" {
		t.Fatalf("parsed: %+v", cfg)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-tls-cert", "c.pem"},
		{"-log-level", "loud"},
		{"-quota", "-1"},
		{"-max-size", "0"},
		{"-max-recipients", "0"},
		{"-idle-timeout", "0s"},
		{"-hostname", ""},
		{"extra"},
		{"-no-such-flag"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestCertificateMadeKeptAndRenewed(t *testing.T) {
	cfg := config{DataDir: t.TempDir(), Hostname: "mx.test"}
	now := time.Now()
	c1, err := loadOrCreateCert(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.Leaf.VerifyHostname("mx.test"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "tls", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	c2, _ := loadOrCreateCert(cfg, now)
	if !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) {
		t.Fatal("certificate not kept across starts")
	}
	c3, _ := loadOrCreateCert(cfg, now.Add(certLifetime-certRenew/2))
	if bytes.Equal(c1.Certificate[0], c3.Certificate[0]) {
		t.Fatal("certificate near its end not renewed")
	}
	cfg.Hostname = "other.test"
	c4, _ := loadOrCreateCert(cfg, now)
	if c4.Leaf.VerifyHostname("other.test") != nil {
		t.Fatal("certificate not remade for a new hostname")
	}
	// Given files win, and bad ones are an error.
	cfg.TLSCert = filepath.Join(cfg.DataDir, "tls", "cert.pem")
	cfg.TLSKey = filepath.Join(cfg.DataDir, "tls", "key.pem")
	c5, err := loadOrCreateCert(cfg, now)
	if err != nil || !bytes.Equal(c5.Certificate[0], c4.Certificate[0]) {
		t.Fatalf("given files: %v", err)
	}
	cfg.TLSKey = cfg.TLSCert
	if _, err := loadOrCreateCert(cfg, now); err == nil {
		t.Fatal("bad key file accepted")
	}
}

func TestReceivedHeader(t *testing.T) {
	ri := receivedInfo{
		Helo:      "evil (x)\x01",
		PTR:       "host.example",
		RemoteIP:  net.ParseIP("2001:db8::1"),
		Hostname:  "mx.test",
		TLS:       &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		Auth:      true,
		ID:        "ID1",
		Recipient: "a@b.test",
		Time:      time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
	want := "Received: from evil??x?? (host.example [IPv6:2001:db8::1])\r\n" +
		"\tby mx.test (smtpkit) with ESMTPSA (TLS1.2) tls TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\r\n" +
		"\tid ID1\r\n\tfor <a@b.test>;\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\n"
	if got := ri.header(); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	ri.UTF8, ri.Comment = true, "REQUIRETLS"
	if got := ri.header(); !strings.Contains(got, " with UTF8SMTPSA (TLS1.2 REQUIRETLS) tls ") {
		t.Fatalf("SMTPUTF8 and REQUIRETLS not recorded:\n%s", got)
	}
	if addressLiteral(nil) != "[unknown]" || addressLiteral(net.ParseIP("192.0.2.1")) != "[192.0.2.1]" {
		t.Fatal("address literal")
	}
}

// lfConvert runs the CRLF->LF conversion over in, cut into pieces of n.
func lfConvert(in []byte, n int) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	lw := &lfWriter{w: bw}
	for len(in) > 0 {
		k := min(n, len(in))
		lw.Write(in[:k])
		in = in[k:]
	}
	lw.Flush()
	bw.Flush()
	return out.Bytes()
}

func TestLFWriter(t *testing.T) {
	in := []byte("a\r\nb\rc\r\r\n\r")
	want := "a\nb\rc\r\n\r"
	for n := 1; n <= len(in); n++ {
		if got := lfConvert(in, n); string(got) != want {
			t.Fatalf("pieces of %d: %q", n, got)
		}
	}
}

func FuzzLFWriter(f *testing.F) {
	f.Add([]byte("a\r\nb\rc\r\r\n\r"), uint8(3))
	f.Add([]byte("\r\r\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, n uint8) {
		want := bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n"))
		if got := lfConvert(in, int(n)+1); !bytes.Equal(got, want) {
			t.Fatalf("%q in pieces of %d: %q, want %q", in, int(n)+1, got, want)
		}
	})
}

// FuzzRecipient feeds untrusted recipient addresses through the checks
// that turn them into folder names.
func FuzzRecipient(f *testing.F) {
	m := &mta{cfg: config{LocalDomains: []string{"example.test"}}}
	for _, s := range []string{"a@example.test", "../x@example.test", "a/b@example.test", "@example.test",
		"a@", "\x00@example.test", "ü@example.test", "A@EXAMPLE.TEST.", strings.Repeat("a", 65) + "@example.test"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, addr string, utf8 bool) {
		if checkEncoding(addr, utf8) != nil {
			return
		}
		mb, err := m.mailboxName(addr)
		if err != nil {
			return
		}
		if strings.ContainsAny(mb, "/\x00") || mb != filepath.Base(mb) || !strings.HasSuffix(mb, "@example.test") {
			t.Fatalf("%q became mailbox %q", addr, mb)
		}
	})
}

func BenchmarkDeliver(b *testing.B) {
	for _, rcpts := range []int{1, 10} {
		b.Run(fmt.Sprintf("rcpts=%d", rcpts), func(b *testing.B) {
			store, err := newMaildirs(b.TempDir(), "mx.test", 0)
			if err != nil {
				b.Fatal(err)
			}
			var mbs []string
			for i := 0; i < rcpts; i++ {
				mbs = append(mbs, string(rune('a'+i))+"@example.test")
			}
			msg := bytes.Repeat([]byte(strings.Repeat("x", 76)+"\r\n"), 10<<10/78)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.deliver("Received: x\r\n", bytes.NewReader(msg), mbs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLFWriter(b *testing.B) {
	msg := bytes.Repeat([]byte(strings.Repeat("x", 76)+"\r\n"), 1<<20/78)
	bw := bufio.NewWriter(io.Discard)
	lw := &lfWriter{w: bw}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		lw.Write(msg)
	}
}

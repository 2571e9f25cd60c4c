package smtputf8

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckAddress(t *testing.T) {
	good := []string{
		"user@example.com",
		"用户@例子.广告",
		"Jörg.Müller@bücher.example",
		"ل@example.com",
		`"jörg müller"@example.com`,
		`"a\"b"@ü.de`,
		"ü@[192.0.2.1]",
		"ü@[IPv6:2001:db8::1]",
		"ü@[x-tag:abc]",
		"a!#$%&'*+-/=?^_`{|}~@example.com",
		"a@xn--bcher-kva.example",
		strings.Repeat("ü", 32) + "@example.com", // 64 octets
	}
	for _, a := range good {
		if err := CheckAddress(a, true); err != nil {
			t.Errorf("CheckAddress(%q, true): %v", a, err)
		}
	}
	if err := CheckAddress("user@example.com", false); err != nil {
		t.Errorf("ASCII without SMTPUTF8: %v", err)
	}
	if err := CheckAddress("ü@example.com", false); !errors.Is(err, ErrNeedsSMTPUTF8) {
		t.Errorf("UTF-8 without SMTPUTF8: %v", err)
	}
	bad := []string{
		"",
		"noat",
		"@example.com",
		"ü@",
		"a..b@example.com",
		".ü@example.com",
		"ü.@example.com",
		"a b@example.com",
		"ü@exa mple.com",
		"\xc0\xaf@example.com",         // overlong "/"
		"\xed\xa0\x80@example.com",     // surrogate U+D800
		"\xf4\x90\x80\x80@example.com", // past U+10FFFF
		"a\u0085b@example.com",         // C1 control
		"a\x01b@example.com",
		`"unterminated@example.com`,
		`"a"b"@example.com`,
		`"a\` + "\x01" + `"@example.com`,
		"ü@☃.net",
		"ü@-ab.de",
		"ü@ab-.de",
		"ü@a..de",
		"ü@[300.1.1.1]",
		"ü@[IPv6:zz]",
		"ü@[192.0.2.1",
		strings.Repeat("ü", 33) + "@example.com", // 66 octets
		"ü@" + strings.Repeat("a.", 128) + "de",
	}
	for _, a := range bad {
		if err := CheckAddress(a, true); !errors.Is(err, ErrAddressSyntax) {
			t.Errorf("CheckAddress(%q, true) = %v; want ErrAddressSyntax", a, err)
		}
	}
}

func TestKeyEqual(t *testing.T) {
	same := [][2]string{
		{"Jörg@Bücher.example", "Jörg@xn--bcher-kva.example"},
		{"Jo\u0308rg@bücher.example", "J\u00f6rg@BÜCHER.example"}, // NFD and NFC
		{"user@EXAMPLE.com", "user@example.com"},
		{"ü@XN--TDA.de", "ü@ü.de"},
	}
	for _, p := range same {
		if !Equal(p[0], p[1]) {
			t.Errorf("Equal(%q, %q) = false (keys %q, %q)", p[0], p[1], Key(p[0]), Key(p[1]))
		}
	}
	differ := [][2]string{
		{"User@example.com", "user@example.com"}, // local parts keep case
		{"jörg@example.com", "jorg@example.com"},
		{"a@b.example", "a@c.example"},
	}
	for _, p := range differ {
		if Equal(p[0], p[1]) {
			t.Errorf("Equal(%q, %q) = true", p[0], p[1])
		}
	}
	addr := "Jo\u0308rg@Bücher.example"
	_ = Key(addr)
	if addr != "Jo\u0308rg@Bücher.example" {
		t.Error("Key changed its argument")
	}
}

func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{"user@example.com", "用户@例子.广告", `"a\"b"@ü.de`, "ü@[IPv6:2001:db8::1]", "\xed\xa0\x80@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckAddress(s, true)
		if err != nil {
			if !errors.Is(err, ErrAddressSyntax) {
				t.Fatalf("CheckAddress(%q): unexpected error %v", s, err)
			}
			return
		}
		if !utf8.ValidString(s) || !strings.Contains(s, "@") || len(s) > MaxPathLength-2 {
			t.Fatalf("CheckAddress(%q) accepted it", s)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("CheckAddress(%q) accepted a control", s)
			}
		}
		// A valid address has a domain that DNS can look up.
		at := strings.LastIndexByte(s, '@')
		if d := s[at+1:]; d[0] != '[' {
			if _, err := DomainToALabel(d); err != nil {
				t.Fatalf("valid %q has a domain that does not convert: %v", s, err)
			}
		}
		err = CheckAddress(s, false)
		if isASCII(s) && err != nil || !isASCII(s) && !errors.Is(err, ErrNeedsSMTPUTF8) {
			t.Fatalf("CheckAddress(%q, false): %v", s, err)
		}
	})
}

func BenchmarkCheckAddress(b *testing.B) {
	for b.Loop() {
		if err := CheckAddress("Jörg.Müller@bücher.example", true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	for b.Loop() {
		Key("Jo\u0308rg@Bücher.example")
	}
}

package smtputf8

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestXtext(t *testing.T) {
	vectors := []struct{ in, x, u string }{
		{"user@example.com", "user@example.com", "user@example.com"},
		{"用户@例子.广告", `\x{7528}\x{6237}@\x{4F8B}\x{5B50}.\x{5E7F}\x{544A}`, "用户@例子.广告"},
		{"a+b=c@ü.de", `a\x{2B}b\x{3D}c@\x{FC}.de`, `a\x{2B}b\x{3D}c@ü.de`},
		{`"a\ b"@x`, `"a\x{5C}\x{20}b"@x`, `"a\x{5C}\x{20}b"@x`},
		{"\U0001F600@x", `\x{1F600}@x`, "\U0001F600@x"},
	}
	for _, v := range vectors {
		if x := EncodeXtext(v.in); x != v.x {
			t.Errorf("EncodeXtext(%q) = %q; want %q", v.in, x, v.x)
		}
		if u := EncodeUnitext(v.in); u != v.u {
			t.Errorf("EncodeUnitext(%q) = %q; want %q", v.in, u, v.u)
		}
		for _, enc := range []string{v.x, v.u} {
			if d, err := DecodeXtext(enc); err != nil || d != v.in {
				t.Errorf("DecodeXtext(%q) = %q, %v; want %q", enc, d, err, v.in)
			}
		}
	}
	for _, bad := range []string{`a+b`, `a=b`, `a b`, `\x{}`, `\x{D800}`, `\x{110000}`, `\x{0}`, `\x{1234567}`, `\x{12`, `\y{41}`, `\`, "a\x01", "\xff", `\x{+1}`, `\x{ZZ}`} {
		if d, err := DecodeXtext(bad); !errors.Is(err, ErrXtext) {
			t.Errorf("DecodeXtext(%q) = %q, %v; want ErrXtext", bad, d, err)
		}
	}
	if got := DSNAddress("a@b.example", false); got != "rfc822;a@b.example" {
		t.Errorf("DSNAddress ASCII = %q", got)
	}
	if got := DSNAddress("ü@b.example", false); got != `utf-8;\x{FC}@b.example` {
		t.Errorf("DSNAddress xtext = %q", got)
	}
	if got := DSNAddress("ü@b.example", true); got != "utf-8;ü@b.example" {
		t.Errorf("DSNAddress unitext = %q", got)
	}
}

func FuzzXtext(f *testing.F) {
	for _, s := range []string{"user@example.com", `\x{7528}@x`, `a\x{2B}b`, "ü@x", `\x{10FFFF}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := DecodeXtext(s); err == nil {
			if !utf8.ValidString(d) {
				t.Fatalf("DecodeXtext(%q) gave invalid UTF-8", s)
			}
			// The canonical encodings decode to the same.
			for _, enc := range []string{EncodeXtext(d), EncodeUnitext(d)} {
				if d2, err := DecodeXtext(enc); err != nil || d2 != d {
					t.Fatalf("%q -> %q -> %q -> %q, %v", s, d, enc, d2, err)
				}
			}
		}
		if !utf8.ValidString(s) {
			return
		}
		x := EncodeXtext(s)
		if !isASCII(x) {
			t.Fatalf("EncodeXtext(%q) = %q, not ASCII", s, x)
		}
		for _, enc := range []string{x, EncodeUnitext(s)} {
			if d, err := DecodeXtext(enc); err != nil || d != s {
				if containsNUL(s) {
					return // U+0000 has no EmbeddedUnicodeChar
				}
				t.Fatalf("round trip %q -> %q -> %q, %v", s, enc, d, err)
			}
		}
	})
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

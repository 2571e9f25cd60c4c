package smtputf8

import (
	"errors"
	"testing"

	"golang.org/x/net/idna"
)

// TestIDNA2008Derivation: code points that RFC 5892 section 3's
// derivation makes DISALLOWED although their general category is a
// letter or a mark, which UTS #46 keeps, are refused in U-labels and in
// the A-labels that encode them; their PVALID neighbours still convert.
func TestIDNA2008Derivation(t *testing.T) {
	disallowed := []struct{ label, why string }{
		// Section 2.9 OldHangulJamo: conjoining jamo that NFC does not
		// compose into a syllable.
		{"a\u1100", "leading jamo after a Latin letter"},
		{"\uA960\u1161", "old leading jamo (Hangul Jamo Extended-A)"},
		{"\u1100\u1161\u11FF", "old trailing jamo after a syllable"},
		{"a\u11A8", "trailing jamo alone"},
		{"a\uD7B0", "old vowel jamo (Hangul Jamo Extended-B)"},
		{"a\uD7CB", "old trailing jamo (Hangul Jamo Extended-B)"},
		// Section 2.5 IgnorableBlocks: Combining Diacritical Marks
		// for Symbols.
		{"a\u20D0", "COMBINING LEFT HARPOON ABOVE (Mn)"},
		{"a\u20F0", "COMBINING ASTERISK ABOVE (Mn)"},
		// Musical Symbols: the marks of the block (Mc, Mn) as well
		// as its symbols (So), and a symbol whose NFKC form ends in
		// a mark of the block.
		{"a\U0001D165", "MUSICAL SYMBOL COMBINING STEM (Mc)"},
		{"a\U0001D16D", "MUSICAL SYMBOL COMBINING AUGMENTATION DOT (Mc)"},
		{"a\U0001D17B", "MUSICAL SYMBOL COMBINING ACCENT (Mn)"},
		{"a\U0001D1AA", "MUSICAL SYMBOL COMBINING DOWN BOW (Mn)"},
		{"a\U0001D100", "MUSICAL SYMBOL SINGLE BARLINE (So)"},
		{"a\U0001D15E", "MUSICAL SYMBOL HALF NOTE (So, NFKC 1D157 1D165)"},
		// Ancient Greek Musical Notation.
		{"a\U0001D242", "COMBINING GREEK MUSICAL TRISEME (Mn)"},
		{"a\U0001D200", "GREEK VOCAL NOTATION SYMBOL-1 (So)"},
	}
	for _, d := range disallowed {
		in := d.label + ".example"
		if a, err := DomainToALabel(in); !errors.Is(err, ErrConversion) {
			t.Errorf("DomainToALabel(%+q) = %q, %v; want DISALLOWED: %s", in, a, err, d.why)
		}
		// The A-label that encodes it, as a lenient encoder writes it.
		raw, err := idna.Punycode.ToASCII(d.label)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := DomainFromALabel(raw + ".example"); !errors.Is(err, ErrConversion) {
			t.Errorf("DomainFromALabel(%q) = %+q, %v; want DISALLOWED: %s", raw, u, err, d.why)
		}
		if err := CheckAddress("user@"+in, true); err == nil {
			t.Errorf("CheckAddress accepts user@%+q: %s", in, d.why)
		}
	}

	pvalid := []struct{ in, a string }{
		{"\u1100\u1161.kr", "xn--o39a.kr"}, // NFC: the modern syllable 가
		{"가각.kr", ""},
		{"a\u302A.example", ""},  // IDEOGRAPHIC LEVEL TONE MARK, Mn outside those blocks
		{"a\u0301.example", ""},  // NFC: á
		{"\u1D00.example", ""},   // LATIN LETTER SMALL CAPITAL A, Ll: not a musical symbol
		{"\u20AC1.example", "-"}, // EURO SIGN, Sc: DISALLOWED by category, as before
	}
	for _, p := range pvalid {
		a, err := DomainToALabel(p.in)
		switch {
		case p.a == "-":
			if err == nil {
				t.Errorf("DomainToALabel(%+q) = %q, want an error", p.in, a)
			}
		case err != nil:
			t.Errorf("DomainToALabel(%+q): %v", p.in, err)
		case p.a != "" && a != p.a:
			t.Errorf("DomainToALabel(%+q) = %q, want %q", p.in, a, p.a)
		}
	}
}

// TestCapitalSharpS: U+1E9E lower-cases to ß (RFC 5895 section 2, the
// case mapping before IDNA2008), and ß is PVALID (RFC 5892 section 2.6),
// so "straẞe.de" is the same domain as "straße.de", xn--strae-oqa.de,
// not "strasse.de" as the case folding of UTS #46's tables would have
// it. An A-label that encodes ẞ itself is not IDNA2008 (section 2.2,
// Unstable) and is refused.
func TestCapitalSharpS(t *testing.T) {
	for _, in := range []string{"straẞe.de", "STRAẞE.DE", "straße.de", "Straße.De"} {
		if a, err := DomainToALabel(in); err != nil || a != "xn--strae-oqa.de" {
			t.Errorf("DomainToALabel(%q) = %q, %v; want xn--strae-oqa.de", in, a, err)
		}
	}
	if !Equal("Jörg@straẞe.de", "Jörg@xn--strae-oqa.de") || !Equal("Jörg@STRAẞE.de", "Jörg@straße.de") {
		t.Errorf("Key: %q, %q, %q", Key("Jörg@straẞe.de"), Key("Jörg@xn--strae-oqa.de"), Key("Jörg@straße.de"))
	}
	if Equal("a@straẞe.de", "a@strasse.de") {
		t.Error("straẞe.de and strasse.de compare equal")
	}
	if a, err := ALabelAddress("joerg@straẞe.de"); err != nil || a != "joerg@xn--strae-oqa.de" {
		t.Errorf("ALabelAddress: %q, %v", a, err)
	}
	raw, err := idna.Punycode.ToASCII("straẞe")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := DomainFromALabel(raw + ".de"); !errors.Is(err, ErrConversion) {
		t.Errorf("DomainFromALabel(%q) = %q, %v; want an error", raw, u, err)
	}
}

package idnaconv

import "testing"

// The one conversion: UTS 46 mapping, then IDNA2008's code point rules
// (RFC 5892), which refuse symbols UTS 46 keeps.
func TestToASCII(t *testing.T) {
	for in, want := range map[string]string{
		"bücher.example":       "xn--bcher-kva.example",
		"BÜCHER.example":       "xn--bcher-kva.example",
		"straße.de":            "xn--strae-oqa.de",
		"straẞe.de":            "xn--strae-oqa.de",
		"ASCII.Example":        "ASCII.Example",         // ASCII is left as it is
		"bu\u0308cher.example": "xn--bcher-kva.example", // NFC
	} {
		if got, err := ToASCII(in); err != nil || got != want {
			t.Errorf("ToASCII(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"☃.net", "♥.example", "\u1100.example", "a\u20D0.example", "\xff.example", "a..ü"} {
		if got, err := ToASCII(in); err == nil {
			t.Errorf("ToASCII(%q) = %q, want an error", in, got)
		}
	}
}

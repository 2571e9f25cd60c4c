package spf

import "testing"

// spf converts names as smtputf8 and dmarc do (one converter): IDNA2008
// refuses the symbols UTS 46 keeps, so "☃.net" is no usable domain here
// either; ẞ and ß give one A-label.
func TestToASCIISharedConversion(t *testing.T) {
	if a, err := toASCII("☃.net"); err == nil {
		t.Errorf("☃.net converted to %q", a)
	}
	a, err1 := toASCII("straẞe.de")
	b, err2 := toASCII("straße.de")
	if err1 != nil || err2 != nil || a != b || a != "xn--strae-oqa.de" {
		t.Errorf("straẞe.de %q %v, straße.de %q %v", a, err1, b, err2)
	}
}

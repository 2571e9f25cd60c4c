package idnaconv

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Check applies to the U-labels of an A-label domain the code
// point rules of IDNA2008 (RFC 5892) that UTS #46 processing, as
// golang.org/x/net/idna does it, leaves out: UTS #46 keeps symbols and
// punctuation that IDNA2008 disallows ("☃", "♥"), and letters and marks
// that RFC 5892's derivation disallows although their general category
// is allowed (old Hangul jamo, the marks of the musical symbol blocks),
// which libidn2, and so Exim, refuse. Case and compatibility forms are
// already mapped away by the UTS #46 step.
func Check(alabels string) error {
	for label := range strings.SplitSeq(alabels, ".") {
		if len(label) < 4 || !strings.EqualFold(label[:4], acePrefix) {
			continue
		}
		u, err := idna.Punycode.ToUnicode(label)
		if err != nil {
			return err
		}
		if err := checkULabel(u); err != nil {
			return err
		}
	}
	return nil
}

// exceptions of RFC 5892 section 2.6: PVALID, CONTEXTO or DISALLOWED
// whatever the general category says. The Arabic-Indic digits, CONTEXTO
// too, are checked by checkULabel (appendix A.8, A.9).
var exceptions = map[rune]byte{
	0x00DF: 'P', 0x03C2: 'P', 0x06FD: 'P', 0x06FE: 'P', 0x0F0B: 'P', 0x3007: 'P',
	0x00B7: 'O', 0x0375: 'O', 0x05F3: 'O', 0x05F4: 'O', 0x30FB: 'O',
	0x0640: 'D', 0x07FA: 'D', 0x302E: 'D', 0x302F: 'D',
	0x3031: 'D', 0x3032: 'D', 0x3033: 'D', 0x3034: 'D', 0x3035: 'D', 0x303B: 'D',
}

// ignorableBlocks are RFC 5892 section 2.5's IgnorableBlocks: Combining
// Diacritical Marks for Symbols, Musical Symbols, Ancient Greek Musical
// Notation. Their marks (Mn, Mc) would pass the LetterDigits test.
var ignorableBlocks = &unicode.RangeTable{R16: []unicode.Range16{{Lo: 0x20D0, Hi: 0x20FF, Stride: 1}},
	R32: []unicode.Range32{{Lo: 0x1D100, Hi: 0x1D1FF, Stride: 1}, {Lo: 0x1D200, Hi: 0x1D24F, Stride: 1}}}

// oldHangulJamo is RFC 5892 section 2.9's OldHangulJamo: the conjoining
// jamo, Hangul_Syllable_Type L, V or T (Unicode's HangulSyllableType.txt).
// Modern sequences of them are composed into syllables by NFC first.
var oldHangulJamo = &unicode.RangeTable{R16: []unicode.Range16{
	{Lo: 0x1100, Hi: 0x115F, Stride: 1}, // L
	{Lo: 0x1160, Hi: 0x11A7, Stride: 1}, // V
	{Lo: 0x11A8, Hi: 0x11FF, Stride: 1}, // T
	{Lo: 0xA960, Hi: 0xA97C, Stride: 1}, // L, Hangul Jamo Extended-A
	{Lo: 0xD7B0, Hi: 0xD7C6, Stride: 1}, // V, Hangul Jamo Extended-B
	{Lo: 0xD7CB, Hi: 0xD7FB, Stride: 1}, // T, Hangul Jamo Extended-B
}}

// assigned are the general categories of assigned code points (all but
// Cn).
var assigned = []*unicode.RangeTable{unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C}

// property is the derived property of r (RFC 5892 section 3), for r
// outside ASCII, the join controls and the Arabic-Indic digits, which
// checkULabel takes first: 'P' PVALID, 'O' CONTEXTO, or 'D' DISALLOWED
// and 'U' UNASSIGNED with the section that says so.
func property(r rune) (byte, string) {
	if p, ok := exceptions[r]; ok {
		return p, "section 2.6, Exceptions"
	}
	// Section 2.7, BackwardCompatible: empty.
	switch {
	case !unicode.In(r, assigned...):
		return 'U', "section 2.10, Unassigned"
	case unstable(r):
		return 'D', "section 2.2, Unstable"
	case unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
		unicode.White_Space, unicode.Noncharacter_Code_Point):
		// Default_Ignorable_Code_Point is these plus Cf, which is
		// no LetterDigits anyway.
		return 'D', "section 2.3, IgnorableProperties"
	case unicode.Is(ignorableBlocks, r):
		return 'D', "section 2.5, IgnorableBlocks"
	case unicode.Is(oldHangulJamo, r):
		return 'D', "section 2.9, OldHangulJamo"
	case unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo, unicode.Nd, unicode.Lm, unicode.Mn, unicode.Mc):
		return 'P', "section 2.1, LetterDigits"
	}
	return 'D', "section 3, not LetterDigits"
}

// unstable reports whether r is changed by NFKC_Casefold (RFC 5892
// section 2.2): NFKC, full case folding, NFKC again. NFKC_Casefold also
// drops the default ignorable code points, which section 2.3 disallows.
func unstable(r rune) bool {
	s := string(r)
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s))) != s
}

func checkULabel(u string) error {
	runes := []rune(u)
	var arabicIndic, extArabicIndic bool
	for i, r := range runes {
		if r < 0x80 {
			continue // LDH, checked by the profile
		}
		if r >= 0x0660 && r <= 0x0669 {
			arabicIndic = true
			continue
		}
		if r >= 0x06F0 && r <= 0x06F9 {
			extArabicIndic = true
			continue
		}
		if r == 0x200C || r == 0x200D {
			continue // CONTEXTJ, checked by the profile (CheckJoiners)
		}
		switch p, why := property(r); p {
		case 'P':
		case 'O':
			if !contextO(runes, i) {
				return fmt.Errorf("code point U+%04X is CONTEXTO and out of context (RFC 5892 appendix A)", r)
			}
		case 'U':
			return fmt.Errorf("code point U+%04X is UNASSIGNED (RFC 5892 %s)", r, why)
		default:
			return fmt.Errorf("code point U+%04X is DISALLOWED in IDNA2008 (RFC 5892 %s)", r, why)
		}
	}
	// RFC 5892 appendix A.8 and A.9: the two sets of Arabic-Indic digits
	// do not mix.
	if arabicIndic && extArabicIndic {
		return fmt.Errorf("label mixes Arabic-Indic and extended Arabic-Indic digits (RFC 5892 appendix A.8)")
	}
	return nil
}

// contextO applies the rules of RFC 5892 appendix A.3 to A.7 to runes[i].
func contextO(runes []rune, i int) bool {
	switch runes[i] {
	case 0x00B7: // A.3 MIDDLE DOT: between two "l"
		return i > 0 && i+1 < len(runes) && runes[i-1] == 'l' && runes[i+1] == 'l'
	case 0x0375: // A.4 GREEK LOWER NUMERAL SIGN: followed by Greek
		return i+1 < len(runes) && unicode.Is(unicode.Greek, runes[i+1])
	case 0x05F3, 0x05F4: // A.5, A.6 HEBREW GERESH, GERSHAYIM: after Hebrew
		return i > 0 && unicode.Is(unicode.Hebrew, runes[i-1])
	case 0x30FB: // A.7 KATAKANA MIDDLE DOT: with Hiragana, Katakana or Han
		for _, r := range runes {
			if r != 0x30FB && unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
				return true
			}
		}
	}
	return false
}

package smtputf8

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// checkIDNA2008 applies to the U-labels of an A-label domain the code
// point rules of IDNA2008 (RFC 5892 section 2) that UTS #46 processing, as
// golang.org/x/net/idna does it, leaves out: UTS #46 keeps symbols and
// punctuation that IDNA2008 disallows ("☃", "♥"), which libidn2, and so
// Exim, refuse. Code points are PVALID when they are letters, marks or
// digits (section 2.1, LetterDigits: Ll, Lu, Lo, Nd, Lm, Mn, Mc), or in
// the exceptions of section 2.6; the CONTEXTO ones of section 2.6 must
// meet their rules (RFC 5892 appendix A.3 to A.9). Case and compatibility
// forms are already mapped away by the UTS #46 step.
func checkIDNA2008(alabels string) error {
	for label := range strings.SplitSeq(alabels, ".") {
		if len(label) < 4 || !strings.EqualFold(label[:4], ACEPrefix) {
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
// whatever the general category says.
var exceptions = map[rune]byte{
	0x00DF: 'P', 0x03C2: 'P', 0x06FD: 'P', 0x06FE: 'P', 0x0F0B: 'P', 0x3007: 'P',
	0x00B7: 'O', 0x0375: 'O', 0x05F3: 'O', 0x05F4: 'O', 0x30FB: 'O',
	0x0640: 'D', 0x07FA: 'D', 0x302E: 'D', 0x302F: 'D',
	0x3031: 'D', 0x3032: 'D', 0x3033: 'D', 0x3034: 'D', 0x3035: 'D', 0x303B: 'D',
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
		switch exceptions[r] {
		case 'P':
			continue
		case 'D':
			return fmt.Errorf("code point U+%04X is DISALLOWED (RFC 5892 section 2.6)", r)
		case 'O':
			if !contextO(runes, i) {
				return fmt.Errorf("code point U+%04X is CONTEXTO and out of context (RFC 5892 appendix A)", r)
			}
			continue
		}
		if !unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo, unicode.Nd, unicode.Lm, unicode.Mn, unicode.Mc) {
			return fmt.Errorf("code point U+%04X is DISALLOWED in IDNA2008 (RFC 5892 section 2.1)", r)
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

package smtputf8

import (
	"errors"
	"math"
	"strings"
	"unicode/utf8"
)

// Parameters of the Bootstring instance that RFC 3492 calls Punycode
// (section 5).
const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 0x80
	pcDelimiter   = '-'
)

var (
	errPunyOverflow = errors.New("punycode: overflow")
	errPunyInput    = errors.New("punycode: bad input")
)

// adapt is the bias adaptation function of RFC 3492 section 6.1.
func adapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}

// threshold is t(k) of RFC 3492 section 6.2 and 6.3, clamped to
// [tmin, tmax].
func threshold(k, bias int) int {
	switch t := k - bias; {
	case t <= pcTMin:
		return pcTMin
	case t >= pcTMax:
		return pcTMax
	default:
		return t
	}
}

// encodeDigit maps 0..35 to a..z, 0..9 (section 5, lower case).
func encodeDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

// decodeDigit maps a basic code point to its digit value, either case
// (section 5), or -1.
func decodeDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') + 26
	case c >= 'a' && c <= 'z':
		return int(c - 'a')
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	}
	return -1
}

// punyEncode is the encoding procedure of RFC 3492 section 6.3 over the
// whole of s: unlike idna.Punycode it does not split on dots, and basic
// code points are copied as they are (no case folding), as Exim's
// utf8_localpart_to_alabel does through libidn's punycode_encode. s must
// be valid UTF-8.
func punyEncode(s string) (string, error) {
	var out strings.Builder
	out.Grow(len(s) + 8)
	basic, total := 0, 0
	for _, r := range s {
		total++
		if r < pcInitialN {
			out.WriteByte(byte(r))
			basic++
		}
	}
	h := basic
	if basic > 0 {
		out.WriteByte(pcDelimiter)
	}
	n, delta, bias := pcInitialN, 0, pcInitialBias
	for h < total {
		// The smallest code point not yet handled, >= n.
		m := math.MaxInt32
		for _, r := range s {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m - n) > (math.MaxInt32-delta)/(h+1) {
			return "", errPunyOverflow
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range s {
			c := int(r)
			if c < n {
				delta++
				if delta == math.MaxInt32 {
					return "", errPunyOverflow
				}
			}
			if c != n {
				continue
			}
			q := delta
			for k := pcBase; ; k += pcBase {
				t := threshold(k, bias)
				if q < t {
					break
				}
				out.WriteByte(encodeDigit(t + (q-t)%(pcBase-t)))
				q = (q - t) / (pcBase - t)
			}
			out.WriteByte(encodeDigit(q))
			bias = adapt(delta, h+1, h == basic)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return out.String(), nil
}

// punyDecode is the decoding procedure of RFC 3492 section 6.2. It is
// strict: the code points before the last delimiter must be ASCII, the
// extended part only base-36 digits, and every decoded code point a
// Unicode scalar value that is not basic (the check section 6.2 puts in
// braces).
func punyDecode(s string) (string, error) {
	out := make([]rune, 0, len(s))
	in := 0
	if b := strings.LastIndexByte(s, pcDelimiter); b >= 0 {
		for i := 0; i < b; i++ {
			c := s[i]
			if c >= 0x80 {
				return "", errPunyInput
			}
			out = append(out, rune(c))
		}
		in = b + 1
	}
	n, i, bias := pcInitialN, 0, pcInitialBias
	for in < len(s) {
		oldi, w := i, 1
		for k := pcBase; ; k += pcBase {
			if in >= len(s) {
				return "", errPunyInput
			}
			d := decodeDigit(s[in])
			in++
			if d < 0 {
				return "", errPunyInput
			}
			if d > (math.MaxInt32-i)/w {
				return "", errPunyOverflow
			}
			i += d * w
			t := threshold(k, bias)
			if d < t {
				break
			}
			if w > math.MaxInt32/(pcBase-t) {
				return "", errPunyOverflow
			}
			w *= pcBase - t
		}
		l := len(out) + 1
		bias = adapt(i-oldi, l, oldi == 0)
		if i/l > math.MaxInt32-n {
			return "", errPunyOverflow
		}
		n += i / l
		i %= l
		if n < pcInitialN || n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
			return "", errPunyInput
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n)
		i++
	}
	return string(out), nil
}

package dmarc

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// toASCII turns the U-labels of a domain into A-labels ("xn--" and the
// Punycode of RFC 3492) after lower-casing, as a mail receiver must to
// look names up (RFC 5891 section 5). It does no Unicode normalisation:
// a From domain in another form than NFC gets an A-label that does not
// exist, so no record, which is what an unresolvable domain gets anyway.
func toASCII(d string) (string, error) {
	if isASCII(d) {
		return d, nil
	}
	if !utf8.ValidString(d) {
		return "", errors.New("invalid UTF-8")
	}
	labels := strings.Split(strings.ToLower(d), ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		p, err := punyEncode(l)
		if err != nil {
			return "", err
		}
		labels[i] = "xn--" + p
	}
	return strings.Join(labels, "."), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Punycode parameters (RFC 3492 section 5).
const (
	pBase        = 36
	pTMin        = 1
	pTMax        = 26
	pSkew        = 38
	pDamp        = 700
	pInitialBias = 72
	pInitialN    = 128
)

var errPunyOverflow = errors.New("punycode overflow")

// punyEncode is the encoding procedure of RFC 3492 section 6.3.
func punyEncode(s string) (string, error) {
	in := []rune(s)
	var out []byte
	for _, r := range in {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	b := len(out)
	h := b
	if b > 0 {
		out = append(out, '-')
	}
	n, delta, bias := rune(pInitialN), 0, pInitialBias
	for h < len(in) {
		m := rune(0x7fffffff)
		for _, r := range in {
			if r >= n && r < m {
				m = r
			}
		}
		if int64(m-n)*int64(h+1)+int64(delta) > 1<<30 {
			return "", errPunyOverflow
		}
		delta += int(m-n) * (h + 1)
		n = m
		for _, r := range in {
			if r < n {
				delta++
			}
			if r != n {
				continue
			}
			q := delta
			for k := pBase; ; k += pBase {
				t := k - bias
				if t < pTMin {
					t = pTMin
				} else if t > pTMax {
					t = pTMax
				}
				if q < t {
					break
				}
				out = append(out, punyDigit(t+(q-t)%(pBase-t)))
				q = (q - t) / (pBase - t)
			}
			out = append(out, punyDigit(q))
			bias = punyAdapt(delta, h+1, h == b)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return string(out), nil
}

func punyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

// punyAdapt is the bias adaptation function of RFC 3492 section 6.1.
func punyAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pBase-pTMin)*pTMax)/2 {
		delta /= pBase - pTMin
		k += pBase
	}
	return k + (pBase-pTMin+1)*delta/(delta+pSkew)
}

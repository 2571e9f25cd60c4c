package arc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
	"strings"
)

// A canon is a canonicalisation algorithm (RFC 6376 section 3.4).
type canon uint8

const (
	simple  canon = iota // RFC 6376 sections 3.4.1 and 3.4.3
	relaxed              // RFC 6376 sections 3.4.2 and 3.4.4
)

func (c canon) String() string {
	if c == relaxed {
		return "relaxed"
	}
	return "simple"
}

// parseCanon parses a c= value, "header/body" or "header" alone (the body
// then uses simple). A missing c= is simple/simple (RFC 6376 section 3.5,
// imported by RFC 8617 section 4.1.2): the caller handles that.
func parseCanon(v string) (header, body canon, err error) {
	h, b, hasBody := strings.Cut(v, "/")
	one := func(s string) (canon, bool) {
		switch s {
		case "simple":
			return simple, true
		case "relaxed":
			return relaxed, true
		}
		return 0, false
	}
	var ok bool
	if header, ok = one(h); !ok {
		return 0, 0, fmt.Errorf("unknown header canonicalization %q", h)
	}
	body = simple
	if hasBody {
		if body, ok = one(b); !ok {
			return 0, 0, fmt.Errorf("unknown body canonicalization %q", b)
		}
	}
	return header, body, nil
}

// appendHeader appends the canonical form of the field raw (name, colon,
// value, folded lines, no final line break) followed by CRLF.
func appendHeader(dst, raw []byte, c canon) []byte {
	if c == relaxed {
		return appendRelaxedHeader(dst, raw)
	}
	return appendSimpleHeader(dst, raw)
}

// appendSimpleHeader: RFC 6376 section 3.4.1, the field unchanged. Bare
// LF line breaks become CRLF, as they would have been on the wire.
func appendSimpleHeader(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\n' && (i == 0 || raw[i-1] != '\r') {
			dst = append(dst, '\r')
		}
		dst = append(dst, raw[i])
	}
	return append(dst, '\r', '\n')
}

// appendRelaxedHeader: RFC 6376 section 3.4.2. The name in lower case,
// the value unfolded, every run of WSP made one space, WSP at the end of
// the value and around the colon removed.
func appendRelaxedHeader(dst, raw []byte) []byte {
	colon := -1
	for i, c := range raw {
		if c == ':' {
			colon = i
			break
		}
	}
	name, value := raw, []byte(nil)
	if colon >= 0 {
		name, value = raw[:colon], raw[colon+1:]
	}
	end := len(name)
	for end > 0 && isWSP(name[end-1]) {
		end--
	}
	for _, c := range name[:end] {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	space := false // a WSP run is pending
	wrote := false // value bytes written
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '\n' || c == '\r' && i+1 < len(value) && value[i+1] == '\n':
			// Unfold: drop the line break, keep the WSP after it.
		case isWSP(c):
			space = true
		default:
			if space && wrote {
				dst = append(dst, ' ')
			}
			space = false
			wrote = true
			dst = append(dst, c)
		}
	}
	return append(dst, '\r', '\n')
}

// removeSigValue returns the field raw with the value of its b= tag
// deleted, white space around it included (RFC 6376 section 3.7 step
// 2, "with the value of the b= tag (including all surrounding
// whitespace) deleted"), for hashing a signature header field. The tag
// list must have parsed, so that the "b" found here is the b= tag.
func removeSigValue(raw []byte, colon int) []byte {
	i := colon + 1
	for i < len(raw) {
		// At the start of a tag-spec.
		for i < len(raw) && isFWS(raw[i]) {
			i++
		}
		start := i
		for i < len(raw) && raw[i] != '=' && raw[i] != ';' {
			i++
		}
		name := strings.TrimRight(string(raw[start:i]), " \t\r\n")
		if i < len(raw) && raw[i] == '=' && name == "b" {
			vstart := i + 1
			vend := vstart
			for vend < len(raw) && raw[vend] != ';' {
				vend++
			}
			out := make([]byte, 0, len(raw)-(vend-vstart))
			out = append(out, raw[:vstart]...)
			return append(out, raw[vend:]...)
		}
		for i < len(raw) && raw[i] != ';' {
			i++
		}
		i++ // past ";"
	}
	return raw
}

// A bodyHasher canonicalises a body as it streams through Write and
// hashes the result (RFC 6376 section 3.7, body hash). It keeps no more
// than a few bytes of state whatever the body size, and hashes the input
// in place wherever the canonical form equals it.
type bodyHasher struct {
	h     hash.Hash
	c     canon
	limit int64 // l=: bytes of canonical body to hash; -1 for all
	n     int64 // canonical bytes hashed so far

	// Output held back: line breaks that may turn out to be trailing
	// empty lines, and (relaxed) WSP that may end its line.
	crlfs   int
	wsp     bool
	cr      bool // the input so far ends in a CR that may start a CRLF
	content bool // non-empty canonical body so far
}

// newBodyHasher returns a bodyHasher with canonicalisation c feeding h,
// hashing at most limit canonical bytes (-1: all).
func newBodyHasher(h hash.Hash, c canon, limit int64) *bodyHasher {
	return &bodyHasher{h: h, c: c, limit: limit}
}

var (
	crlf  = []byte("\r\n")
	crlfs = bytes.Repeat(crlf, 64) // for emitting held-back line breaks in bulk
)

// emit hashes canonical output, up to the limit.
func (b *bodyHasher) emit(p []byte) {
	if b.limit >= 0 {
		if left := b.limit - b.n; int64(len(p)) > left {
			p = p[:left]
		}
	}
	if len(p) > 0 {
		b.h.Write(p)
		b.n += int64(len(p))
	}
}

// flushHeld emits the line breaks and the space held back, now that
// content follows them.
func (b *bodyHasher) flushHeld() {
	for b.crlfs > 0 {
		n := min(b.crlfs, len(crlfs)/2)
		b.emit(crlfs[:2*n])
		b.crlfs -= n
	}
	if b.wsp {
		b.emit(space)
		b.wsp = false
	}
}

var (
	space = []byte{' '}
	cr    = []byte{'\r'}
)

// Write canonicalises and hashes p. It never fails.
func (b *bodyHasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		// In pieces that stay in the CPU cache between scanning and
		// hashing.
		k := min(len(p), writePiece)
		b.write(p[:k])
		p = p[k:]
	}
	return n, nil
}

// writePiece is the most write scans before hashing what it scanned.
const writePiece = 8 << 10

// write canonicalises p: RFC 6376 section 3.4.3 (simple: the body
// unchanged except that empty lines at its end are dropped) or 3.4.4
// (relaxed: also WSP at the end of lines dropped and runs of WSP made
// one space). A bare LF counts as CRLF, as on the wire.
//
// Most of the canonical output equals the input, so spans of p are
// hashed in place: p[span:keep] is output not hashed yet, p[keep:i] is
// input whose output is held back (line breaks that may be trailing
// empty lines, WSP that may end its line), and same is true while the
// held-back output equals p[keep:i] byte for byte, so that the span can
// go on through it once content follows.
func (b *bodyHasher) write(p []byte) {
	rel := b.c == relaxed
	i := 0
	if b.cr {
		// The previous write ended in a CR: a CRLF, or a lone CR.
		b.cr = false
		if len(p) > 0 && p[0] == '\n' {
			b.wsp = false // WSP before a line break is dropped
			b.crlfs++
			i = 1
		} else {
			b.flushHeld()
			b.emit(cr)
			b.content = true
		}
	}
	span, keep := i, i
	same := b.crlfs == 0 && !b.wsp
	for i < len(p) {
		c := p[i]
		switch {
		case c == '\n':
			b.wsp = false
			b.crlfs++
			same = false // bare LF, output CRLF
			i++
			continue
		case c == '\r':
			if i+1 == len(p) {
				b.cr = true
				b.emit(p[span:keep])
				return
			}
			if p[i+1] == '\n' {
				if b.wsp {
					b.wsp = false
					same = false
				}
				b.crlfs++
				i += 2
				continue
			}
			// A lone CR is content.
		case rel && (c == ' ' || c == '\t'):
			if b.wsp || c == '\t' {
				same = false
			}
			b.wsp = true
			i++
			continue
		}
		// Content at i.
		if b.crlfs > 0 || b.wsp {
			if same {
				b.crlfs, b.wsp = 0, false
			} else {
				b.emit(p[span:keep])
				b.flushHeld()
				span = i
			}
		}
		if rel {
			i = relaxedRun(p, i)
		} else {
			i = simpleRun(p, i)
		}
		keep = i
		same = true
		b.content = true
	}
	b.emit(p[span:keep])
}

// simpleRun returns the end of the run of content that starts at i: the
// input up to the next line break that may need a look (a bare LF, one
// followed by another line break or by the end of p). Line breaks inside
// the run are CRLFs followed by content, their own canonical form.
func simpleRun(p []byte, i int) int {
	k := i + 1
	for {
		j := bytes.IndexByte(p[k:], '\n')
		if j < 0 {
			j = len(p)
			if j > i+1 && p[j-1] == '\r' {
				j-- // a CR at the end, decided by the next write
			}
			return j
		}
		j += k
		if j == i || p[j-1] != '\r' {
			return j // a bare LF
		}
		if j+1 < len(p) && p[j+1] != '\r' && p[j+1] != '\n' {
			k = j + 1 // CRLF then content: part of the run
			continue
		}
		return j - 1
	}
}

// relaxedRun returns the end of the run of content that starts at i. A
// single space between content bytes and a CRLF between content bytes
// are their own canonical form and stay in the run. Control characters
// other than HTAB, CR and LF are content, but may end a run early: the
// caller starts another.
func relaxedRun(p []byte, i int) int {
	i++
	for {
		// Thirty-two bytes at a time while none needs a look: a byte
		// below 0x20, or two bytes up to 0x20 in a row (a space before
		// a space or a line break).
		for i+33 <= len(p) {
			q := p[i : i+33]
			w0 := binary.LittleEndian.Uint64(q[0:])
			w1 := binary.LittleEndian.Uint64(q[8:])
			w2 := binary.LittleEndian.Uint64(q[16:])
			w3 := binary.LittleEndian.Uint64(q[24:])
			le0, lt0 := lowBytes(w0)
			le1, lt1 := lowBytes(w1)
			le2, lt2 := lowBytes(w2)
			le3, lt3 := lowBytes(w3)
			// The byte after the window, low or not, without a branch.
			after := uint64(int64(q[32])-0x21) & (0x80 << 56)
			stop0 := lt0 | le0&(le0>>8|le1<<56)
			stop1 := lt1 | le1&(le1>>8|le2<<56)
			stop2 := lt2 | le2&(le2>>8|le3<<56)
			stop3 := lt3 | le3&(le3>>8|after)
			if stop0|stop1|stop2|stop3 != 0 {
				// A CRLF between content bytes is part of the run, and
				// comes about once a line: skip those in the window
				// rather than leave it.
				m := pack(stop0) | pack(stop1)<<8 | pack(stop2)<<16 | pack(stop3)<<24
				for {
					pos := bits.TrailingZeros32(m)
					j := i + pos
					if pos >= 30 || p[j] != '\r' || p[j+1] != '\n' || p[j+2] <= ' ' {
						i = j
						goto look
					}
					if m &^= 3 << pos; m == 0 {
						break
					}
				}
			}
			i += 32
		}
		// The tail, a byte at a time.
		for ; i < len(p); i++ {
			c := p[i]
			if c == ' ' && i+1 < len(p) && p[i+1] > ' ' {
				i++
				continue
			}
			if c <= ' ' {
				break
			}
		}
	look:
		// A CRLF between content bytes goes on with the run.
		if i+2 < len(p) && p[i] == '\r' && p[i+1] == '\n' && p[i+2] > ' ' {
			i += 3
			continue
		}
		return i
	}
}

// pack gathers the top bits of the bytes of x, whose other bits are
// clear, into one bit a byte: byte k's to bit k.
func pack(x uint64) uint32 {
	return uint32((x >> 7) * 0x0102040810204080 >> 56)
}

// lowBytes returns masks with the top bit set in each byte of w that is
// up to 0x20 (le) and below 0x20 (lt). A byte just after a flagged byte
// may be flagged as well when it is itself up to 0x21 (the borrow of the
// subtraction runs on), which only ever makes the scan stop early, never
// miss a byte it must look at.
func lowBytes(w uint64) (le, lt uint64) {
	nw := ^w & highs
	return (w - 0x2121212121212121) & nw, (w - 0x2020202020202020) & nw
}

const (
	lows  = 0x7f7f7f7f7f7f7f7f
	highs = 0x8080808080808080
)

// Sum finishes the canonical body (RFC 6376 sections 3.4.3 and 3.4.4: a
// body that is empty, or does not end in CRLF, gets one in simple
// canonicalisation; in relaxed, only a non-empty body does) and returns
// the hash.
func (b *bodyHasher) Sum() []byte {
	if b.cr {
		// A CR at the very end is content.
		b.cr = false
		b.flushHeld()
		b.emit(cr)
		b.content = true
	}
	if b.content || b.c == simple {
		b.emit(crlf)
	}
	return b.h.Sum(nil)
}

package dmarc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// DefaultMaxAuthorDomains is how many distinct Author Domains one message
// may have; each costs a policy evaluation with its DNS queries. A message
// with more cannot be evaluated, and is refused.
const DefaultMaxAuthorDomains = 10

// Reasons for StatusNoFrom, wrapped by Result.Err (RFC 7489 section
// 6.6.1), and for a message with too many authors.
var (
	ErrNoFrom         = errors.New("no From header field")
	ErrNoAuthor       = errors.New("no address in the From header field")
	ErrFromSyntax     = errors.New("unparsable From header field")
	ErrFromDomain     = errors.New("no usable domain in the From address")
	ErrTooManyAuthors = errors.New("too many author domains")
)

// authors are the Author Domains of a message (RFC 7489 section 6.6.1):
// the distinct domains of every address of every From field, normalised,
// in order, and the reason a From field or address gave none.
type authors struct {
	domains []string
	noFrom  error
	seen    [][]byte // the domains as written, to skip repeats cheaply
	p       addrParser
}

// authorDomains reads the Author Domains of h, at most max distinct ones
// (more fail with ErrTooManyAuthors). Several From fields, and several
// addresses in one, each count (RFC 7489 section 6.6.1 lets a receiver
// evaluate them all and apply the strictest result). A From field that
// the RFC 5322 grammar, obsolete forms included, cannot read still gives
// every domain that follows an "@" in it, so that no From field escapes
// evaluation for being malformed; only when there is none does it give
// ErrFromSyntax.
func authorDomains(h *header, max int) (*authors, error) {
	a := &authors{}
	found := false
	for i := range h.count() {
		f := h.field(i)
		if f.looselyIs("From") {
			found = true
			if err := a.addField(f.body(), max); err != nil {
				return a, err
			}
		}
		// RFC 5322 section 2.2 allows CR only in CRLF, yet readers
		// that end lines at a bare CR (Python's email package among
		// them) find a field after one: a From field there is an
		// author too.
		for seg := range crFields(f) {
			if !seg.looselyIs("From") {
				continue
			}
			found = true
			if err := a.addField(seg.body(), max); err != nil {
				return a, err
			}
		}
	}
	if !found {
		a.noFrom = ErrNoFrom
	}
	return a, nil
}

// crFields yields what follows each bare CR of f (a CR not followed by
// LF) up to the next one, as a field of its own.
func crFields(f field) func(yield func(field) bool) {
	return func(yield func(field) bool) {
		for j := bareCR(f, 0); j >= 0; {
			k := bareCR(f, j+1)
			end := k
			if k < 0 {
				end = len(f)
			}
			if !yield(f[j+1 : end]) {
				return
			}
			j = k
		}
	}
}

// bareCR is the offset of the first CR of b at or after from that no LF
// follows, -1 when none.
func bareCR(b []byte, from int) int {
	for from < len(b) {
		i := bytes.IndexByte(b[from:], '\r')
		if i < 0 {
			return -1
		}
		i += from
		if i+1 == len(b) || b[i+1] != '\n' {
			return i
		}
		from = i + 1
	}
	return -1
}

// addField adds the domains of one From field body.
func (a *authors) addField(v []byte, max int) error {
	// Parse once to check, then again to add, so that a field that
	// fails half-way adds nothing but what the lenient reading finds.
	p := &a.p
	err := p.parse(v, nil, 0)
	if err == nil {
		p.parse(v, a, max)
		if p.tooMany != nil {
			return p.tooMany
		}
		if p.n == 0 && a.noFrom == nil {
			a.noFrom = ErrNoAuthor
		}
		return nil
	}
	n := 0
	if err == errAddrControl {
		// The grammar's reading of the field with the control
		// characters as spaces counts too, for readers that drop them.
		c := bytes.Clone(v)
		for i := range c {
			if c[i] == 0 || c[i] == '\r' && (i+1 == len(c) || c[i+1] != '\n') {
				c[i] = ' '
			}
		}
		if p.parse(c, nil, 0) == nil {
			p.parse(c, a, max)
			if p.tooMany != nil {
				return p.tooMany
			}
			n += p.n
		}
	}
	// Not RFC 5322: take what looks like a domain after each "@", in
	// the field as written and with its encoded words decoded.
	for d := range lenientDomains(v) {
		n++
		if err := a.add(d, max); err != nil {
			return err
		}
	}
	if bytes.Contains(v, []byte("=?")) {
		if dec, err := wordDecoder.DecodeHeader(string(v)); err == nil && dec != string(v) {
			for d := range lenientDomains([]byte(dec)) {
				n++
				if err := a.add(d, max); err != nil {
					return err
				}
			}
		}
	}
	if n == 0 && a.noFrom == nil {
		a.noFrom = fmt.Errorf("%w: %w", ErrFromSyntax, err)
	}
	return nil
}

// add adds one domain as written.
func (a *authors) add(d []byte, max int) error {
	for _, s := range a.seen {
		if bytes.EqualFold(s, d) {
			return nil
		}
	}
	if len(a.seen) < 4*max {
		a.seen = append(a.seen, bytes.Clone(d))
	}
	nd, err := normalizeDomain(string(d))
	if err != nil {
		if a.noFrom == nil {
			a.noFrom = fmt.Errorf("%w: %w", ErrFromDomain, err)
		}
		return nil
	}
	for _, s := range a.domains {
		if s == nd {
			return nil
		}
	}
	if len(a.domains) == max {
		return fmt.Errorf("%w: more than %d", ErrTooManyAuthors, max)
	}
	a.domains = append(a.domains, nd)
	return nil
}

// lenientDomains yields, for each "@" in v, the run of atext and dots
// that follows it (what the grammar could read as a dot-atom domain),
// dots trimmed, when not empty.
func lenientDomains(v []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for i := 0; i < len(v); i++ {
			if v[i] != '@' {
				continue
			}
			j := i + 1
			for j < len(v) && (isAtext(v[j]) || v[j] == '.') {
				j++
			}
			d := bytes.Trim(v[i+1:j], ".")
			if len(d) > 0 && !yield(d) {
				return
			}
			i = j - 1
		}
	}
}

func isLetDig(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// The syntax errors of addrParser, allocated once: a header
// section of many bad From fields costs no memory for them.
var (
	errAddrExpectedComma             = errors.New("expected \",\"")
	errAddrUnterminatedComment       = errors.New("unterminated comment")
	errAddrUnterminatedQuotedString  = errors.New("unterminated quoted string")
	errAddrNoAddress                 = errors.New("no address")
	errAddrBadLocalPart              = errors.New("bad local part")
	errAddrUnexpected                = errors.New("unexpected \":\"")
	errAddrBadRoute                  = errors.New("bad route")
	errAddrUnterminatedRoute         = errors.New("unterminated route")
	errAddrExpectedAt                = errors.New("expected \"@\"")
	errAddrExpectedClose             = errors.New("expected \">\"")
	errAddrNoDomain                  = errors.New("no domain")
	errAddrUnterminatedDomainLiteral = errors.New("unterminated domain literal")
	errAddrBadDomain                 = errors.New("bad domain")
	errAddrUnterminatedGroup         = errors.New("unterminated group")
	errAddrExpectedCommaOrSemicolon  = errors.New("expected \",\" or \";\"")
	errAddrControl                   = errors.New("NUL or bare CR")
)

// parse parses a From field body as an address-list (RFC 5322
// section 3.4), obsolete forms included (section 4.4: routes, empty list
// elements, CFWS around the dots of local parts and domains, phrases with
// dots), UTF-8 allowed (RFC 6532 section 3.2), and adds the domain of
// each address, CFWS removed, to a (none when a is nil: a syntax check);
// a domain-literal gives a nofrom reason. The body may still be folded. Encoded words (RFC 2047)
// are atoms of display names, which do not matter here.
func (p *addrParser) parse(v []byte, a *authors, max int) error {
	*p = addrParser{s: v, a: a, max: max, buf: p.buf[:0]}
	// NUL, and CR outside CRLF, are in no part of a header field (RFC
	// 5322 sections 2.2 and 3.2); readers differ on what they end, so
	// such a field is read leniently, every domain after an "@".
	if bytes.IndexByte(v, 0) >= 0 || bareCR(v, 0) >= 0 {
		return errAddrControl
	}
	for {
		if err := p.cfws(); err != nil {
			return err
		}
		if p.eof() {
			return nil
		}
		if p.peek() == ',' {
			p.i++ // obs-addr-list: empty elements
			continue
		}
		if err := p.address(true); err != nil {
			return err
		}
		if err := p.cfws(); err != nil {
			return err
		}
		if p.eof() {
			return nil
		}
		if p.peek() != ',' {
			return errAddrExpectedComma
		}
		p.i++
	}
}

type addrParser struct {
	s   []byte
	i   int
	buf []byte // a domain written with CFWS inside, put together

	a       *authors // where domains go; nil to check the syntax only
	max     int      // the limit of distinct domains
	route   bool     // in an obs-route, whose domains are not authors'
	n       int      // addresses found
	tooMany error    // ErrTooManyAuthors, once found
}

// found notes the domain of one address.
func (p *addrParser) found(d []byte, literal bool) {
	if p.route {
		return
	}
	p.n++
	switch {
	case p.a == nil || p.tooMany != nil:
	case literal:
		if p.a.noFrom == nil {
			p.a.noFrom = fmt.Errorf("%w: domain literal %q", ErrFromDomain, d)
		}
	default:
		p.tooMany = p.a.add(d, p.max)
	}
}

// encodedWords adds the domains that the encoded words (RFC 2047) of a
// local part, or of a display name when they hide control characters,
// decode to. RFC 2047 section 5 allows encoded words in neither place,
// yet mail readers have decoded them there and shown an address that is
// not the author's (the "Mailsploit" attacks: an encoded address, and a
// NUL or line end after it to hide the real one); the domains of such an
// address are evaluated too.
func (p *addrParser) encodedWords(b []byte, local bool) {
	if p.a == nil || p.tooMany != nil || !bytes.Contains(b, []byte("=?")) {
		return
	}
	dec, err := wordDecoder.DecodeHeader(string(b))
	if err != nil || dec == string(b) {
		return
	}
	if !local && !strings.ContainsFunc(dec, isControl) {
		return
	}
	for d := range lenientDomains([]byte(dec)) {
		if p.tooMany = p.a.add(d, p.max); p.tooMany != nil {
			return
		}
	}
}

// wordDecoder decodes encoded words of any charset, those it does not
// know byte for byte.
var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 }

func (p *addrParser) eof() bool  { return p.i >= len(p.s) }
func (p *addrParser) peek() byte { return p.s[p.i] }

// cfws skips folding white space and comments (RFC 5322 section 3.2.2),
// nested comments and quoted pairs included.
func (p *addrParser) cfws() error {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			depth := 0
			for {
				if p.eof() {
					return errAddrUnterminatedComment
				}
				switch p.peek() {
				case '\\':
					p.i++
				case '(':
					depth++
				case ')':
					depth--
				}
				p.i++
				if depth == 0 {
					break
				}
			}
		default:
			return nil
		}
	}
	return nil
}

// isAtext is atext (RFC 5322 section 3.2.3), with UTF-8 (RFC 6532).
func isAtext(c byte) bool {
	if isLetDig(c) || c >= 0x80 {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '/', '=', '?', '^', '_', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

// atom reads 1*atext and returns it, or nil.
func (p *addrParser) atom() []byte {
	j := p.i
	for j < len(p.s) && isAtext(p.s[j]) {
		j++
	}
	a := p.s[p.i:j]
	p.i = j
	if len(a) == 0 {
		return nil
	}
	return a
}

// quoted reads a quoted-string, the opening quote at p.i.
func (p *addrParser) quoted() error {
	p.i++
	for !p.eof() {
		switch p.peek() {
		case '\\':
			p.i += 2
			continue
		case '"':
			p.i++
			return nil
		}
		p.i++
	}
	return errAddrUnterminatedQuotedString
}

// word reads an atom or a quoted-string, CFWS before it skipped; it
// reports whether there was one.
func (p *addrParser) word() (bool, error) {
	if err := p.cfws(); err != nil {
		return false, err
	}
	if p.eof() {
		return false, nil
	}
	if p.peek() == '"' {
		return true, p.quoted()
	}
	return p.atom() != nil, nil
}

// address reads a mailbox, or a group when groups are allowed (not inside
// a group, RFC 5322 section 3.4).
func (p *addrParser) address(groups bool) error {
	// A phrase (display name) or a local part: words, and dots for
	// obs-phrase and the (obs-)local-part word *("." word).
	words, local, wantWord := 0, true, true
	start := p.i
	for {
		ok, err := p.word()
		if err != nil {
			return err
		}
		if ok {
			local = local && wantWord
			words, wantWord = words+1, false
			continue
		}
		if !p.eof() && p.peek() == '.' {
			p.i++
			local = local && !wantWord
			wantWord = true
			continue
		}
		break
	}
	if p.eof() {
		return errAddrNoAddress
	}
	switch p.peek() {
	case '@':
		// addr-spec: the words were a local part.
		if words == 0 || !local || wantWord {
			return errAddrBadLocalPart
		}
		p.encodedWords(p.s[start:p.i], true)
		p.i++
		return p.domain()
	case '<':
		p.encodedWords(p.s[start:p.i], false)
		p.i++
		return p.angleAddr()
	case ':':
		if !groups || words == 0 {
			return errAddrUnexpected
		}
		p.encodedWords(p.s[start:p.i], false)
		p.i++
		return p.group()
	}
	return errAddrNoAddress
}

// angleAddr reads the rest of an angle-addr after "<" (RFC 5322 section
// 3.4), with an obs-route (section 4.4) before the addr-spec.
func (p *addrParser) angleAddr() error {
	if err := p.cfws(); err != nil {
		return err
	}
	if !p.eof() && (p.peek() == '@' || p.peek() == ',') {
		// obs-route = obs-domain-list ":"; its domains are not the
		// author's.
		p.route = true
		for !p.eof() && p.peek() != ':' {
			switch p.peek() {
			case ',':
				p.i++
			case '@':
				p.i++
				if err := p.domain(); err != nil {
					return err
				}
			default:
				return errAddrBadRoute
			}
			if err := p.cfws(); err != nil {
				return err
			}
		}
		p.route = false
		if p.eof() {
			return errAddrUnterminatedRoute
		}
		p.i++
	}
	// addr-spec: local-part "@" domain.
	words := 0
	start := p.i
	for {
		ok, err := p.word()
		if err != nil {
			return err
		}
		if !ok {
			return errAddrBadLocalPart
		}
		words++
		if err := p.cfws(); err != nil {
			return err
		}
		if p.eof() || p.peek() != '.' {
			break
		}
		p.i++
	}
	if p.eof() || p.peek() != '@' {
		return errAddrExpectedAt
	}
	p.encodedWords(p.s[start:p.i], true)
	p.i++
	if err := p.domain(); err != nil {
		return err
	}
	if err := p.cfws(); err != nil {
		return err
	}
	if p.eof() || p.peek() != '>' {
		return errAddrExpectedClose
	}
	p.i++
	return nil
}

// domain reads a domain after "@": dot-atom, obs-domain (atoms and dots
// with CFWS between) or domain-literal (RFC 5322 sections 3.4.1, 4.4),
// and hands it to add.
func (p *addrParser) domain() error {
	if err := p.cfws(); err != nil {
		return err
	}
	if p.eof() {
		return errAddrNoDomain
	}
	if p.peek() == '[' {
		start := p.i
		for !p.eof() && p.peek() != ']' {
			if p.peek() == '\\' {
				p.i++ // obs-dtext: quoted-pair
			}
			p.i++
		}
		if p.eof() {
			return errAddrUnterminatedDomainLiteral
		}
		p.i++
		p.found(p.s[start:p.i], true)
		return nil
	}
	start := p.i
	p.buf = p.buf[:0]
	contiguous := true
	for {
		a := p.atom()
		if a == nil {
			return errAddrBadDomain
		}
		p.buf = append(p.buf, a...)
		end := p.i
		if err := p.cfws(); err != nil {
			return err
		}
		if p.eof() || p.peek() != '.' {
			p.i = end
			break
		}
		if p.i != end {
			contiguous = false
		}
		p.i++
		p.buf = append(p.buf, '.')
		at := p.i
		if err := p.cfws(); err != nil {
			return err
		}
		if p.i != at {
			contiguous = false
		}
	}
	if contiguous {
		p.found(p.s[start:p.i], false)
	} else {
		p.found(p.buf, false)
	}
	return nil
}

// group reads the rest of a group after ":" (RFC 5322 section 3.4):
// mailboxes, empty elements (obs-group-list), up to ";".
func (p *addrParser) group() error {
	for {
		if err := p.cfws(); err != nil {
			return err
		}
		if p.eof() {
			return errAddrUnterminatedGroup
		}
		switch p.peek() {
		case ';':
			p.i++
			return nil
		case ',':
			p.i++
			continue
		}
		if err := p.address(false); err != nil {
			return err
		}
		if err := p.cfws(); err != nil {
			return err
		}
		if !p.eof() && p.peek() == ',' {
			p.i++
		} else if p.eof() || p.peek() != ';' {
			return errAddrExpectedCommaOrSemicolon
		}
	}
}

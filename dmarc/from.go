package dmarc

import (
	"bytes"
	"errors"
	"fmt"
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
		if !f.is("From") {
			continue
		}
		found = true
		if err := a.addField(f.body(), max); err != nil {
			return a, err
		}
	}
	if !found {
		a.noFrom = ErrNoFrom
	}
	return a, nil
}

// addField adds the domains of one From field body.
func (a *authors) addField(v []byte, max int) error {
	var tooMany error
	n := 0
	add := func(d []byte, literal bool) {
		n++
		if tooMany != nil {
			return
		}
		if literal {
			a.setNoFrom(fmt.Errorf("%w: domain literal %q", ErrFromDomain, d))
			return
		}
		tooMany = a.add(d, max)
	}
	// Parse once to check, then again to add, so that a field that
	// fails half-way adds nothing but what the lenient reading finds.
	err := parseAddressList(v, func([]byte, bool) {})
	if err == nil {
		parseAddressList(v, add)
	}
	if tooMany != nil {
		return tooMany
	}
	if err == nil {
		if n == 0 {
			a.setNoFrom(ErrNoAuthor)
		}
		return nil
	}
	// Not RFC 5322: take what looks like a domain after each "@".
	n = 0
	for d := range lenientDomains(v) {
		n++
		if err := a.add(d, max); err != nil {
			return err
		}
	}
	if n == 0 {
		a.setNoFrom(fmt.Errorf("%w: %w", ErrFromSyntax, err))
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
	nd, err := normalizeDomain(string(d))
	if err != nil {
		a.setNoFrom(fmt.Errorf("%w: %w", ErrFromDomain, err))
		return nil
	}
	if len(a.seen) < 4*max {
		a.seen = append(a.seen, bytes.Clone(d))
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

func (a *authors) setNoFrom(err error) {
	if a.noFrom == nil {
		a.noFrom = err
	}
}

// lenientDomains yields, for each "@" in v, the run of domain characters
// that follows it, dots trimmed, when not empty.
func lenientDomains(v []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for i := 0; i < len(v); i++ {
			if v[i] != '@' {
				continue
			}
			j := i + 1
			for j < len(v) && (isLetDig(v[j]) || v[j] == '-' || v[j] == '.' || v[j] == '_' || v[j] >= 0x80) {
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

// errAddr is the syntax error of parseAddressList.
type errAddr struct {
	what string
	at   int
}

func (e *errAddr) Error() string { return fmt.Sprintf("%s at offset %d", e.what, e.at) }

// parseAddressList parses a From field body as an address-list (RFC 5322
// section 3.4), obsolete forms included (section 4.4: routes, empty list
// elements, CFWS around the dots of local parts and domains, phrases with
// dots), UTF-8 allowed (RFC 6532 section 3.2), and calls add with the
// domain of each address, CFWS removed; literal is set for a
// domain-literal. The body may still be folded. Encoded words (RFC 2047)
// are atoms of display names, which do not matter here.
func parseAddressList(v []byte, add func(domain []byte, literal bool)) error {
	p := &addrParser{s: v, add: add}
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
			return p.fail("expected \",\"")
		}
		p.i++
	}
}

type addrParser struct {
	s   []byte
	i   int
	add func([]byte, bool)
	buf []byte // a domain written with CFWS inside, put together
}

func (p *addrParser) eof() bool  { return p.i >= len(p.s) }
func (p *addrParser) peek() byte { return p.s[p.i] }

func (p *addrParser) fail(what string) error { return &errAddr{what: what, at: p.i} }

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
					return p.fail("unterminated comment")
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
	return p.fail("unterminated quoted string")
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
		return p.fail("no address")
	}
	switch p.peek() {
	case '@':
		// addr-spec: the words were a local part.
		if words == 0 || !local || wantWord {
			return p.fail("bad local part")
		}
		p.i++
		return p.domain()
	case '<':
		p.i++
		return p.angleAddr()
	case ':':
		if !groups || words == 0 {
			return p.fail("unexpected \":\"")
		}
		p.i++
		return p.group()
	}
	return p.fail("no address")
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
		add := p.add
		p.add = func([]byte, bool) {}
		for !p.eof() && p.peek() != ':' {
			switch p.peek() {
			case ',':
				p.i++
			case '@':
				p.i++
				if err := p.domain(); err != nil {
					p.add = add
					return err
				}
			default:
				p.add = add
				return p.fail("bad route")
			}
			if err := p.cfws(); err != nil {
				p.add = add
				return err
			}
		}
		p.add = add
		if p.eof() {
			return p.fail("unterminated route")
		}
		p.i++
	}
	// addr-spec: local-part "@" domain.
	words := 0
	for {
		ok, err := p.word()
		if err != nil {
			return err
		}
		if !ok {
			return p.fail("bad local part")
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
		return p.fail("expected \"@\"")
	}
	p.i++
	if err := p.domain(); err != nil {
		return err
	}
	if err := p.cfws(); err != nil {
		return err
	}
	if p.eof() || p.peek() != '>' {
		return p.fail("expected \">\"")
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
		return p.fail("no domain")
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
			return p.fail("unterminated domain literal")
		}
		p.i++
		p.add(p.s[start:p.i], true)
		return nil
	}
	start := p.i
	p.buf = p.buf[:0]
	contiguous := true
	for {
		a := p.atom()
		if a == nil {
			return p.fail("bad domain")
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
		p.add(p.s[start:p.i], false)
	} else {
		p.add(p.buf, false)
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
			return p.fail("unterminated group")
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
			return p.fail("expected \",\" or \";\"")
		}
	}
}

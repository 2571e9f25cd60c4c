package spf

import (
	"errors"
	"fmt"
	"strings"
)

// A Condition is an Exim result-word list, such as "fail : softfail" or
// "!pass", as the spf ACL condition takes it. Items are tried left to
// right; an item matches when the result is its word, or, with a leading
// "!", when it is not; the first item that matches makes the condition
// true, and a list where none matches is false. The zero Condition is the
// empty list: it never matches.
//
// Items are separated by colons, with white space around them ignored.
// As in every Exim list, a leading "<" followed by a punctuation character
// makes that character the separator instead ("<; fail; softfail").
// The words are those of ParseResult, err_perm and err_temp included.
type Condition struct {
	items []condItem
}

type condItem struct {
	negate bool
	word   Result
}

// ErrEmptyItem is wrapped by ParseCondition's error for a list with an
// empty item, such as "fail::pass" or "fail:".
var ErrEmptyItem = errors.New("empty item")

// ParseCondition parses an Exim result-word list. A string that is empty
// or only white space is the empty list. Unknown words, empty items and a
// bad separator change are errors.
func ParseCondition(s string) (Condition, error) {
	var c Condition
	list := strings.TrimSpace(s)
	if list == "" {
		return c, nil
	}
	sep := ":"
	if strings.HasPrefix(list, "<") {
		// Exim's list separator change: "<" and one printing character
		// that is not alphanumeric or white space.
		if len(list) < 2 || !isSeparator(list[1]) {
			return Condition{}, fmt.Errorf("spf: condition %q: bad separator after %q", s, "<")
		}
		sep = list[1:2]
		list = strings.TrimSpace(list[2:])
		if list == "" {
			return c, nil
		}
	}
	for _, raw := range strings.Split(list, sep) {
		item := strings.TrimSpace(raw)
		negate := strings.HasPrefix(item, "!")
		if negate {
			item = strings.TrimSpace(item[1:])
		}
		if item == "" {
			return Condition{}, fmt.Errorf("spf: condition %q: %w", s, ErrEmptyItem)
		}
		r, err := ParseResult(item)
		if err != nil {
			return Condition{}, fmt.Errorf("spf: condition %q: %w", s, err)
		}
		c.items = append(c.items, condItem{negate: negate, word: r})
	}
	return c, nil
}

func isSeparator(b byte) bool {
	switch {
	case b <= ' ' || b >= 0x7f:
		return false
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return false
	}
	return b != '!'
}

// MustParseCondition is ParseCondition for lists known to be good, such
// as constants; it panics on an error.
func MustParseCondition(s string) Condition {
	c, err := ParseCondition(s)
	if err != nil {
		panic(err)
	}
	return c
}

// Match reports whether r satisfies the list: the first item that matches
// decides, and no match is false.
func (c Condition) Match(r Result) bool {
	for _, it := range c.items {
		if (it.word == r) != it.negate {
			return true
		}
	}
	return false
}

// IsZero reports whether the list is empty, so that it never matches.
func (c Condition) IsZero() bool { return len(c.items) == 0 }

// String returns the list in canonical form, such as "fail:!pass", with
// aliases replaced by the words they stand for.
func (c Condition) String() string {
	var b strings.Builder
	for i, it := range c.items {
		if i > 0 {
			b.WriteByte(':')
		}
		if it.negate {
			b.WriteByte('!')
		}
		b.WriteString(string(it.word))
	}
	return b.String()
}

// MarshalText returns String's form, so that a Condition works with
// flag.TextVar and encoding packages.
func (c Condition) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses text as ParseCondition does.
func (c *Condition) UnmarshalText(text []byte) error {
	p, err := ParseCondition(string(text))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

package dmarc

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
)

// Reasons for StatusNoFrom, wrapped by Result.Err (RFC 7489 section
// 6.6.1: a message with no From field, several, or several addresses in
// one, is outside DMARC, and a receiver may reject it).
var (
	ErrNoFrom          = errors.New("no From header field")
	ErrMultipleFrom    = errors.New("more than one From header field")
	ErrNoAuthor        = errors.New("no address in the From header field")
	ErrMultipleAuthors = errors.New("more than one address in the From header field")
	ErrFromSyntax      = errors.New("unparsable From header field")
	ErrFromDomain      = errors.New("no usable domain in the From address")
)

// addressParser decodes encoded-word display names in any charset
// leniently: a charset it does not know is passed through, since only
// the address matters here.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// fromDomain extracts the Author Domain from the header fields (RFC 7489
// section 6.6.1, RFC 9989 section 4.8): exactly one From field holding
// exactly one address, whose domain is returned normalised.
func fromDomain(fields []field) (string, error) {
	var from *field
	for i := range fields {
		if strings.EqualFold(fields[i].name, "From") {
			if from != nil {
				return "", ErrMultipleFrom
			}
			from = &fields[i]
		}
	}
	if from == nil {
		return "", ErrNoFrom
	}
	return parseFrom(from.value())
}

// parseFrom parses the value of a From field. The address list is parsed
// as RFC 5322 section 3.4 says (groups, comments, encoded words
// included); when that fails, a value holding exactly one angle-bracketed
// address is taken for that address, as real mail has display names that
// break the grammar and an unparsable From must not be a way around DMARC.
func parseFrom(v string) (string, error) {
	list, err := addressParser.ParseList(v)
	if err != nil {
		a, ok := angleAddr(v)
		if !ok {
			return "", fmt.Errorf("%w: %w", ErrFromSyntax, err)
		}
		addr, err2 := addressParser.Parse("<" + a + ">")
		if err2 != nil {
			return "", fmt.Errorf("%w: %w", ErrFromSyntax, err)
		}
		list = []*mail.Address{addr}
	}
	switch len(list) {
	case 0:
		return "", ErrNoAuthor
	case 1:
	default:
		return "", fmt.Errorf("%w (%d)", ErrMultipleAuthors, len(list))
	}
	at := strings.LastIndexByte(list[0].Address, '@')
	if at < 0 {
		return "", ErrFromDomain
	}
	d, err := normalizeDomain(list[0].Address[at+1:])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrFromDomain, err)
	}
	return d, nil
}

// angleAddr returns the text between the only "<" and ">" of v.
func angleAddr(v string) (string, bool) {
	if strings.Count(v, "<") != 1 || strings.Count(v, ">") != 1 {
		return "", false
	}
	i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>')
	if j < i {
		return "", false
	}
	return v[i+1 : j], true
}

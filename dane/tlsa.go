package dane

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Certificate usages (RFC 6698 section 2.1.1, names from RFC 7218).
const (
	PKIXTA = 0 // unusable for SMTP (RFC 7672 section 3.1.3)
	PKIXEE = 1 // unusable for SMTP (RFC 7672 section 3.1.3)
	DANETA = 2 // trust anchor: chain and names checked (RFC 7672 section 3.1.2)
	DANEEE = 3 // end entity: key or certificate only (RFC 7672 section 3.1.1)
)

// Selectors (RFC 6698 section 2.1.2).
const (
	SelectorCert = 0 // the whole certificate, DER
	SelectorSPKI = 1 // the SubjectPublicKeyInfo, DER
)

// Matching types (RFC 6698 section 2.1.3).
const (
	MatchFull   = 0 // the selected data itself
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Record is a TLSA record (RFC 6698 section 2.1).
type Record struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte // the certificate association data
}

// String is the record's presentation form, "3 1 1 <hex>" (RFC 6698
// section 2.2), what goes after "TLSA" in a zone file.
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data))
}

// ParseRecord reads a record in presentation form, "3 1 1 <hex>"; the
// hex may be split by white space (RFC 6698 section 2.2). Empty data is
// accepted here and makes the record unusable (see Usable).
func ParseRecord(s string) (Record, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return Record{}, fmt.Errorf("dane: TLSA record %q: want usage, selector, matching type and data", s)
	}
	var nums [3]uint8
	for i := range nums {
		n, err := strconv.ParseUint(f[i], 10, 8)
		if err != nil {
			return Record{}, fmt.Errorf("dane: TLSA record %q: %w", s, err)
		}
		nums[i] = uint8(n)
	}
	data, err := hex.DecodeString(strings.Join(f[3:], ""))
	if err != nil {
		return Record{}, fmt.Errorf("dane: TLSA record %q: %w", s, err)
	}
	return Record{Usage: nums[0], Selector: nums[1], MatchingType: nums[2], Data: data}, nil
}

// FromRR converts a miekg/dns TLSA record.
func FromRR(rr *dns.TLSA) (Record, error) {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, fmt.Errorf("dane: TLSA data of %s: %w", rr.Hdr.Name, err)
	}
	return Record{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data}, nil
}

// NewRecord returns the TLSA record with the given usage, selector and
// matching type for cert: the job of the openssl pipeline in Exim's
// documentation. NewRecord(cert, DANEEE, SelectorSPKI, MatchSHA256) is
// "3 1 1", the record RFC 7671 section 5.1 recommends; for a CA
// certificate "2 1 1".
func NewRecord(cert *x509.Certificate, usage, selector, matchingType uint8) (Record, error) {
	sel, err := selected(cert, selector)
	if err != nil {
		return Record{}, err
	}
	data, err := digest(sel, matchingType)
	if err != nil {
		return Record{}, err
	}
	return Record{Usage: usage, Selector: selector, MatchingType: matchingType, Data: data}, nil
}

// NewKeyRecord returns the record with selector SPKI(1) for a public key,
// for publishing a record before the certificate exists (a key that
// survives renewal keeps its "3 1 1" record, RFC 7671 section 8.1).
func NewKeyRecord(pub crypto.PublicKey, usage, matchingType uint8) (Record, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Record{}, fmt.Errorf("dane: %w", err)
	}
	data, err := digest(spki, matchingType)
	if err != nil {
		return Record{}, err
	}
	return Record{Usage: usage, Selector: SelectorSPKI, MatchingType: matchingType, Data: data}, nil
}

func selected(cert *x509.Certificate, selector uint8) ([]byte, error) {
	switch selector {
	case SelectorCert:
		return cert.Raw, nil
	case SelectorSPKI:
		return cert.RawSubjectPublicKeyInfo, nil
	}
	return nil, fmt.Errorf("dane: unknown TLSA selector %d", selector)
}

func digest(b []byte, matchingType uint8) ([]byte, error) {
	switch matchingType {
	case MatchFull:
		return bytes.Clone(b), nil
	case MatchSHA256:
		h := sha256.Sum256(b)
		return h[:], nil
	case MatchSHA512:
		h := sha512.Sum512(b)
		return h[:], nil
	}
	return nil, fmt.Errorf("dane: unknown TLSA matching type %d", matchingType)
}

// Matches reports whether the record's data matches cert under its
// selector and matching type (RFC 6698 section 2.1). The usage is not
// considered.
func (r Record) Matches(cert *x509.Certificate) bool {
	sel, err := selected(cert, r.Selector)
	if err != nil {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return bytes.Equal(sel, r.Data)
	case MatchSHA256:
		h := sha256.Sum256(sel)
		return bytes.Equal(h[:], r.Data)
	case MatchSHA512:
		h := sha512.Sum512(sel)
		return bytes.Equal(h[:], r.Data)
	}
	return false
}

// errUnusable explains why Usable dropped a record.
var errUnusable = errors.New("unusable TLSA record")

// check reports why r cannot be used for SMTP, or nil.
func (r Record) check() error {
	switch r.Usage {
	case DANETA, DANEEE:
	case PKIXTA, PKIXEE:
		// RFC 7672 section 3.1.3: PKIX usages are not for SMTP.
		return fmt.Errorf("%w: PKIX usage %d", errUnusable, r.Usage)
	default:
		return fmt.Errorf("%w: usage %d", errUnusable, r.Usage)
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return fmt.Errorf("%w: selector %d", errUnusable, r.Selector)
	}
	// RFC 7671 section 5.1 (and RFC 7672 section 2.1.1): records with
	// malformed data are unusable.
	switch r.MatchingType {
	case MatchFull:
		if len(r.Data) == 0 {
			return fmt.Errorf("%w: empty data", errUnusable)
		}
	case MatchSHA256:
		if len(r.Data) != sha256.Size {
			return fmt.Errorf("%w: SHA-256 digest of %d octets", errUnusable, len(r.Data))
		}
	case MatchSHA512:
		if len(r.Data) != sha512.Size {
			return fmt.Errorf("%w: SHA-512 digest of %d octets", errUnusable, len(r.Data))
		}
	default:
		return fmt.Errorf("%w: matching type %d", errUnusable, r.MatchingType)
	}
	return nil
}

// Usable returns the records an SMTP client may use, in their order:
// usages DANE-TA(2) and DANE-EE(3) only (RFC 7672 section 3.1.3), known
// selectors and matching types with well-formed data, and, per usage and
// selector, the Full(0) records plus those of the strongest digest present
// only (digest algorithm agility, RFC 7671 section 9).
func Usable(records []Record) []Record {
	type key struct{ usage, selector uint8 }
	strongest := map[key]uint8{}
	var ok []Record
	for _, r := range records {
		if r.check() != nil {
			continue
		}
		ok = append(ok, r)
		k := key{r.Usage, r.Selector}
		if r.MatchingType > strongest[k] {
			// RFC 7671 section 9: SHA2-512(2) is stronger than
			// SHA2-256(1); Full(0) is kept regardless.
			strongest[k] = r.MatchingType
		}
	}
	var out []Record
	for _, r := range ok {
		if r.MatchingType == MatchFull || r.MatchingType == strongest[key{r.Usage, r.Selector}] {
			out = append(out, r)
		}
	}
	return out
}

// UsageBits returns the bit field of the usages among records: bit N set
// when a record of usage N is present, Exim's $tls_out_tlsa_usage.
func UsageBits(records []Record) uint8 {
	var bits uint8
	for _, r := range records {
		if r.Usage < 8 {
			bits |= 1 << r.Usage
		}
	}
	return bits
}

package arc

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// startKeys serves TXT records such as {"sel._domainkey.example.org":
// "v=DKIM1; p=..."} from an in-process DNS server on loopback, one zone
// per domain under _domainkey.
func startKeys(t testing.TB, records map[string]string) *dnstest.Server {
	t.Helper()
	zones := map[string]*strings.Builder{}
	names := make([]string, 0, len(records))
	for name := range records {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		zone := name
		if _, after, ok := strings.Cut(name, "._domainkey."); ok {
			zone = after
		}
		b := zones[zone]
		if b == nil {
			b = &strings.Builder{}
			zones[zone] = b
		}
		fmt.Fprintf(b, "%s. TXT %s\n", name, zoneTXT(records[name]))
	}
	var zs []dnstest.Zone
	for name, b := range zones {
		zs = append(zs, dnstest.Zone{Name: name, Text: b.String()})
	}
	return dnstest.Start(t, zs...)
}

// zoneTXT writes a TXT value as zone file character-strings (RFC 1035
// section 5.1): at most 255 bytes each, quotes and backslashes escaped,
// other bytes outside printable ASCII as \DDD.
func zoneTXT(v string) string {
	var out []string
	for len(v) > 0 || out == nil {
		n := min(len(v), 255)
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < n; i++ {
			c := v[i]
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c > 0x7e:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		out = append(out, b.String())
		v = v[n:]
	}
	return strings.Join(out, " ")
}

// keyRecord is the DKIM key record (RFC 6376 section 3.6.1) for pub.
func keyRecord(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("key type %T", pub)
	return ""
}

var (
	testKeysMu sync.Mutex
	testKeys   = map[int]*rsa.PrivateKey{}
)

// rsaKey returns an RSA key of bits, generated once per test binary.
func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	if k := testKeys[bits]; k != nil {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	testKeys[bits] = k
	return k
}

// crlfText turns the LF line ends of a test message into CRLF.
func crlfText(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

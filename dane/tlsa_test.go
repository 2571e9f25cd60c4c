package dane

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/miekg/dns"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

func TestNewRecord(t *testing.T) {
	leaf := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	r, err := NewRecord(leaf.Certificate, DANEEE, SelectorSPKI, MatchSHA256)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.SPKI())
	if want := "3 1 1 " + hex.EncodeToString(sum[:]); r.String() != want {
		t.Fatalf("%s, want %s", r, want)
	}
	k, err := NewKeyRecord(leaf.Certificate.PublicKey, DANEEE, MatchSHA256)
	if err != nil || k.String() != r.String() {
		t.Fatalf("key record %s %v", k, err)
	}
	back, err := ParseRecord(r.String())
	if err != nil || back.String() != r.String() || !back.Matches(leaf.Certificate) {
		t.Fatalf("round trip %s %v", back, err)
	}
	// Split hex, as zone files allow.
	if s, err := ParseRecord("2 0 1 " + hex.EncodeToString(sum[:16]) + " " + hex.EncodeToString(sum[16:])); err != nil || len(s.Data) != 32 {
		t.Fatalf("split: %v %v", s, err)
	}
	for _, bad := range []string{"", "3 1", "3 1 x 00", "300 1 1 00", "3 1 1 0g"} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := NewRecord(leaf.Certificate, 3, 2, 1); err == nil {
		t.Error("selector 2 accepted")
	}
	if _, err := NewRecord(leaf.Certificate, 3, 1, 3); err == nil {
		t.Error("matching type 3 accepted")
	}
	rr, err := dns.NewRR("_25._tcp.mx.example.test. 300 IN TLSA " + r.String())
	if err != nil {
		t.Fatal(err)
	}
	if fr, err := FromRR(rr.(*dns.TLSA)); err != nil || fr.String() != r.String() {
		t.Fatalf("FromRR %s %v", fr, err)
	}
}

func TestUsable(t *testing.T) {
	d32, d64 := make([]byte, 32), make([]byte, 64)
	in := []Record{
		{0, 1, 1, d32}, // PKIX-TA
		{1, 1, 1, d32}, // PKIX-EE
		{4, 1, 1, d32}, // unknown usage
		{3, 2, 1, d32}, // unknown selector
		{3, 1, 3, d32}, // unknown matching type
		{3, 1, 1, d32[:31]},
		{3, 1, 2, d32}, // malformed SHA-512
		{3, 1, 0, nil}, // empty
		{3, 1, 1, d32}, // dropped: SHA-512 present for 3 1
		{3, 1, 2, d64},
		{3, 1, 0, []byte{1}},
		{3, 0, 1, d32}, // kept: 3 0 has only SHA-256
		{2, 1, 1, d32},
	}
	got := Usable(in)
	if fmt.Sprint(got) != fmt.Sprint([]Record{in[9], in[10], in[11], in[12]}) {
		t.Fatalf("usable:\n%v", got)
	}
	if b := UsageBits(got); b != 1<<2|1<<3 {
		t.Fatalf("usage bits %b", b)
	}
	if b := UsageBits(in); b != 1|2|4|8|16 {
		t.Fatalf("usage bits of all %b", b)
	}
}

// FuzzTLSARecord feeds untrusted TLSA RDATA, as a resolver hands it over,
// through unpacking, filtering and matching.
func FuzzTLSARecord(f *testing.F) {
	leaf := pkitest.SelfSigned(f, pkitest.Leaf{Names: []string{"mx.example.test"}})
	r, _ := NewRecord(leaf.Certificate, 3, 1, 1)
	rdata, _ := hex.DecodeString(fmt.Sprintf("030101%x", r.Data))
	f.Add(rdata)
	f.Add([]byte{2, 1, 0, 0x30, 0x03, 0x02, 0x01, 0x00})
	f.Add([]byte{3})
	f.Fuzz(func(t *testing.T, rdata []byte) {
		if len(rdata) > 65535 {
			return
		}
		// A wire-format TLSA RR: owner ".", type 52, class IN, TTL 0.
		msg := append([]byte{0, 0, 52, 0, 1, 0, 0, 0, 0, byte(len(rdata) >> 8), byte(len(rdata))}, rdata...)
		rr, _, err := dns.UnpackRR(msg, 0)
		if err != nil {
			return
		}
		tlsa, ok := rr.(*dns.TLSA)
		if !ok {
			return
		}
		rec, err := FromRR(tlsa)
		if err != nil {
			return
		}
		back, err := ParseRecord(rec.String())
		if err != nil || back.String() != rec.String() {
			t.Fatalf("presentation round trip of %s: %v", rec, err)
		}
		usable := Usable([]Record{rec})
		_, _ = verifyChain([]*x509.Certificate{leaf.Certificate, leaf.Certificate}, usable, []string{"mx.example.test"}, leaf.Certificate.NotBefore)
	})
}

// FuzzParseRecord feeds TLSA records in presentation form (zone files,
// configuration).
func FuzzParseRecord(f *testing.F) {
	f.Add("3 1 1 " + hex.EncodeToString(make([]byte, 32)))
	f.Add("2 0 0 30 03")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			return
		}
		back, err := ParseRecord(r.String())
		if err != nil || back.String() != r.String() {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		Usable([]Record{r})
	})
}

package dane

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// daneCase is one server chain against one TLSA RRset.
type daneCase struct {
	name    string
	cert    tls.Certificate
	records []Record
	names   []string
	wantErr error // nil: verified
	depth   int
}

func TestVerifyChains(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	in2 := in.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	deep := in2.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	rootLeaf := root.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	wild := in.Issue(t, pkitest.Leaf{Names: []string{"*.example.test"}})
	cnOnly := in.Issue(t, pkitest.Leaf{CommonName: "mx.example.test"})
	sanAndCN := in.Issue(t, pkitest.Leaf{Names: []string{"other.example.test"}, CommonName: "mx.example.test"})
	expiredNoName := in.Issue(t, pkitest.Leaf{Expired: true})
	expiredTA := in.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}, Expired: true})
	other := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	rsaLeaf := pkitest.NewCA(t, pkitest.RSA).Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}, Key: pkitest.RSA})

	names := []string{"mx.example.test", "example.test"}
	spkiFull := func(c *pkitest.Cert) Record { return rec(t, c.Certificate, DANETA, SelectorSPKI, MatchFull) }
	bad := rec(t, other.Certificate, DANEEE, SelectorSPKI, MatchSHA256)

	cases := []daneCase{
		{name: "3 1 1", cert: serverCert(leaf, 0), records: []Record{rec(t, leaf.Certificate, 3, 1, 1)}},
		{name: "3 1 2", cert: serverCert(leaf, 0), records: []Record{rec(t, leaf.Certificate, 3, 1, 2)}},
		{name: "3 0 1", cert: serverCert(leaf, 0), records: []Record{rec(t, leaf.Certificate, 3, 0, 1)}},
		{name: "3 0 0", cert: serverCert(leaf, 0), records: []Record{rec(t, leaf.Certificate, 3, 0, 0)}},
		{name: "3 1 1 RSA", cert: serverCert(rsaLeaf, 0), records: []Record{rec(t, rsaLeaf.Certificate, 3, 1, 1)}},
		{name: "3 1 1 second record", cert: serverCert(leaf, 0), records: []Record{bad, rec(t, leaf.Certificate, 3, 1, 1)}},
		{name: "3 1 1 mismatch", cert: serverCert(leaf, 0), records: []Record{bad}, wantErr: ErrNoMatch},
		{name: "DANE-EE expired without CN passes", cert: serverCert(expiredNoName, 0), records: []Record{rec(t, expiredNoName.Certificate, 3, 1, 1)}},
		{name: "DANE-EE name mismatch passes", cert: serverCert(other, 0), records: []Record{rec(t, other.Certificate, 3, 1, 1)}, names: []string{"elsewhere.test"}},
		{name: "2 1 1 intermediate", cert: serverCert(leaf, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, depth: 1},
		{name: "2 0 1 intermediate", cert: serverCert(leaf, 0), records: []Record{rec(t, in.Certificate, 2, 0, 1)}, depth: 1},
		{name: "2 1 2 root sent", cert: serverCert(leaf, 0, root.Certificate), records: []Record{rec(t, root.Certificate, 2, 1, 2)}, depth: 2},
		{name: "2 1 1 TA at depth 2 of 3", cert: serverCert(deep, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, depth: 2},
		{name: "2 1 1 TA missing from chain", cert: serverCert(leaf, 0), records: []Record{rec(t, root.Certificate, 2, 1, 1)}, wantErr: ErrNoMatch},
		{name: "2 1 0 out-of-band root", cert: serverCert(leaf, 0), records: []Record{spkiFull(root.Cert)}, depth: -1},
		{name: "2 1 0 root signs leaf, not sent", cert: serverCert(rootLeaf, 0), records: []Record{spkiFull(root.Cert)}, depth: -1},
		{name: "2 1 0 issuing TA not sent", cert: serverCert(leaf, 1), records: []Record{spkiFull(in.Cert)}, depth: -1},
		{name: "2 1 1 issuing TA not sent", cert: serverCert(leaf, 1), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, wantErr: ErrNoMatch},
		{name: "DANE-TA matching the EE certificate", cert: serverCert(leaf, 0), records: []Record{rec(t, leaf.Certificate, 2, 1, 1)}, wantErr: ErrNoMatch},
		{name: "2 1 0 of the EE key", cert: serverCert(leaf, 0), records: []Record{spkiFull(leaf)}, wantErr: ErrNoMatch},
		{name: "DANE-TA wrong name", cert: serverCert(leaf, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, names: []string{"mx.elsewhere.test"}, wantErr: ErrName},
		{name: "DANE-TA next-hop name", cert: serverCert(in.Issue(t, pkitest.Leaf{Names: []string{"example.test"}}), 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, depth: 1},
		{name: "DANE-TA wildcard", cert: serverCert(wild, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, depth: 1},
		{name: "DANE-TA wildcard one label only", cert: serverCert(wild, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, names: []string{"a.mx.example.test"}, wantErr: ErrName},
		{name: "DANE-TA CN without SAN", cert: serverCert(cnOnly, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, depth: 1},
		{name: "DANE-TA CN ignored beside SAN", cert: serverCert(sanAndCN, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, wantErr: ErrName},
		{name: "DANE-TA expired leaf", cert: serverCert(expiredTA, 0), records: []Record{rec(t, in.Certificate, 2, 1, 1)}, wantErr: ErrNoMatch},
		// RFC 7671 section 9: the strongest digest wins per usage and
		// selector; a SHA-256 record beside a SHA-512 one is ignored.
		{name: "agility: SHA-512 used", cert: serverCert(leaf, 0), records: []Record{rec(t, other.Certificate, 3, 1, 1), rec(t, leaf.Certificate, 3, 1, 2)}},
		{name: "agility: SHA-256 ignored", cert: serverCert(leaf, 0), records: []Record{rec(t, leaf.Certificate, 3, 1, 1), rec(t, other.Certificate, 3, 1, 2)}, wantErr: ErrNoMatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.names
			if n == nil {
				n = names
			}
			p := &Policy{Mode: Require, Host: "mx.example.test", BaseDomain: "mx.example.test",
				Records: tc.records, Usable: Usable(tc.records), Names: n, Action: Authenticate}
			sni, err := handshake(t, tc.cert, p.TLSConfig(nil))
			if sni != "mx.example.test" {
				t.Errorf("SNI %q, want the base domain", sni)
			}
			res := p.Result()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(res.Err, tc.wantErr) {
					t.Fatalf("handshake error %v (result %v), want %v", err, res.Err, tc.wantErr)
				}
				if res.CV != "no" || res.Verified {
					t.Errorf("result %+v after a failure", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if res.CV != "dane" || !res.Verified || res.Matched == nil || res.Depth != tc.depth {
				t.Fatalf("result %+v, want CV=dane at depth %d", res, tc.depth)
			}
		})
	}
}

func TestVerifyComposesNext(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	p := &Policy{BaseDomain: "mx.example.test", Usable: []Record{rec(t, leaf.Certificate, 3, 1, 1)}, Action: Authenticate}
	called := false
	next := errors.New("next says no")
	base := &tls.Config{VerifyConnection: func(tls.ConnectionState) error { called = true; return next }}
	_, err := handshake(t, leaf.TLS(), p.TLSConfig(base))
	if !called || !errors.Is(err, next) {
		t.Fatalf("base VerifyConnection called %v, err %v", called, err)
	}
	if base.InsecureSkipVerify || base.ServerName != "" {
		t.Fatal("base config modified")
	}
}

func TestOpportunisticAndMandatory(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	self := pkitest.SelfSigned(t, pkitest.Leaf{Names: []string{"mx.example.test"}})

	opp := &Policy{Mode: Try, Host: "mx.example.test"}
	cfg := opp.TLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test", RootCAs: ca.Pool()})
	if _, err := handshake(t, leaf.TLS(), cfg); err != nil {
		t.Fatal(err)
	}
	if r := opp.Result(); r.CV != "yes" || r.Verified || r.Action != Opportunistic {
		t.Fatalf("PKIX-valid: %+v", r)
	}
	if _, err := handshake(t, self.TLS(), cfg); err != nil {
		t.Fatal(err)
	}
	if r := opp.Result(); r.CV != "no" {
		t.Fatalf("self-signed: %+v", r)
	}
	if opp.TLSRequired() {
		t.Fatal("opportunistic policy requires TLS")
	}
	// Base verification kept: crypto/tls verified, CV=yes.
	strict := opp.TLSConfig(&tls.Config{ServerName: "mx.example.test", RootCAs: ca.Pool()})
	if _, err := handshake(t, leaf.TLS(), strict); err != nil || opp.Result().CV != "yes" {
		t.Fatalf("strict: %v %+v", err, opp.Result())
	}

	mand := &Policy{Mode: Try, BaseDomain: "mx.example.test", Records: []Record{rec(t, leaf.Certificate, PKIXEE, 1, 1)}, Action: MandatoryTLS}
	if !mand.TLSRequired() {
		t.Fatal("mandatory TLS not required")
	}
	if sni, err := handshake(t, self.TLS(), mand.TLSConfig(nil)); err != nil || sni != "mx.example.test" {
		t.Fatalf("mandatory: %v, SNI %q", err, sni)
	}
	if r := mand.Result(); r.CV != "no" || r.Verified {
		t.Fatalf("mandatory result %+v", r)
	}
}

func TestMatchName(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"mx.example.test", "MX.Example.Test", true},
		{"mx.example.test.", "mx.example.test", true},
		{"*.example.test", "mx.example.test", true},
		{"*.example.test", "example.test", false},
		{"*.example.test", "a.b.example.test", false},
		{"*.test", "example.test", false},
		{"m*.example.test", "mx.example.test", false},
		{"mx.*.test", "mx.example.test", false},
		{"", "mx.example.test", false},
	} {
		c := &x509.Certificate{DNSNames: []string{tc.pattern}}
		if _, got := matchName(c, []string{tc.name}); got != tc.want {
			t.Errorf("%q vs %q: %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestResultLogValue(t *testing.T) {
	r := Result{CV: "dane", Verified: true, Usages: 1 << 3, Matched: &Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1}}, Name: "x"}
	s := r.LogValue().String()
	for _, want := range []string{"cv=dane", "dane=true", "tlsa_usage=8", "tlsa=3 1 1 01"} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
}

package arc

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestSealOptions(t *testing.T) {
	ed := edHop("a.example")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := "Authentication-Results: a.example; spf=pass\r\n" + testMessage
	tests := []struct {
		name string
		opts *SealOptions
		err  string
	}{
		{"nil", nil, "needs options"},
		{"no domain", &SealOptions{Selector: "s", Signer: ed.key}, "bad seal domain"},
		{"bad selector", &SealOptions{Domain: "a.example", Selector: "a b", Signer: ed.key}, "bad selector"},
		{"no signer", &SealOptions{Domain: "a.example", Selector: "s"}, "no Signer"},
		{"ecdsa", &SealOptions{Domain: "a.example", Selector: "s", Signer: ec}, "want RSA or Ed25519"},
		{"rsa too large", &SealOptions{Domain: "a.example", Selector: "s", Signer: bigKey{}}, "RSA key too large"},
		{"rsa too small", &SealOptions{Domain: "a.example", Selector: "s", Signer: bigKey{bits: 768}}, "RSA key too small"},
		{"arc header", &SealOptions{Domain: "a.example", Selector: "s", Signer: ed.key, Headers: []string{"From", "ARC-Seal"}}, "must not be signed"},
		{"no from", &SealOptions{Domain: "a.example", Selector: "s", Signer: ed.key, Headers: []string{"To"}}, "must include From"},
		{"bad name", &SealOptions{Domain: "a.example", Selector: "s", Signer: ed.key, Headers: []string{"From", "a:b"}}, "bad header name"},
		{"expiry in the past", &SealOptions{Domain: "a.example", Selector: "s", Signer: ed.key, ExpireAt: time.Unix(1, 0)}, "not after the signing time"},
	}
	for _, tc := range tests {
		_, err := Seal(strings.NewReader(msg), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

// bigKey claims an RSA key of bits (default 4200) it cannot use.
type bigKey struct{ bits uint }

func (k bigKey) Public() crypto.PublicKey {
	if k.bits == 0 {
		k.bits = 4200
	}
	return &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), k.bits-1), E: 65537}
}

func (bigKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("not a key")
}

func TestSealSkips(t *testing.T) {
	a := edHop("a.example")
	opts := &SealOptions{Domain: "a.example", Selector: "ed", Signer: a.key}
	sealed := a.seal(t, testMessage, "spf=pass")
	tests := []struct {
		name, msg, why string
	}{
		{"no A-R", testMessage, "no Authentication-Results of a.example"},
		{"other ADMD", "Authentication-Results: b.example; spf=pass\r\n" + testMessage, "no Authentication-Results of a.example"},
		{"ours only below the chain", sealed, "no Authentication-Results of a.example"},
		{"no arc= result", "Authentication-Results: a.example; spf=pass\r\n" + sealed, "no arc= result"},
		{"arc=none over sets", "Authentication-Results: a.example; arc=none\r\n" + sealed, "arc=none"},
		{"newest seal failed", "Authentication-Results: a.example; arc=pass\r\n" + strings.Replace(sealed, "cv=none", "cv=fail", 1), "cv=fail"},
	}
	for _, tc := range tests {
		res, err := Seal(strings.NewReader(tc.msg), opts)
		if err != nil || res.Header != "" || !strings.Contains(res.Skipped, tc.why) {
			t.Errorf("%s: %+v %v, want skipped for %q", tc.name, res, err, tc.why)
		}
	}
}

func TestSealCV(t *testing.T) {
	a, b := edHop("a.example"), edHop("b.example")
	srv := world(t, a, b)
	sealed := a.seal(t, testMessage, "spf=pass")
	seal := func(msg string, chain *Result) *SealResult {
		t.Helper()
		res, err := Seal(strings.NewReader(msg), &SealOptions{Domain: "b.example", Selector: "ed", Signer: b.key, Chain: chain})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tests := []struct {
		name  string
		msg   string
		chain *Result
		cv    State
	}{
		{"first set", "Authentication-Results: b.example; arc=fail\r\n" + testMessage, nil, StateNone},
		{"arc=pass", "Authentication-Results: b.example; arc=pass\r\n" + sealed, nil, StatePass},
		{"ARC=Pass (comment)", "Authentication-Results: b.example; ARC=Pass (i=1)\r\n" + sealed, nil, StatePass},
		{"arc=fail", "Authentication-Results: b.example; arc=fail\r\n" + sealed, nil, StateFail},
		{"arc=temperror", "Authentication-Results: b.example; arc=temperror\r\n" + sealed, nil, StateFail},
		{"two arc= results", "Authentication-Results: b.example; arc=pass\r\nAuthentication-Results: b.example; arc=fail\r\n" + sealed, nil, StateFail},
		{"Chain pass", "Authentication-Results: b.example; spf=pass\r\n" + sealed, &Result{State: StatePass}, StatePass},
		{"Chain fail over arc=pass", "Authentication-Results: b.example; arc=pass\r\n" + sealed, &Result{State: StateFail}, StateFail},
		{"pass over a broken chain", "Authentication-Results: b.example; arc=pass\r\n" + strings.Replace(sealed, "ARC-Authentication-Results: i=1", "X-Removed: i=1", 1), nil, StateFail},
	}
	for _, tc := range tests {
		res := seal(tc.msg, tc.chain)
		if res.CV != tc.cv || res.Header == "" {
			t.Errorf("%s: cv %q (%s), want %s", tc.name, res.CV, res.Skipped, tc.cv)
			continue
		}
		// A pass seal validates; a fail seal makes the chain fail (RFC
		// 8617 section 5.2 step 2) yet verifies over its own set.
		v := verify(t, srv, res.Header+tc.msg, nil)
		want := StatePass
		if tc.cv == StateFail {
			want = StateFail
		}
		if v.State != want {
			t.Errorf("%s: sealed message verifies %s (%s)", tc.name, v.State, v.Reason)
		}
		if tc.cv == StateFail {
			// The fail seal itself verifies over its own set alone.
			hdr, err := readHeaderString(res.Header + "\r\n")
			if err != nil {
				t.Fatal(err)
			}
			c := parseChain(hdr)
			s := c.sets[1]
			sig, err := parseARCSeal(s.as[0])
			if err != nil {
				t.Fatal(err)
			}
			key, _ := lookupKey(t.Context(), srv.Resolver().LookupTXT, "ed", "b.example", MinRSAKeyBits)
			if err := verifySig(key, sig.algo, sealHash(nil, 0, [3]*field{s.aar[0], s.ams[0], s.as[0]}), sig.sig); err != nil {
				t.Errorf("%s: the cv=fail seal does not verify over its own set: %v", tc.name, err)
			}
		}
	}
}

// readHeaderString reads a header section from a string.
func readHeaderString(s string) ([]field, error) {
	return readHeader(bufio.NewReader(strings.NewReader(s)), MaxHeaderFields, MaxHeaderBytes)
}

func TestSealHeaders(t *testing.T) {
	a := edHop("a.example")
	srv := world(t, a)
	msg := "Authentication-Results: a.example; spf=pass\r\n" +
		"Received: by a.example\r\n" +
		"DKIM-Signature: v=1; d=sender.example\r\n" +
		"To: one@list.example\r\n" +
		"Subject: hi\r\n" +
		"To: two@list.example\r\n" +
		"List-Id: <list.example>\r\n" +
		"\r\nbody\r\n"
	res, err := Seal(strings.NewReader(msg), &SealOptions{Domain: "a.example", Selector: "ed", Signer: a.key})
	if err != nil {
		t.Fatal(err)
	}
	h := fieldValues(t, res.Header)["ARC-Message-Signature"]
	if !strings.Contains(h, "h=from:to:to:subject:list-id:dkim-signature;") {
		t.Errorf("h= of the default set: %q", h)
	}
	if v := verify(t, srv, res.Header+msg, nil); v.State != StatePass {
		t.Errorf("%s (%s)", v.State, v.Reason)
	}
	// Every line within 78 characters (RFC 5322 section 2.1.1), i=
	// first, CRLF line ends.
	for _, line := range strings.Split(strings.TrimSuffix(res.Header, "\r\n"), "\r\n") {
		if len(strings.ReplaceAll(line, "\t", "        ")) > 78 || strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %q", line)
		}
	}
	for _, name := range []string{"ARC-Seal: i=1;", "ARC-Message-Signature: i=1;", "ARC-Authentication-Results: i=1;"} {
		if !strings.Contains(res.Header, name) {
			t.Errorf("no %q in %q", name, res.Header)
		}
	}
	// A long h= list folds and still verifies.
	many := []string{"From"}
	for i := 0; i < 40; i++ {
		many = append(many, "X-Long-Header-Name")
	}
	res, err = Seal(strings.NewReader(msg), &SealOptions{Domain: "a.example", Selector: "ed", Signer: a.key, Headers: many})
	if err != nil {
		t.Fatal(err)
	}
	if v := verify(t, srv, res.Header+msg, nil); v.State != StatePass {
		t.Errorf("long h=: %s (%s)", v.State, v.Reason)
	}
}

func TestSealLF(t *testing.T) {
	// A message stored with LF line ends: the set comes with CRLF, its
	// AAR copied from a folded LF field too.
	a := hop{"a.example", "rsa", rsaKey(t, 2048)}
	srv := world(t, a)
	msg := "Authentication-Results: a.example;\n\tspf=pass smtp.mailfrom=x.example;\n\tdkim=none\n" + strings.ReplaceAll(testMessage, "\r\n", "\n")
	res, err := Seal(strings.NewReader(msg), &SealOptions{Domain: "a.example", Selector: "rsa", Signer: a.key, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ReplaceAll(res.Header, "\r\n", ""), "\n") {
		t.Errorf("bare LF in %q", res.Header)
	}
	if !strings.Contains(res.Header, "ARC-Authentication-Results: i=1; a.example;\r\n\tspf=pass smtp.mailfrom=x.example;\r\n\tdkim=none\r\n") {
		t.Errorf("AAR in %q", res.Header)
	}
	if v := verify(t, srv, strings.ReplaceAll(res.Header, "\r\n", "\n")+msg, nil); v.State != StatePass {
		t.Errorf("%s (%s)", v.State, v.Reason)
	}
}

func TestSealReadError(t *testing.T) {
	a := edHop("a.example")
	boom := errors.New("disk on fire")
	_, err := Seal(iotest.ErrReader(boom), &SealOptions{Domain: "a.example", Selector: "ed", Signer: a.key})
	if !errors.Is(err, boom) {
		t.Errorf("%v", err)
	}
}

func TestSealMergedResults(t *testing.T) {
	a := edHop("a.example")
	msg := "Authentication-Results: a.example; spf=pass smtp.mailfrom=x.example\r\n" +
		"Authentication-Results: other.example; dkim=fail\r\n" +
		"Authentication-Results: A.Example 1; dkim=pass header.d=x.example;\r\n" +
		"Authentication-Results: a.example; none\r\n" + testMessage
	res, err := Seal(strings.NewReader(msg), &SealOptions{Domain: "a.example", Selector: "ed", Signer: a.key})
	if err != nil {
		t.Fatal(err)
	}
	aar := fieldValues(t, res.Header)["ARC-Authentication-Results"]
	if aar != " i=1; a.example; spf=pass smtp.mailfrom=x.example; dkim=pass header.d=x.example" {
		t.Errorf("AAR %q", aar)
	}
}

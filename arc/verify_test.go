package arc

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// A hop is a sealer in tests: its domain, selector and key.
type hop struct {
	domain, selector string
	key              crypto.Signer
}

// world is a DNS server on loopback with the keys of hops.
func world(t *testing.T, hops ...hop) *dnstest.Server {
	t.Helper()
	records := map[string]string{}
	for _, h := range hops {
		records[h.selector+"._domainkey."+h.domain] = keyRecord(t, h.key.Public())
	}
	return startKeys(t, records)
}

// seal has h add the Authentication-Results field results and its set
// to msg.
func (h hop) seal(t *testing.T, msg, results string) string {
	t.Helper()
	msg = "Authentication-Results: " + h.domain + "; " + results + "\r\n" + msg
	set, err := Seal(strings.NewReader(msg), &SealOptions{Domain: h.domain, Selector: h.selector, Signer: h.key})
	if err != nil {
		t.Fatal(err)
	}
	if set.Header == "" {
		t.Fatalf("%s added no set: %s", h.domain, set.Skipped)
	}
	return set.Header + msg
}

func edHop(domain string) hop {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return hop{domain, "ed", key}
}

const testMessage = "From: Ann <ann@sender.example>\r\n" +
	"To: list@list.example\r\n" +
	"Subject: test\r\n" +
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n" +
	"Message-ID: <t@sender.example>\r\n" +
	"\r\n" +
	"Hello.\r\n"

func verify(t *testing.T, srv *dnstest.Server, msg string, opts *VerifyOptions) *Result {
	t.Helper()
	if opts == nil {
		opts = &VerifyOptions{}
	}
	opts.LookupTXT = srv.Resolver().LookupTXT
	res, err := Verify(context.Background(), strings.NewReader(msg), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVerifyNone(t *testing.T) {
	srv := world(t)
	// Verify reads the whole message, so that it can sit behind a
	// TeeReader that spools it.
	var spool strings.Builder
	res, err := Verify(context.Background(), io.TeeReader(strings.NewReader(testMessage), &spool), &VerifyOptions{LookupTXT: srv.Resolver().LookupTXT})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != StateNone || res.Instance != 0 || res.Domains != nil || res.Trusted != nil {
		t.Errorf("%+v", res)
	}
	if spool.String() != testMessage {
		t.Errorf("read %d of %d bytes", spool.Len(), len(testMessage))
	}
	if got := authres.Format("mx.example", []authres.Result{res.AuthResult()}); strings.TrimSpace(got) != "mx.example; arc=none" {
		t.Errorf("AuthResult: %q", got)
	}
}

func TestVerifyChain(t *testing.T) {
	rsaHop := hop{"list.example", "rsa", rsaKey(t, 2048)}
	edA, edB := edHop("fwd.example"), edHop("mx.example")
	srv := world(t, rsaHop, edA, edB)

	msg := rsaHop.seal(t, testMessage, "spf=pass smtp.mailfrom=sender.example")
	msg = edA.seal(t, msg, "arc=pass")
	msg = edB.seal(t, msg, "arc=pass")
	res := verify(t, srv, msg, nil)
	if res.State != StatePass || res.Instance != 3 || res.OldestPass != 1 || res.Temporary {
		t.Fatalf("%+v", res)
	}
	if got := strings.Join(res.Domains, ":"); got != "list.example:fwd.example:mx.example" {
		t.Errorf("domains %q", got)
	}
	// LF line ends verify the same.
	if res := verify(t, srv, strings.ReplaceAll(msg, "\r\n", "\n"), nil); res.State != StatePass {
		t.Errorf("LF: %s (%s)", res.State, res.Reason)
	}

	for _, tc := range []struct {
		name, old, new, reason string
	}{
		{"body", "Hello.", "Hello!", "i=3: ARC-Message-Signature body hash mismatch"},
		{"newest seal", "cv=pass; d=mx.example;", "cv=pass; d=mx.example; x=1;", "i=3: ARC-Seal: signature does not verify"},
		{"older AAR", "spf=pass smtp.mailfrom=sender.example", "spf=fail smtp.mailfrom=sender.example", "i=3: ARC-Seal: signature does not verify"},
		{"cv", "cv=pass; d=fwd.example", "cv=fail; d=fwd.example", "i=2: ARC-Seal has cv=fail"},
		{"instance", "ARC-Seal: i=2", "ARC-Seal: i=4", "i=2: no ARC-Seal"},
	} {
		bad := strings.Replace(msg, tc.old, tc.new, 1)
		if bad == msg {
			t.Fatalf("%s: %q not in the message", tc.name, tc.old)
		}
		res := verify(t, srv, bad, nil)
		if res.State != StateFail || res.Reason != tc.reason || res.OldestPass != 0 {
			t.Errorf("%s: %s %q, want fail %q", tc.name, res.State, res.Reason, tc.reason)
		}
		if got := authres.Format("mx.example", []authres.Result{res.AuthResult()}); !strings.HasPrefix(got, "mx.example; arc=fail reason=") {
			t.Errorf("%s: AuthResult %q", tc.name, got)
		}
	}
}

func TestVerifyOldestPass(t *testing.T) {
	a, b, c := edHop("a.example"), edHop("b.example"), edHop("c.example")
	srv := world(t, a, b, c)
	msg := a.seal(t, testMessage, "dkim=pass")
	// b changes the body, as a mailing list adding a footer does: a's
	// AMS no longer validates, the chain still does.
	msg = strings.Replace(msg, "Hello.\r\n", "Hello.\r\n-- \r\nthe list\r\n", 1)
	msg = b.seal(t, msg, "arc=pass")
	msg = c.seal(t, msg, "arc=pass")
	res := verify(t, srv, msg, nil)
	if res.State != StatePass || res.OldestPass != 2 {
		t.Fatalf("%s (%s), oldest pass %d, want pass, 2", res.State, res.Reason, res.OldestPass)
	}
	if got := strings.TrimSpace(authres.Format("mx.example", []authres.Result{res.AuthResult()})); got != "mx.example; arc=pass header.oldest-pass=2" {
		t.Errorf("AuthResult %q", got)
	}
	// What go-msgauth's parser makes of it.
	if _, results, err := authres.Parse("mx.example; arc=pass header.oldest-pass=2"); err != nil || results[0].(*authres.ARCResult).OldestPass != 2 {
		t.Errorf("authres.Parse: %v %+v", err, results)
	}
}

func TestVerifyTrusted(t *testing.T) {
	list, fwd, origin := edHop("list.example"), edHop("fwd.example"), edHop("origin.example")
	srv := world(t, list, fwd, origin)
	footer := func(m string) string { return strings.Replace(m, "Hello.\r\n", "Hello.\r\n-- \r\nfooter\r\n", 1) }

	unchanged := fwd.seal(t, list.seal(t, testMessage, "dmarc=pass header.from=sender.example"), "arc=pass")
	changedAfter := fwd.seal(t, footer(list.seal(t, testMessage, "dmarc=pass header.from=sender.example")), "arc=pass")
	changedBy := list.seal(t, footer(origin.seal(t, testMessage, "dkim=pass")), "arc=pass; dmarc=pass header.from=sender.example")
	both := fwd.seal(t, footer(list.seal(t, testMessage, "dmarc=pass header.from=sender.example")), "arc=pass")

	tests := []struct {
		name    string
		msg     string
		trusted []string
		want    int // Trusted.Instance, 0 for none
	}{
		{"nothing trusted", unchanged, nil, 0},
		{"list trusted, unchanged since", unchanged, []string{"list.example"}, 1},
		{"list trusted, changed after by an untrusted hop", changedAfter, []string{"List.Example."}, 0},
		{"list trusted, changed by the list", changedBy, []string{"list.example"}, 2},
		{"both trusted, changed after", both, []string{"list.example", "fwd.example"}, 1},
		{"only the newest trusted", changedAfter, []string{"fwd.example"}, 2},
	}
	for _, tc := range tests {
		res := verify(t, srv, tc.msg, &VerifyOptions{TrustedSealers: tc.trusted})
		if res.State != StatePass {
			t.Fatalf("%s: %s (%s)", tc.name, res.State, res.Reason)
		}
		got := 0
		if res.Trusted != nil {
			got = res.Trusted.Instance
		}
		if got != tc.want {
			t.Errorf("%s: trusted instance %d, want %d", tc.name, got, tc.want)
		}
	}

	res := verify(t, srv, unchanged, &VerifyOptions{TrustedSealers: []string{"list.example"}})
	tr := res.Trusted
	if tr.Domain != "list.example" || tr.AuthServID != "list.example" || tr.Raw != "list.example;\r\n\tdmarc=pass header.from=sender.example" {
		t.Errorf("trusted set %+v", tr)
	}
	if len(tr.Results) != 1 || tr.Results[0].(*authres.DMARCResult).From != "sender.example" {
		t.Errorf("trusted results %+v", tr.Results)
	}
}

func TestVerifyKeyLookup(t *testing.T) {
	a := edHop("a.example")
	msg := a.seal(t, testMessage, "dkim=pass")

	t.Run("no key", func(t *testing.T) {
		srv := startKeys(t, map[string]string{"other._domainkey.a.example": "v=DKIM1; p="})
		res := verify(t, srv, msg, nil)
		if res.State != StateFail || res.Temporary || !strings.Contains(res.Reason, "no key record") {
			t.Errorf("%+v", res)
		}
	})
	t.Run("servfail", func(t *testing.T) {
		srv := world(t, a)
		srv.SetMode("a.example", dnstest.ServFail(2, "upstream down"))
		res := verify(t, srv, msg, nil)
		if res.State != StateFail || !res.Temporary {
			t.Errorf("%+v", res)
		}
		srv.SetMode("a.example", dnstest.Normal())
		if res := verify(t, srv, msg, nil); res.State != StatePass {
			t.Errorf("after recovery: %+v", res)
		}
	})
	t.Run("hook error", func(t *testing.T) {
		res, err := Verify(context.Background(), strings.NewReader(msg), &VerifyOptions{
			LookupTXT: func(context.Context, string) ([]string, error) { return nil, errors.New("cache offline") },
		})
		if err != nil || res.State != StateFail || !res.Temporary || !strings.Contains(res.Reason, "cache offline") {
			t.Errorf("%+v %v", res, err)
		}
	})
	t.Run("one lookup per key", func(t *testing.T) {
		srv := world(t, a)
		srv.ResetQueries()
		verify(t, srv, a.seal(t, msg, "arc=pass"), nil)
		if q := srv.Queries(); len(q) != 1 {
			t.Errorf("queries %v", q)
		}
	})
}

func TestVerifyKeyRecords(t *testing.T) {
	var scenarios []validationScenario
	loadJSON(t, "arc-validation-tests.json", &scenarios)
	var small string // a 512-bit key: crypto/rsa makes none
	for _, sc := range scenarios {
		if r, ok := sc.TXTRecords["512._domainkey.example.org"]; ok {
			small = r
		}
	}
	ed := edHop("a.example")
	rsaH := hop{"a.example", "rsa", rsaKey(t, 1024)}
	pubRSA := keyRecord(t, rsaH.key.Public())
	pubEd := keyRecord(t, ed.key.Public())

	// A seal with a 512-bit key cannot be made; sign with the 1024-bit
	// key and publish variants of the record under its selector.
	msgRSA := rsaH.seal(t, testMessage, "dkim=pass")
	msgEd := ed.seal(t, testMessage, "dkim=pass")
	tests := []struct {
		name, record, msg string
		want              State
		reason            string
	}{
		{"rsa", pubRSA, msgRSA, StatePass, ""},
		{"rsa, folded p=", strings.Replace(pubRSA, "p=MIG", "p=\r\n MIG", 1), msgRSA, StatePass, ""},
		{"rsa, no v= and k=", strings.Replace(pubRSA, "v=DKIM1; k=rsa; ", "", 1), msgRSA, StatePass, ""},
		{"rsa, h=sha256", pubRSA + "; h=sha1:sha256", msgRSA, StatePass, ""},
		{"rsa, h=sha1", pubRSA + "; h=sha1", msgRSA, StateFail, "does not allow sha256"},
		{"rsa, s=email", pubRSA + "; s=email", msgRSA, StatePass, ""},
		{"rsa, s=other", pubRSA + "; s=other", msgRSA, StateFail, "service type"},
		{"revoked", "v=DKIM1; p=", msgRSA, StateFail, "revoked"},
		{"bad version", strings.Replace(pubRSA, "DKIM1", "DKIM2", 1), msgRSA, StateFail, "version"},
		{"k=ed25519 for rsa-sha256", strings.Replace(pubEd, "p=", "x=", 1) + "; p=" + strings.Split(pubRSA, "p=")[1], msgRSA, StateFail, "Ed25519 key of"},
		{"ed25519 key, rsa-sha256", pubEd, msgRSA, StateFail, "key type does not match"},
		{"ed25519", pubEd, msgEd, StatePass, ""},
		{"bad base64", "v=DKIM1; p=***", msgRSA, StateFail, "p="},
		{"small", small, msgRSA, StateFail, "RSA key too small: 512 bits"},
	}
	for _, tc := range tests {
		sel := "rsa"
		if tc.msg == msgEd {
			sel = "ed"
		}
		srv := startKeys(t, map[string]string{sel + "._domainkey.a.example": tc.record})
		res := verify(t, srv, tc.msg, nil)
		if res.State != tc.want || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%s: %s %q, want %s %q", tc.name, res.State, res.Reason, tc.want, tc.reason)
		}
	}
}

func TestVerifyLimits(t *testing.T) {
	a := edHop("a.example")
	srv := world(t, a)

	// Fifty sets validate; a fifty-first is not added.
	msg := testMessage
	for i := 1; i <= MaxInstances; i++ {
		results := "arc=pass"
		if i == 1 {
			results = "spf=pass"
		}
		msg = a.seal(t, msg, results)
	}
	res := verify(t, srv, msg, nil)
	if res.State != StatePass || res.Instance != MaxInstances || len(res.Domains) != MaxInstances {
		t.Fatalf("50 sets: %s (%s) i=%d", res.State, res.Reason, res.Instance)
	}
	set, err := Seal(strings.NewReader("Authentication-Results: a.example; arc=pass\r\n"+msg), &SealOptions{Domain: "a.example", Selector: "ed", Signer: a.key})
	if err != nil || set.Header != "" || !strings.Contains(set.Skipped, "50 ARC sets") {
		t.Errorf("51st set: %+v %v", set, err)
	}
	// A set claiming instance 51 breaks the chain.
	bad := "ARC-Seal: i=51; a=ed25519-sha256; cv=pass; d=a.example; s=ed; b=AAAA\r\n" + msg
	if res := verify(t, srv, bad, nil); res.State != StateFail || !strings.Contains(res.Reason, "above 50") {
		t.Errorf("i=51: %s %q", res.State, res.Reason)
	}

	one := a.seal(t, testMessage, "spf=pass")
	many := strings.Repeat("Received: by x\r\n", 20) + one
	if res := verify(t, srv, many, &VerifyOptions{MaxHeaderFields: 20}); res.State != StateFail || !strings.Contains(res.Reason, "too many header fields") {
		t.Errorf("fields: %s %q", res.State, res.Reason)
	}
	if res := verify(t, srv, many, &VerifyOptions{MaxHeaderBytes: 500}); res.State != StateFail || !strings.Contains(res.Reason, "too large") {
		t.Errorf("bytes: %s %q", res.State, res.Reason)
	}
	if res := verify(t, srv, many, nil); res.State != StatePass {
		t.Errorf("defaults: %s %q", res.State, res.Reason)
	}
}

func TestVerifyExpiry(t *testing.T) {
	a := edHop("a.example")
	srv := world(t, a)
	msg := "Authentication-Results: a.example; spf=pass\r\n" + testMessage
	signed := time.Unix(1700000000, 0)
	set, err := Seal(strings.NewReader(msg), &SealOptions{
		Domain: "a.example", Selector: "ed", Signer: a.key,
		Expire: time.Hour, Now: func() time.Time { return signed },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(set.Header, "t=1700000000; x=1700003600;") {
		t.Fatalf("no t= and x=: %q", set.Header)
	}
	for _, tc := range []struct {
		at   time.Time
		want State
	}{{signed.Add(59 * time.Minute), StatePass}, {signed.Add(61 * time.Minute), StateFail}} {
		res := verify(t, srv, set.Header+msg, &VerifyOptions{Now: func() time.Time { return tc.at }})
		if res.State != tc.want {
			t.Errorf("at %v: %s (%s)", tc.at, res.State, res.Reason)
		}
	}
}

func TestVerifyReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, r := range []io.Reader{
		iotest.ErrReader(boom),
		io.MultiReader(strings.NewReader("Subject: x\r\n\r\nbody"), iotest.ErrReader(boom)),
	} {
		_, err := Verify(context.Background(), r, &VerifyOptions{LookupTXT: func(context.Context, string) ([]string, error) { return nil, nil }})
		if !errors.Is(err, boom) {
			t.Errorf("error %v, want it to wrap %v", err, boom)
		}
	}
}

// handSeal adds a set whose AMS has the tags given (i=1, simple
// canonicalisation, l= and such), signed by h, for what Seal does not
// write.
func handSeal(t *testing.T, h hop, msg string, amsExtra []tag, bodyHash []byte) string {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(msg))
	fields, err := readHeader(br, MaxHeaderFields, MaxHeaderBytes)
	if err != nil {
		t.Fatal(err)
	}
	s := &sealer{opts: &SealOptions{Signer: h.key}, algo: ed25519SHA256}
	aar := textField("ARC-Authentication-Results: i=1; " + h.domain + "; spf=pass")
	tags := append([]tag{{"i", "1"}, {"a", "ed25519-sha256"}, {"d", h.domain}, {"s", h.selector},
		{"h", "from:subject"}, {"bh", base64.StdEncoding.EncodeToString(bodyHash)}}, amsExtra...)
	var m *ams
	amsText, err := s.sign("ARC-Message-Signature", tags, func(unsigned *field) []byte {
		var perr error
		m, perr = parseAMS(textField(string(removeSigValue(unsigned.raw, unsigned.colon)) + "AAAA"))
		if perr != nil {
			t.Fatal(perr)
		}
		m.f = unsigned
		return amsHash(fields, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	asText, err := s.sign("ARC-Seal", []tag{{"i", "1"}, {"a", "ed25519-sha256"}, {"cv", "none"}, {"d", h.domain}, {"s", h.selector}},
		func(unsigned *field) []byte { return sealHash(nil, 0, [3]*field{aar, textField(amsText), unsigned}) })
	if err != nil {
		t.Fatal(err)
	}
	return asText + "\r\n" + amsText + "\r\n" + string(aar.raw) + "\r\n" + msg
}

func TestVerifySimpleAndLength(t *testing.T) {
	a, b := edHop("a.example"), edHop("b.example")
	srv := world(t, a, b)
	// c=simple/simple with l=3: the first three bytes of the simple
	// body, "Hel", are signed; what follows may change.
	hel := sha256.Sum256([]byte("Hel"))
	msg := handSeal(t, a, testMessage, []tag{{"c", "simple/simple"}, {"l", "3"}}, hel[:])
	if res := verify(t, srv, msg, nil); res.State != StatePass {
		t.Fatalf("simple, l=3: %s (%s)", res.State, res.Reason)
	}
	msg = strings.Replace(msg, "Hello.", "Hello, and more.", 1)
	msg = b.seal(t, msg, "arc=pass")
	// Two body hashes in one pass: simple with l=3 for i=1, relaxed for
	// i=2. Both still validate.
	res := verify(t, srv, msg, nil)
	if res.State != StatePass || res.OldestPass != 1 {
		t.Errorf("%s (%s), oldest pass %d", res.State, res.Reason, res.OldestPass)
	}
	// Simple header canonicalisation: a changed space in From breaks
	// the AMS of i=1, not the relaxed one of i=2.
	res = verify(t, srv, strings.Replace(msg, "From: Ann", "From:  Ann", 1), nil)
	if res.State != StatePass || res.OldestPass != 2 {
		t.Errorf("changed From: %s, oldest pass %d", res.State, res.OldestPass)
	}
}

func TestVerifyHostile(t *testing.T) {
	a := edHop("a.example")
	srv := world(t, a)
	sealed := a.seal(t, testMessage, "spf=pass")
	var tags strings.Builder
	for i := 0; tags.Len() < 900<<10; i++ {
		tags.WriteString("x" + strconv.Itoa(i) + "=1;")
	}
	var h strings.Builder
	for h.Len() < 900<<10 {
		h.WriteString("from:")
	}
	for _, tc := range []struct{ name, msg string }{
		{"many tags", "ARC-Seal: i=1; " + tags.String() + "\r\n" + sealed},
		{"long h=", strings.Replace(sealed, "h=from:", "h="+h.String(), 1)},
		{"deep comments", "ARC-Authentication-Results: " + strings.Repeat("(", 100000) + "\r\n" + sealed},
		{"many sets", strings.Repeat("ARC-Seal: i=7; cv=pass\r\n", 900) + sealed},
	} {
		start := time.Now()
		res := verify(t, srv, tc.msg, nil)
		if d := time.Since(start); d > 5*time.Second || res.State != StateFail {
			t.Errorf("%s: %s (%s) in %v", tc.name, res.State, res.Reason, d)
		}
	}
}

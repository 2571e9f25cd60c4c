package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
)

// FuzzParseTags: the tag-list parser (RFC 6376 section 3.2) never
// panics, and what it returns it could have read.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a=1;", "v=DKIM1; k=rsa; p=MIGf\r\n MA0G",
		"i=1; a=rsa-sha256; b=abc; bh=def; c=relaxed/relaxed; d=example.org; h=from : to; s=sel; t=12345",
		"a=1;;b=2", "==", "a=1; a=2", "a=\x00", " a = 1 ; ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTags(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tg := range tags {
			if tg.name == "" || seen[tg.name] || !strings.Contains(s, tg.name) || !strings.Contains(s, tg.value) {
				t.Fatalf("parseTags(%q) = %q", s, tags)
			}
			seen[tg.name] = true
			if strings.ContainsRune(tg.value, ';') || tg.value != strings.Trim(tg.value, " \t\r\n") {
				t.Fatalf("parseTags(%q): value %q", s, tg.value)
			}
		}
	})
}

// FuzzParseChain: the header-set parser (RFC 8617 section 5.2 steps 1
// and 3) never panics, and a chain it calls whole has one field of each
// kind per instance, instances 1 to N.
func FuzzParseChain(f *testing.F) {
	var scenarios []validationScenario
	loadJSON(f, "arc-validation-tests.json", &scenarios)
	for _, sc := range scenarios[:3] {
		for _, tc := range sc.Tests {
			f.Add(tc.Message)
		}
	}
	f.Add("ARC-Seal: i=1\r\nARC-Message-Signature: i=1\r\nARC-Authentication-Results: i=1; x\r\n\r\n")
	f.Add("ARC-Seal: i=50\r\n\r\n")
	f.Fuzz(func(t *testing.T, msg string) {
		fields, err := readHeader(bufio.NewReader(strings.NewReader(msg)), MaxHeaderFields, MaxHeaderBytes)
		if err != nil {
			return
		}
		c := parseChain(fields)
		if c.n() > MaxInstances || c.n() > 0 && !c.found {
			t.Fatalf("n=%d found=%v", c.n(), c.found)
		}
		if c.broken == "" {
			for i, s := range c.sets {
				if len(s.aar) != 1 || len(s.ams) != 1 || len(s.as) != 1 {
					t.Fatalf("set %d: %d %d %d fields, chain not broken", i+1, len(s.aar), len(s.ams), len(s.as))
				}
			}
		}
	})
}

// FuzzVerify: the verifier never panics or errs on any message, and its
// result holds together. Keys come from a table in memory: the suite's
// and one Ed25519 key whose sealed message is a seed.
func FuzzVerify(f *testing.F) {
	var scenarios []validationScenario
	loadJSON(f, "arc-validation-tests.json", &scenarios)
	records := map[string][]string{}
	for _, sc := range scenarios {
		for name, r := range sc.TXTRecords {
			records[name+"."] = []string{r}
		}
		for _, tc := range sc.Tests {
			f.Add([]byte(tc.Message))
		}
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	records["ed._domainkey.fuzz.example."] = []string{keyRecord(f, key.Public())}
	msg := "Authentication-Results: fuzz.example; spf=pass\r\n" + testMessage
	set, err := Seal(strings.NewReader(msg), &SealOptions{Domain: "fuzz.example", Selector: "ed", Signer: key})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(set.Header + msg))
	f.Add([]byte{})
	opts := &VerifyOptions{LookupTXT: func(_ context.Context, name string) ([]string, error) {
		if r, ok := records[name]; ok {
			return r, nil
		}
		return nil, fmt.Errorf("no %s", name)
	}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		res, err := Verify(context.Background(), bytes.NewReader(msg), opts)
		if err != nil {
			t.Fatal(err)
		}
		switch res.State {
		case StateNone:
			if res.Instance != 0 || res.OldestPass != 0 {
				t.Fatalf("%+v", res)
			}
		case StatePass:
			if res.Instance < 1 || res.OldestPass < 1 || res.OldestPass > res.Instance || len(res.Domains) != res.Instance {
				t.Fatalf("%+v", res)
			}
		case StateFail:
			if res.Reason == "" || res.OldestPass != 0 {
				t.Fatalf("%+v", res)
			}
		default:
			t.Fatalf("state %q", res.State)
		}
	})
}

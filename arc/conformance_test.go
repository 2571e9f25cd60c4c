package arc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// The ARC conformance suite (testdata/PROVENANCE.md) as table tests.

type validationScenario struct {
	Description string            `json:"description"`
	TXTRecords  map[string]string `json:"txt-records"`
	Tests       map[string]struct {
		Spec        string `json:"spec"`
		Description string `json:"description"`
		Message     string `json:"message"`
		CV          string `json:"cv"`
	} `json:"tests"`
}

type signingScenario struct {
	Description string            `json:"description"`
	Domain      string            `json:"domain"`
	Sel         string            `json:"sel"`
	PrivateKey  string            `json:"privatekey"`
	TXTRecords  map[string]string `json:"txt-records"`
	Tests       map[string]struct {
		Message    string `json:"message"`
		T          int64  `json:"t"`
		SigHeaders string `json:"sig-headers"`
		SrvID      string `json:"srv-id"`
		AS         string `json:"AS"`
		AMS        string `json:"AMS"`
		AAR        string `json:"AAR"`
	} `json:"tests"`
}

// conformanceOverrides are the validation cases where this package
// follows RFC 8617 rather than the suite (the table in doc.go).
var conformanceOverrides = map[string]struct {
	want State
	why  string
}{
	"cv_fail_i1_as_cv_fail": {StateFail, `suite expects "": RFC 8617 section 5.2 step 2 makes a chain whose newest seal says cv=fail fail`},
	"cv_fail_i2_as2_fail":   {StateFail, `suite expects "": RFC 8617 section 5.2 step 2`},
	"cv_fail_i2_as1_fail":   {StateFail, `suite expects "": RFC 8617 section 5.2 step 3.3 (cv=fail on an older seal is a broken chain)`},
	"ams_fields_c_na":       {StateFail, "suite expects pass: a missing c= is simple/simple (RFC 6376 section 3.5, imported by RFC 8617 section 4.1.2), under which this AMS does not verify"},
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func TestConformanceValidation(t *testing.T) {
	var scenarios []validationScenario
	loadJSON(t, "arc-validation-tests.json", &scenarios)
	total, overridden := 0, 0
	for _, sc := range scenarios {
		srv := startKeys(t, sc.TXTRecords)
		opts := &VerifyOptions{LookupTXT: srv.Resolver().LookupTXT}
		names := make([]string, 0, len(sc.Tests))
		for name := range sc.Tests {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			tc := sc.Tests[name]
			total++
			want := map[string]State{"Pass": StatePass, "Fail": StateFail, "None": StateNone}[tc.CV]
			if o, ok := conformanceOverrides[name]; ok {
				overridden++
				want = o.want
			} else if want == "" {
				t.Errorf("%s: expected cv %q has no override", name, tc.CV)
				continue
			}
			t.Run(name, func(t *testing.T) {
				for _, form := range []struct{ name, msg string }{{"LF", tc.Message}, {"CRLF", crlfText(tc.Message)}} {
					res, err := Verify(context.Background(), strings.NewReader(form.msg), opts)
					if err != nil {
						t.Fatalf("%s: Verify: %v", form.name, err)
					}
					if res.State != want {
						t.Errorf("%s: state %s (%s), want %s (suite %q: %s)", form.name, res.State, res.Reason, want, tc.CV, tc.Description)
					}
				}
			})
		}
	}
	if total != 171 || overridden != len(conformanceOverrides) {
		t.Errorf("ran %d cases with %d overrides, want 171 with %d", total, overridden, len(conformanceOverrides))
	}
}

// tagSet is how the suite's harness compares header values: white space
// removed, as a set of ";"-separated tags.
func tagSet(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ";") {
		p = strings.Join(strings.Fields(p), "")
		if p != "" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// withoutB drops the b= tag from a tag set.
func withoutB(set []string) []string {
	var out []string
	for _, s := range set {
		if !strings.HasPrefix(s, "b=") {
			out = append(out, s)
		}
	}
	return out
}

// fieldValues splits the header fields of a set into name -> value.
func fieldValues(t *testing.T, header string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if !strings.HasSuffix(header, "\r\n") {
		t.Fatalf("set does not end in CRLF: %q", header)
	}
	unfolded := strings.NewReplacer("\r\n\t", " ", "\r\n ", " ").Replace(header)
	for _, line := range strings.Split(strings.TrimSuffix(unfolded, "\r\n"), "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("bad field %q", line)
		}
		out[name] = value
	}
	return out
}

func TestConformanceSigning(t *testing.T) {
	var scenarios []signingScenario
	loadJSON(t, "arc-sign-tests.json", &scenarios)
	total := 0
	for _, sc := range scenarios {
		block, _ := pem.Decode([]byte(sc.PrivateKey))
		if block == nil {
			t.Fatal("no PEM key")
		}
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		srv := startKeys(t, sc.TXTRecords)
		vopts := &VerifyOptions{LookupTXT: srv.Resolver().LookupTXT}
		names := make([]string, 0, len(sc.Tests))
		for name := range sc.Tests {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			tc := sc.Tests[name]
			total++
			t.Run(name, func(t *testing.T) {
				for _, alphabetical := range []bool{false, true} {
					opts := &SealOptions{
						Domain:       sc.Domain,
						Selector:     sc.Sel,
						Signer:       key,
						AuthServID:   tc.SrvID,
						Headers:      strings.Split(tc.SigHeaders, ":"),
						Timestamps:   true,
						Now:          func() time.Time { return time.Unix(tc.T, 0) },
						alphabetical: alphabetical,
					}
					res, err := Seal(strings.NewReader(tc.Message), opts)
					if err != nil {
						t.Fatalf("Seal: %v", err)
					}
					if tc.AS == "" {
						if res.Header != "" || res.Skipped == "" {
							t.Fatalf("sealed %q, want no set", res.Header)
						}
						return
					}
					if res.Header == "" {
						t.Fatalf("no set: %s", res.Skipped)
					}
					got := fieldValues(t, res.Header)
					for _, f := range []struct{ name, want string }{
						{"ARC-Seal", tc.AS}, {"ARC-Message-Signature", tc.AMS}, {"ARC-Authentication-Results", tc.AAR},
					} {
						g, w := tagSet(got[f.name]), tagSet(f.want)
						if !alphabetical {
							// i= first: the same tags, another signature.
							g, w = withoutB(g), withoutB(w)
						}
						if strings.Join(g, ";") != strings.Join(w, ";") {
							t.Errorf("alphabetical=%v %s:\n got %q\nwant %q", alphabetical, f.name, g, w)
						}
					}
					if !alphabetical && !strings.HasPrefix(strings.TrimSpace(got["ARC-Seal"]), "i=") {
						t.Errorf("ARC-Seal does not start with i=: %q", got["ARC-Seal"])
					}
					// What we sealed validates, or fails as its cv= says.
					vres, err := Verify(context.Background(), strings.NewReader(res.Header+crlfText(tc.Message)), vopts)
					if err != nil {
						t.Fatal(err)
					}
					want := StatePass
					if res.CV == StateFail {
						want = StateFail
					}
					if vres.State != want || vres.Instance != res.Instance {
						t.Errorf("alphabetical=%v: sealed message verifies %s (%s) at i=%d, want %s at i=%d", alphabetical, vres.State, vres.Reason, vres.Instance, want, res.Instance)
					}
				}
			})
		}
	}
	if total != 17 {
		t.Errorf("ran %d signing cases, want 17", total)
	}
}

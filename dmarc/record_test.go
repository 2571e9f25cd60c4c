package dmarc

import (
	"errors"
	"slices"
	"testing"
)

// TestHasVersion: only records whose first tag is v=DMARC1 are DMARC
// records (RFC 7489 section 6.4, RFC 9989 section 4.7).
func TestHasVersion(t *testing.T) {
	for txt, want := range map[string]bool{
		"v=DMARC1; p=none":     true,
		"v=DMARC1":             true,
		"v = DMARC1 ;p=none":   true,
		" v=DMARC1;":           true,
		"V=DMARC1; p=none":     true,
		"v=dmarc1; p=none":     false,
		"v=DMARC10; p=none":    false,
		"p=none; v=DMARC1":     false,
		"v=spf1 -all":          false,
		"":                     false,
		"v=":                   false,
		"v=DMARC1 p=none":      false,
		"v=DMARC1\t;\tp=none ": true,
	} {
		if got := hasVersion(txt); got != want {
			t.Errorf("hasVersion(%q) = %v", txt, got)
		}
	}
}

// TestParseRecord parses the records of RFC 7489 Appendix B.2 and
// DMARCbis, and the error handling of section 6.3 and 6.6.3.
func TestParseRecord(t *testing.T) {
	tests := []struct {
		name string
		txt  string
		bis  bool
		want Record
		err  error
	}{
		{
			name: "RFC 7489 B.2.1, monitoring",
			txt:  "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
			want: Record{Policy: PolicyNone, AggregateURIs: []string{"mailto:dmarc-feedback@example.com"}},
		},
		{
			name: "RFC 7489 B.2.2, third-party failure reports",
			txt:  "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; ruf=mailto:auth-reports@thirdparty.example.net",
			want: Record{Policy: PolicyNone, AggregateURIs: []string{"mailto:dmarc-feedback@example.com"},
				FailureURIs: []string{"mailto:auth-reports@thirdparty.example.net"}},
		},
		{
			name: "RFC 7489 B.2.3, quarantine 25 percent, size limit",
			txt:  "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net!10m; pct=25",
			want: Record{Policy: PolicyQuarantine, Percent: 25,
				AggregateURIs: []string{"mailto:dmarc-feedback@example.com", "mailto:tld-test@thirdparty.example.net!10m"}},
		},
		{
			name: "all RFC 7489 tags",
			txt:  "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; fo=d:s; rf=afrf; ri=3600; pct=100",
			want: Record{Policy: PolicyReject, SubdomainPolicy: PolicyQuarantine, DKIMAlignment: Strict, SPFAlignment: Strict, FailureOptions: "d:s"},
		},
		{
			name: "tags and values are case-insensitive, v= is not",
			txt:  "V=DMARC1; P=Reject; SP=NONE; ADKIM=S",
			want: Record{Policy: PolicyReject, SubdomainPolicy: PolicyNone, DKIMAlignment: Strict},
		},
		{
			name: "bad tags take their defaults",
			txt:  "v=DMARC1; p=reject; adkim=x; aspf=; pct=200; fo=9; rua=not a uri; ri=-1",
			want: Record{Policy: PolicyReject},
		},
		{
			name: "unknown tags are ignored",
			txt:  "v=DMARC1; p=reject; future=yes; x",
			want: Record{Policy: PolicyReject},
		},
		{
			name: "the first of repeated tags counts",
			txt:  "v=DMARC1; p=reject; p=none",
			want: Record{Policy: PolicyReject},
		},
		{
			name: "no p= and no rua=: not applied",
			txt:  "v=DMARC1; sp=none",
			err:  errNotApplicable,
		},
		{
			name: "bad p=, good rua=: p=none",
			txt:  "v=DMARC1; p=maybe; sp=reject; rua=mailto:r@example.com",
			want: Record{Policy: PolicyNone, AggregateURIs: []string{"mailto:r@example.com"}},
		},
		{
			name: "bad sp=, no rua=: not applied",
			txt:  "v=DMARC1; p=reject; sp=maybe",
			err:  errNotApplicable,
		},
		{
			name: "DMARCbis tags",
			txt:  "v=DMARC1; p=quarantine; np=reject; psd=n; t=y",
			bis:  true,
			want: Record{Policy: PolicyQuarantine, NonexistentPolicy: PolicyReject, PSD: "n", Testing: true},
		},
		{
			name: "DMARCbis: no p= is p=none",
			txt:  "v=DMARC1; psd=y",
			bis:  true,
			want: Record{Policy: PolicyNone, PSD: "y"},
		},
		{
			name: "DMARCbis: bad np= without rua=",
			txt:  "v=DMARC1; p=reject; np=maybe",
			bis:  true,
			err:  errNotApplicable,
		},
		{
			name: "RFC 7489 ignores a bad np=",
			txt:  "v=DMARC1; p=reject; np=maybe",
			want: Record{Policy: PolicyReject},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRecord("example.com", tt.txt, tt.bis)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("want %v, got %v %+v", tt.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			w.Domain, w.Text, w.fo = "example.com", tt.txt, got.fo
			if w.DKIMAlignment == "" {
				w.DKIMAlignment = Relaxed
			}
			if w.SPFAlignment == "" {
				w.SPFAlignment = Relaxed
			}
			if w.Percent == 0 {
				w.Percent = 100
			}
			if w.FailureOptions == "" {
				w.FailureOptions = "0"
			}
			if w.PSD == "" {
				w.PSD = "u"
			}
			if !recordEqual(*got, w) {
				t.Fatalf("got  %+v\nwant %+v", *got, w)
			}
		})
	}
}

func recordEqual(a, b Record) bool {
	return a.Domain == b.Domain && a.Text == b.Text && a.Policy == b.Policy && a.SubdomainPolicy == b.SubdomainPolicy &&
		a.NonexistentPolicy == b.NonexistentPolicy && a.DKIMAlignment == b.DKIMAlignment && a.SPFAlignment == b.SPFAlignment &&
		a.Percent == b.Percent && a.FailureOptions == b.FailureOptions && slices.Equal(a.AggregateURIs, b.AggregateURIs) &&
		slices.Equal(a.FailureURIs, b.FailureURIs) && a.PSD == b.PSD && a.Testing == b.Testing
}

// TestReportURISize parses the size limits of RFC 7489 section 6.2.
func TestReportURISize(t *testing.T) {
	for in, want := range map[string]int64{
		"mailto:a@example.com":      0,
		"mailto:a@example.com!10m":  10 << 20,
		"mailto:a@example.com!50":   50,
		"mailto:a@example.com!1K":   1 << 10,
		"mailto:a@example.com!2g":   2 << 30,
		"https://example.com/r!10t": 10 << 40,
	} {
		_, got, err := splitReportURI(in)
		if err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"mailto:a@example.com!", "mailto:a@example.com!x", "a@example.com", "mailto:a@example.com!12345678901234567", ""} {
		if _, _, err := splitReportURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

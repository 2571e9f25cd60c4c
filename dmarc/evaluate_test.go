package dmarc

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// TestEvaluate runs RFC 7489's cases against the test world: alignment
// (section 3.1 and its examples), policy discovery (section 6.6.3), p=
// and sp= (section 6.3).
func TestEvaluate(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	tests := []struct {
		name       string
		mailFrom   string
		spf        *authres.SPFResult
		msg        string
		status     Status
		value      authres.ResultValue
		used       string
		policy     Policy
		spfAligned bool
		dkimAlign  bool
	}{
		{
			name:   "aligned DKIM, same domain",
			msg:    sign(t, message("From: Joe <joe@example.com>"), "example.com"),
			status: StatusAccept, value: authres.ResultPass, used: "example.com", policy: PolicyReject, dkimAlign: true,
		},
		{
			name:     "aligned SPF, same domain",
			mailFrom: "joe@example.com", spf: spfResult(authres.ResultPass, "joe@example.com"),
			msg:    message("From: joe@example.com"),
			status: StatusAccept, value: authres.ResultPass, used: "example.com", policy: PolicyReject, spfAligned: true,
		},
		{
			// RFC 7489 section 3.1.1: d=news.example.com aligns in
			// relaxed mode with From example.com.
			name:   "relaxed DKIM, subdomain signer",
			msg:    sign(t, message("From: joe@example.com"), "news.example.com"),
			status: StatusAccept, value: authres.ResultPass, used: "example.com", policy: PolicyReject, dkimAlign: true,
		},
		{
			// RFC 7489 section 3.1.2: MAIL FROM news.example.com,
			// From example.com.
			name:     "relaxed SPF, subdomain sender",
			mailFrom: "bounce@news.example.com", spf: spfResult(authres.ResultPass, "bounce@news.example.com"),
			msg:    message("From: joe@example.com"),
			status: StatusAccept, value: authres.ResultPass, used: "example.com", policy: PolicyReject, spfAligned: true,
		},
		{
			name:   "strict DKIM refuses the parent's signature",
			msg:    sign(t, message("From: joe@strict.example.com"), "example.com"),
			status: StatusReject, value: authres.ResultFail, used: "strict.example.com", policy: PolicyReject,
		},
		{
			name:     "strict SPF refuses the parent",
			mailFrom: "joe@example.com", spf: spfResult(authres.ResultPass, "joe@example.com"),
			msg:    message("From: joe@strict.example.com"),
			status: StatusReject, value: authres.ResultFail, used: "strict.example.com", policy: PolicyReject,
		},
		{
			name:   "unaligned DKIM pass",
			msg:    sign(t, message("From: joe@example.com"), "example.net"),
			status: StatusReject, value: authres.ResultFail, used: "example.com", policy: PolicyReject,
		},
		{
			name:     "SPF fail, no signature",
			mailFrom: "joe@example.com", spf: spfResult(authres.ResultFail, "joe@example.com"),
			msg:    message("From: joe@example.com"),
			status: StatusReject, value: authres.ResultFail, used: "example.com", policy: PolicyReject,
		},
		{
			name:   "signature broken in transit",
			msg:    strings.Replace(sign(t, message("From: joe@example.com"), "example.com"), "Hello.", "Hello!", 1),
			status: StatusReject, value: authres.ResultFail, used: "example.com", policy: PolicyReject,
		},
		{
			// Section 6.6.3 step 3 and sp=.
			name:   "subdomain takes sp= of the organisational domain",
			msg:    message("From: joe@news.example.com"),
			status: StatusQuarantine, value: authres.ResultFail, used: "example.com", policy: PolicyQuarantine,
		},
		{
			name:   "p=none",
			msg:    message("From: joe@none.example.com"),
			status: StatusNone, value: authres.ResultFail, used: "none.example.com", policy: PolicyNone,
		},
		{
			name:   "p=none, passing",
			msg:    sign(t, message("From: joe@example.org"), "example.org"),
			status: StatusAccept, value: authres.ResultPass, used: "example.org", policy: PolicyNone, dkimAlign: true,
		},
		{
			name:   "no record",
			msg:    sign(t, message("From: joe@example.net"), "example.net"),
			status: StatusNoRecord, value: authres.ResultNone, used: "example.net",
		},
		{
			// Section 6.6.3 step 5: several records, no DMARC, and
			// no falling back to the organisational domain.
			name:   "two records",
			msg:    message("From: joe@two.example.com"),
			status: StatusNoRecord, value: authres.ResultNone, used: "two.example.com",
		},
		{
			// Section 6.6.3 step 6.
			name:   "invalid p= without rua=",
			msg:    message("From: joe@bad.example.com"),
			status: StatusNoRecord, value: authres.ResultNone, used: "bad.example.com",
		},
		{
			name:   "invalid p= with rua= acts as p=none",
			msg:    message("From: joe@badrua.example.com"),
			status: StatusNone, value: authres.ResultFail, used: "badrua.example.com", policy: PolicyNone,
		},
		{
			name:   "public suffix of two labels",
			msg:    sign(t, message("From: joe@mail.example.co.uk"), "example.co.uk"),
			status: StatusAccept, value: authres.ResultPass, used: "example.co.uk", policy: PolicyReject, dkimAlign: true,
		},
		{
			// Section 4.1: a null reverse-path is checked as HELO.
			name:     "null sender, HELO identity aligned",
			mailFrom: "", spf: &authres.SPFResult{Value: authres.ResultPass, Helo: "example.com"},
			msg:    message("From: joe@example.com"),
			status: StatusAccept, value: authres.ResultPass, used: "example.com", policy: PolicyReject, spfAligned: true,
		},
		{
			name:     "HELO result does not count when there is a sender",
			mailFrom: "joe@example.com", spf: &authres.SPFResult{Value: authres.ResultPass, Helo: "example.com"},
			msg:    message("From: joe@example.com"),
			status: StatusReject, value: authres.ResultFail, used: "example.com", policy: PolicyReject,
		},
		{
			name:   "upper-case From domain",
			msg:    sign(t, message("From: JOE@EXAMPLE.COM"), "example.com"),
			status: StatusAccept, value: authres.ResultPass, used: "example.com", policy: PolicyReject, dkimAlign: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := eval(t, e, tt.mailFrom, tt.spf, tt.msg)
			if r.Status != tt.status || r.Value != tt.value || r.UsedDomain != tt.used || r.DomainPolicy != tt.policy ||
				r.SPFAligned != tt.spfAligned || r.DKIMAligned != tt.dkimAlign {
				t.Fatalf("got %s", show(r))
			}
			if r.StatusText == "" {
				t.Error("no status text")
			}
			if ar := r.AuthResult(); ar.Value != tt.value || ar.From != r.FromDomain {
				t.Errorf("AuthResult %+v", ar)
			}
		})
	}
}

// TestStatuses makes each status but off (see the session tests) happen
// once, and checks what comes with it.
func TestStatuses(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	check := func(t *testing.T, r *Result, want Status, text string) {
		t.Helper()
		if r.Status != want || !strings.Contains(r.StatusText, text) {
			t.Fatalf("want %s containing %q, got %s", want, text, show(r))
		}
	}
	t.Run("accept", func(t *testing.T) {
		r := eval(t, e, "", nil, sign(t, message("From: joe@example.com"), "example.com"))
		check(t, r, StatusAccept, "DMARC pass for example.com (aligned DKIM d=example.com)")
		if r.Disposition != PolicyNone || r.DomainPolicy != PolicyReject || r.FromDomain != "example.com" || r.OrgDomain != "example.com" {
			t.Errorf("got %s", show(r))
		}
	})
	t.Run("reject", func(t *testing.T) {
		check(t, eval(t, e, "", nil, message("From: joe@example.com")), StatusReject, "policy reject")
	})
	t.Run("quarantine", func(t *testing.T) {
		check(t, eval(t, e, "", nil, message("From: joe@news.example.com")), StatusQuarantine, "policy quarantine")
	})
	t.Run("none", func(t *testing.T) {
		check(t, eval(t, e, "", nil, message("From: joe@none.example.com")), StatusNone, "policy none")
	})
	t.Run("norecord", func(t *testing.T) {
		r := eval(t, e, "", nil, message("From: joe@example.net"))
		check(t, r, StatusNoRecord, "No DMARC record for example.net")
		if r.DomainPolicy != "" || r.Disposition != "" || r.Record != nil {
			t.Errorf("got %s", show(r))
		}
	})
	t.Run("nofrom", func(t *testing.T) {
		r := eval(t, e, "", nil, message("To: joe@example.com"))
		check(t, r, StatusNoFrom, "no From header field")
		if !errors.Is(r.Err, ErrNoFrom) || r.Value != authres.ResultPermError {
			t.Errorf("got %s", show(r))
		}
	})
	t.Run("temperror", func(t *testing.T) {
		if err := srv.SetMode("broken.example", dnstest.ServFail(2, "test")); err != nil {
			t.Fatal(err)
		}
		defer srv.SetMode("broken.example", dnstest.Normal())
		r := eval(t, e, "", nil, message("From: joe@broken.example"))
		check(t, r, StatusTempError, "Temporary DMARC error")
		if !errors.Is(r.Err, ErrDNS) || r.Value != authres.ResultTempError || r.DomainPolicy != "" {
			t.Errorf("got %s", show(r))
		}
	})
	t.Run("temperror from DKIM key lookup", func(t *testing.T) {
		if err := srv.SetMode("keyfail.example.com", dnstest.ServFail(2, "test")); err != nil {
			t.Fatal(err)
		}
		defer srv.SetMode("keyfail.example.com", dnstest.Normal())
		r := eval(t, e, "", nil, sign(t, message("From: joe@example.com"), "keyfail.example.com"))
		check(t, r, StatusTempError, "DKIM key lookup for keyfail.example.com")
		if len(r.DKIM) != 1 || r.DKIM[0].Result != authres.ResultTempError {
			t.Errorf("DKIM %+v", r.DKIM)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		if err := srv.SetMode("broken.example", dnstest.Drop()); err != nil {
			t.Fatal(err)
		}
		defer srv.SetMode("broken.example", dnstest.Normal())
		short := evaluator(srv, &Options{Timeout: 300 * 1e6})
		r := eval(t, short, "", nil, message("From: joe@broken.example"))
		check(t, r, StatusTempError, "_dmarc.broken.example")
	})
}

// TestNoFromReasons covers RFC 7489 section 6.6.1: a message with no
// usable From domain is nofrom, with the reason.
func TestNoFromReasons(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	tests := []struct {
		fields []string
		want   error
	}{
		{nil, ErrNoFrom},
		{[]string{"From: undisclosed-recipients:;"}, ErrNoAuthor},
		{[]string{"From: <<<>>>"}, ErrFromSyntax},
		{[]string{"From: joe"}, ErrFromSyntax},
		{[]string{"From: joe@[192.0.2.1]"}, ErrFromDomain},
		{[]string{"From: joe@exa..mple.com"}, ErrFromDomain},
	}
	for _, tt := range tests {
		r := eval(t, e, "", nil, message(tt.fields...))
		if r.Status != StatusNoFrom || !errors.Is(r.Err, tt.want) || r.Authors != nil {
			t.Errorf("%q: want nofrom %v, got %s", tt.fields, tt.want, show(r))
		}
	}
}

// TestPercent samples pct=50 with a seeded source (RFC 7489 section
// 6.6.4): about half the failures get the policy, the rest the next
// lower one, and the same seed gives the same sequence.
func TestPercent(t *testing.T) {
	srv := world(t)
	msg := message("From: joe@pct.example.com")
	run := func() []Status {
		e := evaluator(srv, &Options{Rand: rand.NewPCG(42, 42)})
		var got []Status
		for range 100 {
			got = append(got, eval(t, e, "", nil, msg).Status)
		}
		return got
	}
	a, b := run(), run()
	rejects := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seeded runs differ at %d: %s, %s", i, a[i], b[i])
		}
		switch a[i] {
		case StatusReject:
			rejects++
		case StatusQuarantine:
		default:
			t.Fatalf("status %s", a[i])
		}
	}
	if rejects < 30 || rejects > 70 {
		t.Errorf("%d of 100 rejected with pct=50", rejects)
	}
	r := eval(t, evaluator(srv, nil), "", nil, message("From: joe@pct0.example.com"))
	if r.Status != StatusNone || !r.SampledOut || r.DomainPolicy != PolicyQuarantine || r.Disposition != PolicyNone {
		t.Errorf("pct=0: %s", show(r))
	}
}

// TestSuffixList replaces the Public Suffix List with an operator's file
// (Exim's dmarc_tld_file).
func TestSuffixList(t *testing.T) {
	list, err := ParseSuffixList(strings.NewReader(`
// a list in publicsuffix.org format
com
uk
co.uk
*.ck
!www.ck
// example.com is a suffix in this list, so its subdomains are
// organisations of their own.
example.com
`))
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"example.com":        "example.com",
		"news.example.com":   "news.example.com",
		"a.news.example.com": "news.example.com",
		"a.b.example.co.uk":  "example.co.uk",
		"a.b.c.ck":           "b.c.ck",
		"www.ck":             "www.ck",
		"a.www.ck":           "www.ck",
		"foo.unlisted":       "foo.unlisted",
		"Mail.EXAMPLE.Org":   "example.org",
	} {
		if got := list.OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
	// With that list, news.example.com has no organisational domain
	// above it: no record.
	srv := world(t)
	r := eval(t, evaluator(srv, &Options{SuffixList: list}), "", nil, message("From: joe@news.example.com"))
	if r.Status != StatusNoRecord || r.UsedDomain != "news.example.com" {
		t.Errorf("got %s", show(r))
	}
	if _, err := ParseSuffixList(strings.NewReader("com\nbad..name\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad list: %v", err)
	}
	if _, err := LoadSuffixList("testdata/no-such-file"); err == nil {
		t.Error("missing file loaded")
	}
}

// TestMaxHeader gives a header section over the limit: no result, an
// error the caller must refuse the message for; not nofrom, which would
// let a padded header section past the policy.
func TestMaxHeader(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, &Options{MaxHeaderBytes: 100})
	msg := message("From: joe@example.com", "X-Long: "+strings.Repeat("x", 200))
	r, err := e.Evaluate(context.Background(), &Input{IP: clientIP}, strings.NewReader(msg))
	if !errors.Is(err, ErrHeaderTooLarge) || r != nil {
		t.Errorf("got %v, %v", r, err)
	}
	// The default: 1 MiB, Exim's header_maxsize.
	msg = message("From: joe@example.com", "X-Long: "+strings.Repeat("x", DefaultMaxHeaderBytes))
	if _, err := evaluator(srv, nil).Evaluate(context.Background(), &Input{IP: clientIP}, strings.NewReader(msg)); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("default limit: %v", err)
	}
}

// TestEvaluateReadError: a message that cannot be read is an error, not a
// result.
func TestEvaluateReadError(t *testing.T) {
	e := evaluator(world(t), nil)
	_, err := e.Evaluate(context.Background(), nil, errReader{})
	if err == nil {
		t.Fatal("no error")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

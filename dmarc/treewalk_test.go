package dmarc

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// TestTreeWalkExamples runs the examples of RFC 9989 section 4.10.2
// (draft-ietf-dmarc-dmarcbis, "Identifier Alignment Evaluation") for the
// Author Domain a.mail.example.com.
func TestTreeWalkExamples(t *testing.T) {
	tests := []struct {
		name   string
		zone   string // records under example.com
		com    string // records of the com zone
		org    string
		used   string
		policy Policy
	}{
		{
			name: "records at mail.example.com and example.com: the shorter is the organisational domain",
			zone: `
				_dmarc.mail TXT "v=DMARC1; p=none"
				_dmarc      TXT "v=DMARC1; p=reject"`,
			org: "example.com", used: "example.com", policy: PolicyReject,
		},
		{
			name: "psd=n at mail.example.com makes it the organisational domain",
			zone: `
				_dmarc.mail TXT "v=DMARC1; p=quarantine; psd=n"
				_dmarc      TXT "v=DMARC1; p=reject"`,
			org: "mail.example.com", used: "mail.example.com", policy: PolicyQuarantine,
		},
		{
			name: "only com, with psd=y: example.com is the organisational domain, com's policy applies",
			com:  `_dmarc TXT "v=DMARC1; p=reject; psd=y"`,
			org:  "example.com", used: "com", policy: PolicyReject,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dnstest.Start(t,
				dnstest.Zone{Name: "example.com", Text: "@ A 192.0.2.80\na.mail A 192.0.2.81\n" + trimLines(tt.zone)},
				dnstest.Zone{Name: "com", Text: tt.com})
			e := evaluator(srv, &Options{DMARCbis: true})
			r := eval(t, e, "", nil, message("From: joe@a.mail.example.com"))
			if r.OrgDomain != tt.org || r.UsedDomain != tt.used || r.DomainPolicy != tt.policy {
				t.Fatalf("got org %s, %s", r.OrgDomain, show(r))
			}
		})
	}
}

// TestTreeWalkQueries checks the shortcut of RFC 9989 section 4.10: a
// name of eleven labels gets the eight queries the section lists.
func TestTreeWalkQueries(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.com", Text: "@ A 192.0.2.80"})
	e := evaluator(srv, &Options{DMARCbis: true})
	r := eval(t, e, "", nil, message("From: joe@a.b.c.d.e.f.g.h.i.j.mail.example.com"))
	if r.Status != StatusNoRecord {
		t.Fatalf("got %s", show(r))
	}
	var got []string
	for _, q := range srv.Queries() {
		if q.Type == dns.TypeTXT {
			got = append(got, strings.TrimSuffix(q.Name, "."))
		}
	}
	want := []string{
		"_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
		"_dmarc.g.h.i.j.mail.example.com",
		"_dmarc.h.i.j.mail.example.com",
		"_dmarc.i.j.mail.example.com",
		"_dmarc.j.mail.example.com",
		"_dmarc.mail.example.com",
		"_dmarc.example.com",
		"_dmarc.com",
	}
	if !slices.Equal(got, want) {
		t.Errorf("queries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTreeWalkAlignment contrasts the two ways of finding organisational
// domains: with psd=n at mail.example.com, a signature of example.com is
// aligned for RFC 7489 (the PSL says example.com) but not for DMARCbis.
func TestTreeWalkAlignment(t *testing.T) {
	key := dkimKeyRecord()
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.com", Text: `
		_dmarc          TXT "v=DMARC1; p=none"
		_dmarc.mail     TXT "v=DMARC1; p=reject; psd=n"
		sel._domainkey  TXT ` + key + `
		sel._domainkey.mail TXT ` + key})
	msg := sign(t, message("From: joe@a.mail.example.com"), "example.com")
	r7489 := eval(t, evaluator(srv, nil), "", nil, msg)
	if r7489.Status != StatusAccept {
		t.Errorf("RFC 7489: %s", show(r7489))
	}
	rbis := eval(t, evaluator(srv, &Options{DMARCbis: true}), "", nil, msg)
	if rbis.Status != StatusReject || rbis.UsedDomain != "mail.example.com" || rbis.OrgDomain != "mail.example.com" {
		t.Errorf("DMARCbis: %s", show(rbis))
	}
	// A signature by a sibling below the same organisational domain
	// aligns in both.
	msg = sign(t, message("From: joe@a.mail.example.com"), "mail.example.com")
	if r := eval(t, evaluator(srv, &Options{DMARCbis: true}), "", nil, msg); r.Status != StatusAccept {
		t.Errorf("DMARCbis, mail.example.com: %s", show(r))
	}
}

// TestNonexistentAndTesting covers np= and t=y (RFC 9989 sections 4.7 and
// 4.10.1), and that DMARCbis ignores pct=.
func TestNonexistentAndTesting(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.com", Text: `
		_dmarc          TXT "v=DMARC1; p=quarantine; sp=none; np=reject"
		exists          A   192.0.2.1
		mx              MX  10 mail.example.com.
		_dmarc.testing  TXT "v=DMARC1; p=reject; t=y"
		_dmarc.pct      TXT "v=DMARC1; p=reject; pct=0"`})
	e := evaluator(srv, &Options{DMARCbis: true})
	for from, want := range map[string]struct {
		status      Status
		nonexistent bool
	}{
		"joe@example.com":         {StatusQuarantine, false},
		"joe@exists.example.com":  {StatusNone, false},
		"joe@mx.example.com":      {StatusNone, false},
		"joe@nothere.example.com": {StatusReject, true},
	} {
		r := eval(t, e, "", nil, message("From: "+from))
		if r.Status != want.status || r.Nonexistent != want.nonexistent {
			t.Errorf("%s: %s nonexistent=%v", from, show(r), r.Nonexistent)
		}
	}
	r := eval(t, e, "", nil, message("From: joe@testing.example.com"))
	if r.Status != StatusQuarantine || !r.Testing || r.DomainPolicy != PolicyReject {
		t.Errorf("t=y: %s", show(r))
	}
	r = eval(t, e, "", nil, message("From: joe@pct.example.com"))
	if r.Status != StatusReject || r.SampledOut {
		t.Errorf("pct=0 under DMARCbis: %s", show(r))
	}
	// RFC 7489 mode knows neither np= nor t=.
	e7489 := evaluator(srv, nil)
	if r := eval(t, e7489, "", nil, message("From: joe@nothere.example.com")); r.Status != StatusNone {
		t.Errorf("np= under RFC 7489: %s", show(r))
	}
	if r := eval(t, e7489, "", nil, message("From: joe@testing.example.com")); r.Status != StatusReject {
		t.Errorf("t=y under RFC 7489: %s", show(r))
	}
	// Options.Exists replaces the A/AAAA/MX test.
	eExists := evaluator(srv, &Options{DMARCbis: true, Exists: func(_ context.Context, d string) (bool, error) { return true, nil }})
	if r := eval(t, eExists, "", nil, message("From: joe@nothere.example.com")); r.Status != StatusNone {
		t.Errorf("Exists: %s", show(r))
	}
}

// TestTreeWalkSPF aligns an SPF pass by tree walk.
func TestTreeWalkSPF(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.com", Text: `_dmarc TXT "v=DMARC1; p=reject"`})
	e := evaluator(srv, &Options{DMARCbis: true})
	r := eval(t, e, "b@bounces.example.com", spfResult(authres.ResultPass, "b@bounces.example.com"), message("From: joe@news.example.com"))
	if r.Status != StatusAccept || !r.SPFAligned {
		t.Errorf("got %s", show(r))
	}
}

// trimLines removes the indentation of every line.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

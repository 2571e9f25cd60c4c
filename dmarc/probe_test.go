package dmarc

import (
	"context"
	"errors"
	"io"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// The tests of this file are an adversary's: the attacker controls
// example.org (p=none), whose SPF passes for the client and whose DKIM
// signature verifies, and wants a message that a mail reader shows as
// from example.com (p=reject) delivered.

// attack evaluates msg as the attacker sends it: MAIL FROM
// ann@example.org with an SPF pass, signed by example.org.
func attack(t *testing.T, e *Evaluator, msg string) *Result {
	t.Helper()
	return eval(t, e, "ann@example.org", spfResult(authres.ResultPass, "ann@example.org"), sign(t, msg, "example.org"))
}

// refused reports whether the session would refuse r by default.
func refused(r *Result) bool { return r.Status == StatusReject || r.Status == StatusNoFrom }

// TestProbeFromTricks: From fields a mail reader may show as
// example.com's, whatever else they also say, are refused.
func TestProbeFromTricks(t *testing.T) {
	e := evaluator(world(t), nil)
	for _, from := range []string{
		// The angle address is the author, not the phrase.
		`From: "ann@example.org" <joe@example.com>`,
		`From: "<ann@example.org>" <joe@example.com>`,
		`From: ann@example.org <joe@example.com>`,
		// Not RFC 5322 (an unquoted "@" in the phrase): readers differ,
		// so every domain counts.
		`From: joe@example.com <ann@example.org>`,
		`From: =?utf-8?b?YW5uQGV4YW1wbGUub3Jn?= <joe@example.com>`,
		// Encoded words (RFC 2047) where section 5 allows none, which
		// mail readers have decoded all the same ("Mailsploit"): in a
		// local part, and in a display name hiding control characters.
		`From: =?utf-8?b?am9lQGV4YW1wbGUuY29t?==?utf-8?Q?=00?==?utf-8?b?am9lQGV4YW1wbGUuY29t?=@example.org`,
		`From: =?utf-8?b?am9lQGV4YW1wbGUuY29t?=@example.org`,
		`From: <=?utf-8?q?joe=40example.com?=@example.org>`,
		`From: Ann <=?x-unknown?q?joe=40example.com?=@example.org>`,
		`From: =?utf-8?b?am9lQGV4YW1wbGUuY29t?==?utf-8?q?=0A=00?= <ann@example.org>`,
		`From: "=?utf-8?q?joe=40example.com=00?=" <ann@example.org>`,
		`From: =?utf-8?q?joe=40example.com=0D?= ann@example.org`,
		`From: g=?utf-8?q?=00joe=40example.com?=: ann@example.org;`,
		// Quoted local parts with "@" and "<>" inside.
		`From: "ann@example.org"@example.com`,
		`From: "<ann@example.org>"@example.com`,
		`From: "ann\"@example.org"@example.com`,
		// Comments with addresses, nested and escaped parentheses.
		`From: (ann@example.org) joe@example.com`,
		`From: joe@example.com (ann@example.org)`,
		`From: (a (b) <ann@example.org>) joe@example.com`,
		`From: (a \) <ann@example.org>) joe@example.com`,
		`From: (a \( <ann@example.org>) <joe@example.com>`,
		// Unbalanced quotes, brackets, parentheses: whatever a reader
		// makes of them, example.com is among the authors.
		`From: "ann@example.org <joe@example.com>`,
		`From: ann@example.org" <joe@example.com>`,
		`From: (ann@example.org <joe@example.com>`,
		`From: ann@example.org) <joe@example.com>`,
		`From: <ann@example.org <joe@example.com>`,
		`From: <ann@example.org>> <joe@example.com>`,
		`From: <joe@example.com`,
		`From: joe@example.com>`,
		`From: <<joe@example.com>>`,
		// Groups.
		`From: undisclosed:;, joe@example.com`,
		`From: g: ann@example.org, joe@example.com;`,
		`From: g: ann@example.org;, joe@example.com`,
		`From: g: ann@example.org; joe@example.com`,
		`From: g: (;) joe@example.com;`,
		`From: g:: joe@example.com;`,
		// Domain literals next to the real author.
		`From: ann@[192.0.2.1], joe@example.com`,
		`From: joe@[example.com]`,
		// Name forms of the same domain.
		`From: joe@example.com.`,
		`From: joe@EXAMPLE.COM`,
		`From: joe@ExAmPlE.cOm.`,
		`From: joe%example.com@example.com`,
		`From: ann%example.org@example.com`,
		`From: joe@example..com, joe@example.com`,
		// atext that no host name has, after a name a reader shows.
		`From: joe@example.com?`,
		`From: joe@example.com!`,
		`From: joe@example.com'`,
		`From: joe@example.com#x`,
		`From: joe@example.com/`,
		`From: joe@example.com=`,
		`From: joe@example.com}`,
		`From: joe@example.com_`,
		`From: joe@example.com-`,
		`From: <joe@example.com?`,
		`From: Joe <joe@example.com|>`,
		"From: joe@example.com\u00a0",
		"From: joe@example.com\u200e",
		// Control bytes inside the field.
		"From: ann@example.org\x00joe@example.com",
		"From: ann@example.org\x00, joe@example.com",
		"From: ann@example.org\rFrom: joe@example.com",
		"From: (x\rFrom: joe@example.com) ann@example.org",
		"From: \"x\rFrom: joe@example.com\" <ann@example.org>",
		"From: (x\x00) joe@example.com",
		// Folding.
		"From:\r\n\tjoe@example.com",
		"From: Ann\r\n <joe@example.com>",
		"From: joe@\r\n\texample.com",
		"From: joe@example\r\n .com",
		"from: joe@example.com",
		"From : joe@example.com",
		"From\t: joe@example.com",
		"FROM:joe@example.com",
		// Several fields, Sender and obs-from.
		"From: ann@example.org\r\nFrom: joe@example.com",
		"From: joe@example.com\r\nFrom: ann@example.org",
		"From: ann@example.org, joe@example.com\r\nSender: ann@example.org",
		"Sender: ann@example.org\r\nFrom: joe@example.com, ann@example.org",
		"From: ann@example.org\r\nX-Foo: bar\r\nfrom: joe@example.com",
		// Long fields.
		"From: " + strings.Repeat("(c) ", 20000) + "joe@example.com",
		"From: " + strings.Repeat("ann@example.org, ", 2000) + "joe@example.com",
		"From: ann@example.org" + strings.Repeat(" ", 50000) + ", joe@example.com",
		"From: " + strings.Repeat(`"x" `, 10000) + "<joe@example.com>",
	} {
		r := attack(t, e, message(from))
		if !refused(r) {
			t.Errorf("%q: %s", trunc(from), show(r))
		}
	}
}

// TestProbeNotFrom: fields that are not From fields are not authors: the
// attacker's own From decides, and passes.
func TestProbeNotFrom(t *testing.T) {
	e := evaluator(world(t), nil)
	for _, fields := range [][]string{
		{"Resent-From: joe@example.com", "From: ann@example.org"},
		{"X-From: joe@example.com", "From: ann@example.org"},
		{"From-X: joe@example.com", "From: ann@example.org"},
		{"From: ann@example.org", "Reply-To: joe@example.com"},
		// The phrase is no address, to DMARC (RFC 7489 section 3.1,
		// RFC 5322 section 3.4): mailing lists put the original
		// address there.
		{`From: "joe@example.com via List" <ann@example.org>`},
		{`From: (joe@example.com) ann@example.org`},
		{`From: =?utf-8?b?am9lQGV4YW1wbGUuY29t?= <ann@example.org>`},
		{`From: =?utf-8?q?joe=40example.com_via_List?= <ann@example.org>`},
	} {
		r := attack(t, e, message(fields...))
		if r.Status != StatusAccept || r.FromDomain != "example.org" || r.Authors != nil {
			t.Errorf("%q: %s", fields, show(r))
		}
	}
}

// TestProbeManyFromFields: a thousand From fields, the one of example.com
// last, or the bad one first.
func TestProbeManyFromFields(t *testing.T) {
	e := evaluator(world(t), nil)
	var many []string
	for range 1000 {
		many = append(many, "From: ann@example.org")
	}
	for _, fields := range [][]string{
		append(many[:1000:1000], "From: joe@example.com"),
		append([]string{"From: joe@example.com"}, many...),
		append(many[:500:500], append([]string{"From: <joe@example.com>"}, many[500:]...)...),
	} {
		r := attack(t, e, message(fields...))
		if !refused(r) {
			t.Errorf("%d fields: %s", len(fields), show(r))
		}
	}
}

// TestProbeHeaderBoundary: the evaluator's header section ends where a
// mail reader's does, so that no From field a reader shows is left out:
// a From after a line that only looks empty is still evaluated.
func TestProbeHeaderBoundary(t *testing.T) {
	e := evaluator(world(t), nil)
	for _, msg := range []string{
		"From: ann@example.org\r\n\r\r\nFrom: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\n \r\nFrom: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\n\t\r\nFrom: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\n\rFrom: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\n\x00\r\nFrom: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\n\vFrom: joe@example.com\r\n\r\nbody\r\n",
		" From: joe@example.com\r\nFrom: ann@example.org\r\n\r\nbody\r\n",
		"From: ann@example.org\nFrom: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\nFrom: joe@example.com\n\nbody\r\n",
		// A bare CR ends a line to some readers (Python's email
		// package): the From field after it is theirs, and ours.
		"From: ann@example.org\r\nSubject: hi\rFrom: joe@example.com\r\n\r\nbody\r\n",
		"Subject: hi\rFrom: joe@example.com\r\nFrom: ann@example.org\r\n\r\nbody\r\n",
		"From: ann@example.org\r\nSubject: hi\r\n\tthere\rfrom : joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\nSubject: hi\rX: y\rFROM:<joe@example.com>\r\n\r\nbody\r\n",
		"Subject: hi\rFrom: joe@example.com\r\n\r\nbody\r\n",
		// Control characters in the name, which some readers drop.
		"From: ann@example.org\r\nFrom\x00: joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\nFr\x7fom : joe@example.com\r\n\r\nbody\r\n",
		"From: ann@example.org\r\nX: y\r\x00From: joe@example.com\r\n\r\nbody\r\n",
	} {
		r := eval(t, e, "ann@example.org", spfResult(authres.ResultPass, "ann@example.org"), msg)
		if !refused(r) {
			t.Errorf("%q: %s", msg, show(r))
		}
	}
}

// TestProbePolicyRecords: record variants and lookups that fail. A
// temporary failure never passes; a subdomain without its own record gets
// its organisational domain's sp=.
func TestProbePolicyRecords(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "bank.example", Text: `
			_dmarc        TXT "p=none; v=DMARC1"
			_dmarc.dup    TXT "v=DMARC1; p=reject; p=none"
			_dmarc.sp     TXT "v=DMARC1; sp=reject"
			_dmarc.spr    TXT "v=DMARC1; p=none; sp=reject"
			_dmarc.pctbad TXT "v=DMARC1; p=reject; pct=garbage"
			_dmarc.pctbig TXT "v=DMARC1; p=reject; pct=1000"
			_dmarc.pctneg TXT "v=DMARC1; p=reject; pct=-1"
			_dmarc.ty     TXT "v=DMARC1; p=reject; t=y"
			_dmarc.tn     TXT "v=DMARC1; p=reject; t=n"
			_dmarc.case   TXT "V=DMARC1; P=REJECT"
			_dmarc.split  TXT "v=DMARC1; " "p=reject"
			_dmarc.ws     TXT " v = DMARC1 ; p = reject "
		`},
		dnstest.Zone{Name: "orgfail.example", Text: `
			_dmarc        TXT "v=DMARC1; p=reject"
		`},
		dnstest.Zone{Name: "sub.orgfail.example", Text: `
			@             A   192.0.2.1
		`},
		dnstest.Zone{Name: "self.example", Text: `
			_dmarc        TXT "v=DMARC1; p=reject"
		`},
	)
	if err := srv.SetMode("orgfail.example", dnstest.ServFail(2, "test")); err != nil {
		t.Fatal(err)
	}
	for _, bis := range []bool{false, true} {
		e := evaluator(srv, &Options{DMARCbis: bis})
		for _, tt := range []struct {
			from string
			want Status
		}{
			{"joe@dup.bank.example", StatusReject}, // the first p= counts
			{"joe@spr.bank.example", StatusNone},   // its own p=, not sp=
			{"joe@pctbad.bank.example", StatusReject},
			{"joe@pctbig.bank.example", StatusReject},
			{"joe@pctneg.bank.example", StatusReject},
			{"joe@tn.bank.example", StatusReject},
			{"joe@split.bank.example", StatusReject},
			{"joe@ws.bank.example", StatusReject},
			{"joe@sub.orgfail.example", StatusTempError},
			{"joe@x.sub.orgfail.example", StatusTempError},
			{"joe@orgfail.example", StatusTempError},
		} {
			r := eval(t, e, "", nil, message("From: "+tt.from))
			if r.Status != tt.want {
				t.Errorf("bis=%v %s: %s", bis, tt.from, show(r))
			}
		}
		// A subdomain of spr.bank.example: by the Public Suffix List
		// its organisational domain is bank.example, whose record
		// does not start with v= (no policy); the Tree Walk makes
		// spr.bank.example, whose sp=reject applies, the organisational
		// domain.
		want := StatusNoRecord
		if bis {
			want = StatusReject
		}
		if r := eval(t, e, "", nil, message("From: joe@x.spr.bank.example")); r.Status != want {
			t.Errorf("bis=%v x.spr.bank.example: %s", bis, show(r))
		}
	}
}

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// TestProbeTempErrorNeverPasses: with a policy enforced, as the MTA's
// -dmarc does, a _dmarc lookup that fails (SERVFAIL, or no answer at
// all), at the From domain or at its organisational domain after the
// From domain had no record, is answered 451, never delivered; so is a
// message with a passing author next to such a one.
func TestProbeTempErrorNeverPasses(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "example.org", Text: `
			_dmarc  TXT "v=DMARC1; p=none"
		`},
		dnstest.Zone{Name: "failing.example", Text: `
			_dmarc  TXT "v=DMARC1; p=reject"
		`},
		dnstest.Zone{Name: "sub.failing.example", Text: `
			@       A   192.0.2.1
		`},
		dnstest.Zone{Name: "silent.example", Text: `
			_dmarc  TXT "v=DMARC1; p=reject"
		`},
	)
	if err := srv.SetMode("failing.example", dnstest.ServFail(2, "test")); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetMode("silent.example", dnstest.Drop()); err != nil {
		t.Fatal(err)
	}
	for _, bis := range []bool{false, true} {
		for _, from := range []string{
			"From: joe@failing.example",
			"From: joe@sub.failing.example",
			"From: joe@x.sub.failing.example",
			"From: joe@silent.example",
			"From: ann@example.org\r\nFrom: joe@failing.example",
			"From: joe@sub.failing.example, ann@example.org",
		} {
			rec := &recorder{}
			o := &SessionOptions{
				Evaluator:  evaluator(srv, &Options{DMARCbis: bis, Timeout: 300 * time.Millisecond}),
				AuthServID: "mx.example.org",
				SPF:        func(*smtp.Conn) *authres.SPFResult { return spfResult(authres.ResultPass, "ann@example.org") },
				Reject:     true,
				Quarantine: true,
			}
			rep := send(t, startSession(t, rec, o), "ann@example.org", from+"\r\nSubject: hi\r\n\r\nbody\r\n")
			if rep.Code != 451 || len(rec.deliveries()) != 0 {
				t.Errorf("bis=%v %q: reply %v, %d deliveries", bis, from, rep, len(rec.deliveries()))
			}
		}
	}
}

// TestProbeAlignment: identifiers that only look like the From domain's,
// or share no more than a public suffix with it, do not align; a DKIM
// signature that passes for another domain, or one added beside a
// failing one, does not help.
func TestProbeAlignment(t *testing.T) {
	key := dkimKeyRecord()
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "example.com", Text: `
			_dmarc          TXT "v=DMARC1; p=reject"
		`},
		// The public suffix says so (RFC 9989 section 4.7): the
		// DMARCbis Tree Walk takes a suffix's record without psd=y
		// for an organisational domain's (section 4.10.2).
		dnstest.Zone{Name: "co.uk", Text: `
			_dmarc          TXT "v=DMARC1; p=reject; psd=y"
			sel._domainkey  TXT ` + key + `
		`},
		dnstest.Zone{Name: "bank.co.uk", Text: `
			_dmarc          TXT "v=DMARC1; p=reject"
		`},
		dnstest.Zone{Name: "evil.co.uk", Text: `
			sel._domainkey  TXT ` + key + `
		`},
		dnstest.Zone{Name: "example.com.evil.example", Text: `
			sel._domainkey  TXT ` + key + `
		`},
		dnstest.Zone{Name: "evilexample.com", Text: `
			sel._domainkey  TXT ` + key + `
		`},
		dnstest.Zone{Name: "xn--exmple-cua.com", Text: `
			sel._domainkey  TXT ` + key + `
		`},
	)
	for _, bis := range []bool{false, true} {
		e := evaluator(srv, &Options{DMARCbis: bis})
		for _, tt := range []struct{ from, id string }{
			{"joe@example.com", "example.com.evil.example"},
			{"joe@example.com", "evilexample.com"},
			{"joe@example.com", "xn--exmple-cua.com"},
			{"joe@bank.co.uk", "evil.co.uk"},
			{"joe@bank.co.uk", "co.uk"},
			{"joe@co.uk", "evil.co.uk"},
		} {
			msg := message("From: " + tt.from)
			in := "x@" + tt.id
			// SPF pass for the look-alike.
			if r := eval(t, e, in, spfResult(authres.ResultPass, in), msg); r.Status != StatusReject {
				t.Errorf("bis=%v From %s, SPF pass %s: %s", bis, tt.from, tt.id, show(r))
			}
			// DKIM pass for it, in mixed case too.
			for _, d := range []string{tt.id, strings.ToUpper(tt.id)} {
				r := eval(t, e, "", nil, sign(t, msg, d))
				if r.Status != StatusReject || len(r.DKIM) != 1 || r.DKIM[0].Result != authres.ResultPass {
					t.Errorf("bis=%v From %s, DKIM d=%s: %s %+v", bis, tt.from, d, show(r), r.DKIM)
				}
			}
		}
	}
}

// TestProbeIDN: a From domain in U-labels, in any case, with an
// ideographic full stop, or with a final dot, is the A-label domain whose
// record applies (RFC 5891 section 5, RFC 6532); names that do not map
// are no usable domain, never a pass.
func TestProbeIDN(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "xn--bnk-qla.example", Text: `
			_dmarc  TXT "v=DMARC1; p=reject"
		`},
	)
	e := evaluator(srv, nil)
	for _, from := range []string{
		"From: joe@bänk.example",
		"From: joe@BÄNK.EXAMPLE",
		"From: joe@bänk\u3002example",
		"From: joe@bänk.example.",
		"From: joe@XN--BNK-QLA.example",
		"From: =?utf-8?q?J=C3=B6e?= <jöe@bänk.example>",
		"From: joe@ba\u0308nk.example",      // NFD: a and a combining diaeresis
		"From: joe@b\u00e4nk.example\u200b", // UTS 46 maps ZWSP away
	} {
		r := eval(t, e, "ann@example.org", spfResult(authres.ResultPass, "ann@example.org"), message(from))
		if r.Status != StatusReject || r.FromDomain != "xn--bnk-qla.example" {
			t.Errorf("%q: %s", from, show(r))
		}
	}
	for _, from := range []string{
		"From: joe@xn--bnk-qla.example\u00a0",
		"From: joe@b\u00e4nk.example\u0000",
		"From: joe@bänk\xff.example",
		"From: joe@bänk.example\xff",
	} {
		r := eval(t, e, "ann@example.org", spfResult(authres.ResultPass, "ann@example.org"), message(from))
		if !refused(r) {
			t.Errorf("%q: %s", from, show(r))
		}
	}
}

// TestProbeSubdomainPolicies: sp= and np= (RFC 7489 section 6.3, RFC 9989
// section 4.10.1) for subdomains without records of their own: a
// subdomain that does not exist gets np= in DMARCbis mode, one that
// exists sp=, and a failing existence check is a temperror, not the
// weaker policy; a record with sp= but no p= applies no policy by RFC
// 7489 and p=none by DMARCbis.
func TestProbeSubdomainPolicies(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "np.example", Text: `
			_dmarc  TXT "v=DMARC1; p=none; sp=none; np=reject"
			real    A   192.0.2.1
			mx      MX  10 mail.np.example.
		`},
		dnstest.Zone{Name: "dead.np.example", Text: `
		`},
		dnstest.Zone{Name: "nop.example", Text: `
			_dmarc  TXT "v=DMARC1; sp=reject"
		`},
	)
	if err := srv.SetMode("dead.np.example", dnstest.ServFail(2, "test")); err != nil {
		t.Fatal(err)
	}
	for _, bis := range []bool{false, true} {
		e := evaluator(srv, &Options{DMARCbis: bis})
		for _, tt := range []struct {
			from      string
			rfc, dbis Status
		}{
			{"joe@np.example", StatusNone, StatusNone},
			{"joe@ghost.np.example", StatusNone, StatusReject},
			{"joe@a.b.ghost.np.example", StatusNone, StatusReject},
			{"joe@real.np.example", StatusNone, StatusNone},
			{"joe@mx.np.example", StatusNone, StatusNone},
			{"joe@x.dead.np.example", StatusTempError, StatusTempError},
			{"joe@nop.example", StatusNoRecord, StatusNone},
			{"joe@sub.nop.example", StatusNoRecord, StatusReject},
		} {
			want := tt.rfc
			if bis {
				want = tt.dbis
			}
			if r := eval(t, e, "", nil, message("From: "+tt.from)); r.Status != want {
				t.Errorf("bis=%v %s: %s", bis, tt.from, show(r))
			}
		}
	}
}

// TestProbeControlCharacters: a From field with NUL or a bare CR is read
// both by the grammar, those characters taken for spaces, and leniently:
// a domain after CFWS after the "@" is not lost.
func TestProbeControlCharacters(t *testing.T) {
	for _, v := range []string{
		"joe@ (\x00) example.com",
		"joe@\r example.com",
		"joe (\x00) @ example . com",
		"Joe\x00 <joe@(c)example.com>",
	} {
		a := &authors{}
		if err := a.addField([]byte(v), DefaultMaxAuthorDomains); err != nil || len(a.domains) != 1 || a.domains[0] != "example.com" {
			t.Errorf("%q: %q, %v", v, a.domains, err)
		}
	}
}

// TestProbeNoClientAddress: a session whose client has no IP address, on
// a Unix socket, is evaluated and refused like any other.
func TestProbeNoClientAddress(t *testing.T) {
	o := sessionOptions(world(t))
	o.Reject, o.Quarantine = true, true
	rec := &recorder{}
	srv := smtp.NewServer(WrapBackend(rec, o))
	srv.Domain = "mx.example.org"
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "smtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	conn, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := netsmtp.NewClient(conn, "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("x@example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("postmaster@mx.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("From: joe@example.com"))
	var te *textproto.Error
	if err := w.Close(); !errors.As(err, &te) || te.Code != 550 {
		t.Fatalf("end of data: %v", err)
	}
	if got := rec.deliveries(); len(got) != 0 {
		t.Fatalf("delivered: %+v", got)
	}
}

// TestProbeOverrideOneAuthor: a local policy override (a trusted ARC
// chain) applies to a message with one Author Domain only; a From field
// added beside the one the override vouches for gets the message
// refused, whatever the order.
func TestProbeOverrideOneAuthor(t *testing.T) {
	check := func(context.Context, *smtp.Conn, io.Reader, *Result) CheckResult {
		return CheckResult{Override: "arc: trusted chain from forwarder.example"}
	}
	o := sessionOptions(world(t))
	o.Reject, o.Quarantine, o.Checks = true, true, []Check{check}
	for _, fields := range [][]string{
		{"From: joe@example.com"},
		{"From: ann@example.org", "From: joe@example.com"},
		{"From: joe@example.com", "From: ann@example.org"},
		{"From: ann@example.org, joe@example.com"},
		{"From: joe@example.com", "From: undisclosed:;"},
	} {
		rec := &recorder{}
		rep := send(t, startSession(t, rec, o), "x@example.net", message(fields...))
		want := 550
		if len(fields) == 1 && !strings.Contains(fields[0], ",") {
			want = 250
		}
		if rep.Code != want || want == 550 && len(rec.deliveries()) != 0 {
			t.Errorf("%q: reply %v, %d deliveries", fields, rep, len(rec.deliveries()))
		}
	}
}

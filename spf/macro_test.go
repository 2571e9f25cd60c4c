package spf

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// rfcEnv is the setting of the examples in RFC 7208 section 7.4.
func rfcEnv(ip string) *macroEnv {
	return &macroEnv{
		sender:   "strong-bad@email.example.com",
		local:    "strong-bad",
		origin:   "email.example.com",
		domain:   "email.example.com",
		ip:       addr(ip),
		helo:     "mx.example.org",
		receiver: "mx.example.net",
		now:      fixedNow,
		ptr:      func() string { return "mx.example.org" },
	}
}

func TestExpandMacrosRFC7208Examples(t *testing.T) {
	// RFC 7208 section 7.4.
	tests := []struct{ in, want string }{
		{"%{s}", "strong-bad@email.example.com"},
		{"%{o}", "email.example.com"},
		{"%{d}", "email.example.com"},
		{"%{d4}", "email.example.com"},
		{"%{d3}", "email.example.com"},
		{"%{d2}", "example.com"},
		{"%{d1}", "com"},
		{"%{dr}", "com.example.email"},
		{"%{d2r}", "example.email"},
		{"%{l}", "strong-bad"},
		{"%{l-}", "strong.bad"},
		{"%{lr}", "strong-bad"},
		{"%{lr-}", "bad.strong"},
		{"%{l1r-}", "strong"},
		{"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
	}
	for _, tt := range tests {
		got, err := expandMacros(tt.in, rfcEnv("192.0.2.3"), false)
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	got, err := expandMacros("%{ir}.%{v}._spf.%{d2}", rfcEnv("2001:db8::cb01"), false)
	want := "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
	if err != nil || got != want {
		t.Errorf("IPv6: %q, %v; want %q", got, err, want)
	}
}

func TestExpandMacrosExplain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"%{c} %{r} %{t} %{h} %{p}", "192.0.2.3 mx.example.net 1700000000 mx.example.org mx.example.org"},
		{"100%% sure%_%-x", "100% sure %20x"},
		{"%{S}", "strong-bad%40email.example.com"},
		{"%{L}", "strong-bad"},
		{"%{D2R}", "example.email"},
		{"%{l+-}", "strong.bad"},
		{"%{d=.}", "email.example.com"},
		{"%{d10}", "email.example.com"},
		{"%{d99999999999999999999}", "email.example.com"},
	}
	for _, tt := range tests {
		got, err := expandMacros(tt.in, rfcEnv("192.0.2.3"), true)
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	got, _ := expandMacros("%{c} %{v}", rfcEnv("2001:db8::cb01"), true)
	if got != "2001:db8::cb01 ip6" {
		t.Errorf("IPv6 %%{c}: %q", got)
	}
	env := rfcEnv("192.0.2.3")
	env.receiver, env.ptr = "", nil
	got, _ = expandMacros("%{r} %{p}", env, true)
	if got != "unknown unknown" {
		t.Errorf("no receiver, no ptr: %q", got)
	}
}

func TestExpandMacrosErrors(t *testing.T) {
	for _, in := range []string{
		"%", "%x", "%{", "%{}", "%{x}", "%{d0}", "%{dq}", "%{d2r2}", "%{d:}",
		"a b", "tab\there", "caf\xc3\xa9",
		"%{c}", "%{r}", "%{t}", // explanation-only letters (RFC 7208 section 7.2)
	} {
		if got, err := expandMacros(in, rfcEnv("192.0.2.3"), false); !errors.Is(err, ErrMacro) {
			t.Errorf("%q = %q, %v; want an ErrMacro", in, got, err)
		}
	}
	if _, err := expandMacros("a b", rfcEnv("192.0.2.3"), true); err != nil {
		t.Errorf("space in an explanation: %v", err)
	}
}

func TestExpandMacrosTruncates(t *testing.T) {
	// RFC 7208 section 7.3: labels go from the left until it fits.
	env := rfcEnv("192.0.2.3")
	env.local = strings.Repeat("abcdefghi.", 40) + "x"
	got, err := expandMacros("%{l}.example.com", env, false)
	if err != nil || len(got) > maxDomainLen || !strings.HasSuffix(got, ".x.example.com") || strings.HasPrefix(got, ".") {
		t.Errorf("truncated to %d: %q, %v", len(got), got, err)
	}
}

func FuzzExpandMacros(f *testing.F) {
	for _, s := range []string{
		"%{ir}.%{v}._spf.%{d2}", "%{lr-}.lp._spf.%{d2}", "%{S}%{L}%{O}", "%%%_%-",
		"%{d99999999999}", "%{l1r-+,/_=}", "%{c} at %{t} by %{r} %{p}", "%", "%{", "%{d0}",
	} {
		f.Add(s, "local-part.x", true)
	}
	f.Add(strings.Repeat("%{l}.", 100)+"end.test", "a.b", false)
	f.Add(strings.Repeat("%{d}", 300)+".", "x", false)
	f.Add(strings.Repeat("%{L}%_", 500), "a b", true)
	f.Add(strings.Repeat("x", 600)+"."+strings.Repeat("%{s2r+}", 50), strings.Repeat("q+", 40), false)
	f.Fuzz(func(t *testing.T, s, local string, explain bool) {
		env := rfcEnv("2001:db8::cb01")
		env.local = local
		env.sender = local + "@email.example.com"
		got, err := expandMacros(s, env, explain)
		// Expanding as it goes, dropping what truncation or the reply
		// limit would, gives what expanding all and then cutting gives.
		want, ok := referenceExpand(s, env, explain)
		if (err == nil) != ok || got != want {
			t.Fatalf("%q: got %q (%v), expanding all gives %q (ok %v)", s, got, err, want, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrMacro) {
				t.Fatalf("error %v is not an ErrMacro", err)
			}
			return
		}
		if !explain && len(strings.TrimSuffix(got, ".")) > maxDomainLen {
			t.Fatalf("domain-spec expanded to %d octets", len(got))
		}
		if !strings.Contains(s, "%{") && !utf8.ValidString(got) {
			t.Fatalf("literal input %q gave invalid UTF-8 %q", s, got)
		}
		again, err := expandMacros(s, env, explain)
		if err != nil || again != got {
			t.Fatalf("not deterministic: %q then %q, %v", got, again, err)
		}
	})
}

package spf

import (
	"errors"
	"flag"
	"io"
	"testing"
)

func TestParseResult(t *testing.T) {
	for word, want := range map[string]Result{
		"pass": Pass, "fail": Fail, "softfail": SoftFail, "none": None, "neutral": Neutral,
		"permerror": PermError, "temperror": TempError, "err_perm": PermError, "err_temp": TempError,
		"FAIL": Fail, "Err_Temp": TempError,
	} {
		if got, err := ParseResult(word); err != nil || got != want {
			t.Errorf("ParseResult(%q) = %q, %v; want %q", word, got, err, want)
		}
	}
	for _, word := range []string{"", "invalid", "hardfail", "passed", " pass"} {
		if _, err := ParseResult(word); err == nil {
			t.Errorf("ParseResult(%q) accepted", word)
		}
	}
}

func TestCondition(t *testing.T) {
	all := []Result{Pass, Fail, SoftFail, None, Neutral, PermError, TempError}
	tests := []struct {
		list  string
		canon string
		match []Result // the results that make it true
	}{
		{"fail", "fail", []Result{Fail}},
		{"fail:neutral", "fail:neutral", []Result{Fail, Neutral}},
		{" fail : softfail ", "fail:softfail", []Result{Fail, SoftFail}},
		{"!pass", "!pass", []Result{Fail, SoftFail, None, Neutral, PermError, TempError}},
		{"! pass", "!pass", []Result{Fail, SoftFail, None, Neutral, PermError, TempError}},
		{"err_perm:err_temp", "permerror:temperror", []Result{PermError, TempError}},
		// First match wins: "!fail" matches everything but fail, and
		// "fail" then catches fail, so the list is always true.
		{"!fail:fail", "!fail:fail", all},
		// "!pass:!fail" is true for any result, since none is both.
		{"!pass:!fail", "!pass:!fail", all},
		{"<; fail; softfail", "fail:softfail", []Result{Fail, SoftFail}},
		{"<,none,neutral", "none:neutral", []Result{None, Neutral}},
		{"", "", nil},
		{"   ", "", nil},
		{"<;", "", nil},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.list)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.list, err)
			continue
		}
		if c.String() != tt.canon {
			t.Errorf("ParseCondition(%q).String() = %q, want %q", tt.list, c.String(), tt.canon)
		}
		for _, r := range all {
			want := false
			for _, m := range tt.match {
				want = want || m == r
			}
			if got := c.Match(r); got != want {
				t.Errorf("%q.Match(%s) = %v, want %v", tt.list, r, got, want)
			}
		}
		if c.IsZero() != (len(tt.match) == 0) {
			t.Errorf("%q.IsZero() = %v", tt.list, c.IsZero())
		}
	}
}

func TestConditionErrors(t *testing.T) {
	for _, list := range []string{"fail::pass", "fail:", ":fail", "!", "fial", "pass:invalid", "<", "<a fail", "< fail", "fail;softfail"} {
		if c, err := ParseCondition(list); err == nil {
			t.Errorf("ParseCondition(%q) = %q, want an error", list, c)
		}
	}
	if _, err := ParseCondition("fail::pass"); !errors.Is(err, ErrEmptyItem) {
		t.Errorf("empty item: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParseCondition did not panic")
		}
	}()
	MustParseCondition("fial")
}

func TestConditionFlag(t *testing.T) {
	var reject Condition
	fs := flag.NewFlagSet("mta", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.TextVar(&reject, "spf-reject", MustParseCondition("fail"), "")
	if !reject.Match(Fail) || reject.Match(SoftFail) {
		t.Fatalf("default: %q", reject)
	}
	if err := fs.Parse([]string{"-spf-reject", "fail:softfail"}); err != nil {
		t.Fatal(err)
	}
	if !reject.Match(SoftFail) {
		t.Errorf("after -spf-reject: %q", reject)
	}
	if err := fs.Parse([]string{"-spf-reject", "fial"}); err == nil {
		t.Error("bad flag value accepted")
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{"fail", "fail:neutral", "!pass", "<; fail; !err_temp", "fail::", "", "!", "<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCondition(s)
		if err != nil {
			return
		}
		// The canonical form parses back to the same list.
		c2, err := ParseCondition(c.String())
		if err != nil || c2.String() != c.String() {
			t.Fatalf("%q: canonical %q reparsed as %q, %v", s, c, c2, err)
		}
		for _, r := range results {
			if c.Match(r) != c2.Match(r) {
				t.Fatalf("%q and %q disagree on %s", s, c, r)
			}
		}
	})
}

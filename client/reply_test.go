package client

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func parse(s string) (reply, error) {
	return readReply(bufio.NewReaderSize(strings.NewReader(s), 16), MaxReplyLines, MaxReplyLineLength)
}

func TestReadReply(t *testing.T) {
	ok := []struct {
		in    string
		code  int
		lines []string
	}{
		{"250 ok\r\n", 250, []string{"ok"}},
		{"250\r\n", 250, []string{""}},
		{"250 \r\n", 250, []string{""}},
		{"250-a\r\n250-b\r\n250 c\r\n", 250, []string{"a", "b", "c"}},
		{"250-a\n250 bare LF\n", 250, []string{"a", "bare LF"}},
		{"354 go ahead\r\nrest", 354, []string{"go ahead"}},
		{"550 " + strings.Repeat("x", MaxReplyLineLength-4) + "\r\n", 550, []string{strings.Repeat("x", MaxReplyLineLength-4)}},
		{strings.Repeat("250-x\r\n", MaxReplyLines-1) + "250 y\r\n", 250, append(strings.Split(strings.Repeat("x,", MaxReplyLines-1), ",")[:MaxReplyLines-1], "y")},
	}
	for _, tc := range ok {
		r, err := parse(tc.in)
		if err != nil || r.code != tc.code || strings.Join(r.lines, "|") != strings.Join(tc.lines, "|") {
			t.Errorf("%.40q: %v %d %q", tc.in, err, r.code, r.lines)
		}
	}

	bad := map[string]error{
		"":                     io.EOF,
		"250-a\r\n":            io.ErrUnexpectedEOF,
		"250 no line end":      io.ErrUnexpectedEOF,
		"hello\r\n":            errProtocol,
		"25\r\n":               errProtocol,
		"150 one\r\n":          errProtocol,
		"260 second digit\r\n": errProtocol,
		"600 x\r\n":            errProtocol,
		"250x\r\n":             errProtocol,
		"2a0 x\r\n":            errProtocol,
		"250-a\r\n251 b\r\n":   errProtocol,
		"250-a\r\nxyz\r\n":     errProtocol,
		"250 " + strings.Repeat("x", MaxReplyLineLength) + "\r\n": errProtocol,
		strings.Repeat("250-x\r\n", MaxReplyLines) + "250 y\r\n":  errProtocol,
		strings.Repeat("x", 3*MaxReplyLineLength):                 errProtocol,
	}
	for in, want := range bad {
		if r, err := parse(in); !errors.Is(err, want) {
			t.Errorf("%.40q: got %v %+v, want %v", in, err, r, want)
		}
	}
}

func TestSMTPError(t *testing.T) {
	cases := []struct {
		in   string
		code smtp.EnhancedCode
		msg  string
	}{
		{"250 2.1.0 ok\r\n", smtp.EnhancedCode{2, 1, 0}, "ok"},
		{"550-5.1.1 no such\r\n550 5.1.1 user\r\n", smtp.EnhancedCode{5, 1, 1}, "no such\nuser"},
		// go-smtp: the code on the last line only.
		{"550-no such\r\n550 5.1.1 user\r\n", smtp.EnhancedCode{5, 1, 1}, "no such\nuser"},
		{"451 4.3.0\r\n", smtp.EnhancedCode{4, 3, 0}, ""},
		{"250 999.999.999 x\r\n", smtp.NoEnhancedCode, "999.999.999 x"},
		{"250 5.1.1 class mismatch\r\n", smtp.NoEnhancedCode, "5.1.1 class mismatch"},
		{"250 2.1.1000 long\r\n", smtp.NoEnhancedCode, "2.1.1000 long"},
		{"250 2.1 short\r\n", smtp.NoEnhancedCode, "2.1 short"},
		{"250 2.1.0x\r\n", smtp.NoEnhancedCode, "2.1.0x"},
		{"354 3.0.0 go\r\n", smtp.NoEnhancedCode, "3.0.0 go"},
		{"250 22.0.0 two digits\r\n", smtp.NoEnhancedCode, "22.0.0 two digits"},
		{"250 plain\r\n", smtp.NoEnhancedCode, "plain"},
	}
	for _, tc := range cases {
		r, err := parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		e := r.smtpError(true)
		if e.Code != r.code || e.EnhancedCode != tc.code || e.Message != tc.msg {
			t.Errorf("%q: %+v", tc.in, e)
		}
	}
	// Greetings keep their text as it is (RFC 2034 section 3).
	r, _ := parse("220 2.0.0 mx ready\r\n")
	if e := r.smtpError(false); e.EnhancedCode != smtp.NoEnhancedCode || e.Message != "2.0.0 mx ready" {
		t.Errorf("%+v", e)
	}
}

func TestReplyWire(t *testing.T) {
	for _, in := range []string{"250 ok\r\n", "250-a\r\n250 b\r\n", "250\r\n", "220-x\r\n220\r\n"} {
		r, err := parse(in)
		if err != nil || string(r.wire()) != in {
			t.Errorf("%q: %v %q", in, err, r.wire())
		}
	}
	if got := string((reply{code: 250}).wire()); got != "250\r\n" {
		t.Errorf("%q", got)
	}
}

// FuzzReadReply feeds the reply parser arbitrary server output: it must
// never panic or loop, must respect its limits, and what it accepts must
// survive a render and re-parse unchanged.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n", "250-a\r\n250 b\r\n", "550-5.1.1 x\r\n550 5.1.1 y\r\n", "250\n",
		"354 go\r\n", "250-a\r\n251 b\r\n", "hello\r\n", "250 2.0.0\r\n", "",
		strings.Repeat("250-x\r\n", 120), "421 4.3.2 bye\r\n250 more",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxLines, maxLen = 10, 64
		br := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		for i := 0; i < 100; i++ {
			r, err := readReply(br, maxLines, maxLen)
			if err != nil {
				if !errors.Is(err, errProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind %v", err)
				}
				return
			}
			if r.code < 200 || r.code > 559 || len(r.lines) == 0 || len(r.lines) > maxLines {
				t.Fatalf("accepted %+v", r)
			}
			for _, l := range r.lines {
				if len(l) > maxLen || strings.ContainsAny(l, "\n") {
					t.Fatalf("line %q", l)
				}
			}
			e := r.smtpError(true)
			if e.Code != r.code {
				t.Fatalf("code %d vs %d", e.Code, r.code)
			}
			if ec := e.EnhancedCode; ec != smtp.NoEnhancedCode && ec[0] != r.code/100 {
				t.Fatalf("enhanced code %v for %d", ec, r.code)
			}
			// A line that ends in CR before LF loses it: compare after a
			// render, which is canonical.
			again, err := readReply(bufio.NewReader(strings.NewReader(string(r.wire()))), maxLines, maxLen+1)
			if err != nil || again.code != r.code || strings.Join(again.lines, "\n") != strings.Join(r.lines, "\n") {
				if !strings.Contains(strings.Join(r.lines, ""), "\r") {
					t.Fatalf("round trip %+v -> %q -> %+v %v", r, r.wire(), again, err)
				}
			}
		}
	})
}

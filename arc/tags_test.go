package arc

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseTags(t *testing.T) {
	tests := []struct {
		in   string
		want tagList
		err  error
	}{
		{"", nil, nil},
		{"  \r\n ", nil, nil},
		{"a=1", tagList{{"a", "1"}}, nil},
		{"a=1;", tagList{{"a", "1"}}, nil},
		{"a=1; \r\n\t", tagList{{"a", "1"}}, nil},
		{" a = 1 ; b=2", tagList{{"a", "1"}, {"b", "2"}}, nil},
		{"b=ab\r\n cd ef;bh=", tagList{{"b", "ab\r\n cd ef"}, {"bh", ""}}, nil},
		{"h=from : to", tagList{{"h", "from : to"}}, nil},
		{"x_1=y", tagList{{"x_1", "y"}}, nil},
		{"A=1; a=2", tagList{{"A", "1"}, {"a", "2"}}, nil}, // names are case-sensitive
		{"v=\xc3\xa9", tagList{{"v", "\xc3\xa9"}}, nil},
		{"a=1;;b=2", nil, errEmptyTagSpec},
		{"a=1; ;", nil, errEmptyTagSpec},
		{";a=1", nil, errEmptyTagSpec},
		{"==", nil, errTagName},
		{"1a=2", nil, errTagName},
		{"_a=2", nil, errTagName},
		{"a", nil, errTagNoEquals},
		{"a b=1", nil, errTagNoEquals},
		{"a=1; a=2", nil, errTagDuplicate},
		{"a=\x00", nil, errTagValue},
		{"a=x\x7fy", nil, errTagValue},
	}
	for _, tc := range tests {
		got, err := parseTags(tc.in)
		if !errors.Is(err, tc.err) || err == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseTags(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestValidDomain(t *testing.T) {
	for _, tc := range []struct {
		d  string
		ok bool
	}{
		{"example.org", true},
		{"a", true},
		{"sel_1.example-2.org", true},
		{"xn--bcher-kva.example", true},
		{"", false},
		{"example..org", false},
		{"example.", false},
		{".example", false},
		{"-a.example", false},
		{"a-.example", false},
		{"***", false},
		{"ex ample.org", false},
		{string(make([]byte, 64)) + ".org", false},
	} {
		if got := validDomain(tc.d); got != tc.ok {
			t.Errorf("validDomain(%q) = %v", tc.d, got)
		}
	}
}

func TestParseDigits(t *testing.T) {
	for _, tc := range []struct {
		s  string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"12345", 12345, true}, {"", 0, false}, {"1 2", 0, false},
		{"-1", 0, false}, {"icecream", 0, false}, {"1234567890123", 0, false},
	} {
		n, ok := parseDigits(tc.s, 12)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseDigits(%q) = %d, %v", tc.s, n, ok)
		}
	}
}

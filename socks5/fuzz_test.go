package socks5

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseProxies: the parser never panics, and what it accepts survives
// a round trip through Exim's syntax.
func FuzzParseProxies(f *testing.F) {
	f.Add("192.0.2.1 auth=name name=u pass=p port=1081 tmo=7 pri=2 weight=3 : 192.0.2.2")
	f.Add("<; ::1 tmo=500ms ; [2001:db8::2]")
	f.Add("::::1 port=1080 : 127.0.0.1 auth=name name=a::b pass=c")
	f.Add("<")
	f.Fuzz(func(t *testing.T, list string) {
		ps, err := ParseProxies(list)
		if err != nil {
			return
		}
		var items []string
		for _, p := range ps {
			if p.Password != "" && p.Password != "***" && strings.Contains(p.String(), "pass="+p.Password) {
				t.Fatalf("String shows the password: %q", p.String())
			}
			items = append(items, strings.ReplaceAll(p.spec(false), ":", "::"))
		}
		again, err := ParseProxies(strings.Join(items, " : "))
		if err != nil || !reflect.DeepEqual(again, ps) {
			t.Fatalf("round trip of %q: %+v, %v; first %+v", list, again, err, ps)
		}
	})
}

package socks5

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseProxies(t *testing.T) {
	got, err := ParseProxies("192.0.2.1 auth=name name=u pass=p:w port=1081 tmo=7 pri=2 weight=3 : " +
		"<; ignored")
	if err == nil {
		t.Fatalf("a bad address was accepted: %+v", got)
	}
	for _, tc := range []struct {
		in   string
		want []Proxy
	}{
		{"192.0.2.1", []Proxy{{Host: "192.0.2.1"}}},
		{"192.0.2.1 auth=name name=u pass=pw port=1081 tmo=7 pri=2 weight=3 : 192.0.2.2",
			[]Proxy{{Host: "192.0.2.1", Auth: AuthName, Username: "u", Password: "pw", Port: 1081, Timeout: 7 * time.Second, Priority: 2, Weight: 3},
				{Host: "192.0.2.2"}}},
		{"::::1 port=1080 : 2001::db8::::1", []Proxy{{Host: "::1", Port: 1080}, {Host: "2001:db8::1"}}},
		{"<; ::1 auth=none tmo=500ms ; [2001:db8::2] ; 127.0.0.1", []Proxy{{Host: "::1", Timeout: 500 * time.Millisecond},
			{Host: "2001:db8::2"}, {Host: "127.0.0.1"}}},
		{"127.0.0.1 auth=name name=u pass=a::b", []Proxy{{Host: "127.0.0.1", Auth: AuthName, Username: "u", Password: "a:b"}}},
		{"  ", nil},
	} {
		got, err := ParseProxies(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseProxies(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"proxy.example", "127.0.0.1 port=0", "127.0.0.1 port=x", "127.0.0.1 tmo=0",
		"127.0.0.1 auth=gssapi", "127.0.0.1 bogus=1", "127.0.0.1 lonely", "127.0.0.1 auth=name pass=secret",
		"127.0.0.1 weight=-1", "fe80::1%eth0", "127.0.0.1 auth=name name=u pass=" + strings.Repeat("x", 256)} {
		_, err := ParseProxies(bad)
		if err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("password in error %q", err)
		}
	}
}

func TestProxyString(t *testing.T) {
	p := Proxy{Host: "192.0.2.1", Auth: AuthName, Username: "u", Password: "secret", Port: 1081, Timeout: 2 * time.Second, Priority: 1, Weight: 2}
	if s := p.String(); s != "192.0.2.1 auth=name name=u pass=*** port=1081 tmo=2 pri=1 weight=2" {
		t.Fatal(s)
	}
	if a := (Proxy{Host: "::1"}).Addr(); a != "[::1]:1080" {
		t.Fatal(a)
	}
}

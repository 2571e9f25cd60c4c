package spf

import (
	"context"
	"errors"
	"net"
	"testing"
)

// garbageResolver answers as a broken or hostile Resolver might: nil
// entries, addresses of no family, errors that are not *net.DNSError, and
// records together with an error.
type garbageResolver struct {
	txt map[string][]string
	mx  map[string][]*net.MX
	ip  map[string][]net.IPAddr
	err map[string]error
}

func (g garbageResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return g.txt[name], g.err[name]
}

func (g garbageResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return g.mx[name], g.err[name]
}

func (g garbageResolver) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	return g.ip[name], g.err[name]
}

func (g garbageResolver) LookupAddr(_ context.Context, name string) ([]string, error) {
	return nil, g.err[name]
}

// TestGarbageResolver: whatever a Resolver returns, a check neither
// panics nor passes on data it could not use. A nil MX entry, an
// address of no family, an error that is not a *net.DNSError (temperror,
// never "not found") all keep the client unauthorized.
func TestGarbageResolver(t *testing.T) {
	g := garbageResolver{
		txt: map[string][]string{
			"nilmx.test.":    {"v=spf1 mx ip4:192.0.2.1 -all"},
			"badip.test.":    {"v=spf1 a -all"},
			"plainerr.test.": {"v=spf1 a:err.test -all"},
			"both.test.":     {"v=spf1 +all"},
			"nilmx2.test.":   {"v=spf1 mx -all"},
		},
		mx: map[string][]*net.MX{
			"nilmx.test.":  {nil, {Host: "mx.test.", Pref: 1}},
			"nilmx2.test.": {nil},
		},
		ip: map[string][]net.IPAddr{
			"badip.test.": {{IP: nil}, {IP: net.IP{1, 2, 3}}, {IP: make(net.IP, 17)}},
			"mx.test.":    {{IP: net.ParseIP("192.0.2.1")}},
		},
		err: map[string]error{
			"err.test.":  errors.New("resolver exploded"),
			"both.test.": errors.New("partial answer"),
		},
	}
	c := New(&Options{Resolver: g})
	for _, tt := range []struct {
		sender string
		want   Result
	}{
		{"a@nilmx.test", Pass},
		{"a@nilmx2.test", Fail},
		{"a@badip.test", Fail},
		{"a@plainerr.test", TempError},
		{"a@both.test", TempError},
	} {
		o := c.CheckMailFrom(context.Background(), addr("192.0.2.1"), "client.test", tt.sender)
		if o.Result != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.sender, o.Result, o.Err, tt.want)
		}
	}
}

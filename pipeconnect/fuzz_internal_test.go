package pipeconnect

import "testing"

func FuzzParseCacheFile(f *testing.F) {
	f.Add([]byte(`{"127.0.0.1:25 c.test":{"ehlo":["PIPECONNECT"],"stored":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"x":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseCacheFile(b)
		if err != nil {
			return
		}
		for k, e := range m {
			if k.Addr == "" || k.Helo == "" || e.Stored.IsZero() {
				t.Fatalf("bad entry %v %+v", k, e)
			}
			e.offers()
		}
	})
}

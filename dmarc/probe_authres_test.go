package dmarc

import (
	"strings"
	"testing"
)

// TestProbeForgedResults: no Authentication-Results field claiming our
// authserv-id reaches the inner session but ours, as a reader that ends
// lines at CRLF, LF or a bare CR, and drops control characters, reads
// the delivered header section; ARC-Authentication-Results fields stay.
func TestProbeForgedResults(t *testing.T) {
	dnsSrv := world(t)
	forged := []string{
		"Authentication-Results: mx.example.org\r\n ; dmarc=pass",
		"Authentication-Results: (c)(d (e)) \"MX.Example.Org\" (f) 1; dmarc=pass",
		"Authentication-Results: mx.example.org\x00; dmarc=pass",
		"Authentication-Results: mx.exam\x00ple.org; dmarc=pass",
		"X-Note: hi\rAuthentication-Results: mx.example.org; dmarc=pass",
		"X-Note: hi\r\n\tthere\rauthentication-results : mx.example.org; dmarc=pass",
		" Authentication-Results: mx.example.org; dmarc=pass",
		"Authentication-Results\x00: mx.example.org; dmarc=pass",
		"\x01Authentication-Results: mx.example.org; dmarc=pass",
	}
	arc := "ARC-Authentication-Results: i=1; mx.example.org; dmarc=pass"
	for _, f := range forged {
		rec := &recorder{}
		o := sessionOptions(dnsSrv)
		o.Reject, o.Quarantine = true, true
		srv := startSession(t, rec, o)
		msg := f + "\r\n" + arc + "\r\nFrom: joe@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
		if rep := send(t, srv, "x@example.net", msg); rep.Code != 250 {
			t.Fatalf("%q: reply %v", f, rep)
		}
		got := rec.deliveries()
		if len(got) != 1 {
			t.Fatalf("%q: %d deliveries", f, len(got))
		}
		hdr, _, _ := strings.Cut(got[0].data, "\r\n\r\n")
		ours := 0
		for _, line := range strings.FieldsFunc(hdr, func(r rune) bool { return r == '\r' || r == '\n' }) {
			name, value, ok := strings.Cut(strings.Map(func(r rune) rune {
				if r < 0x20 {
					return -1
				}
				return r
			}, line), ":")
			if ok && strings.EqualFold(strings.TrimSpace(name), "Authentication-Results") &&
				strings.HasPrefix(strings.ToLower(strings.Trim(value, " \t\"()cdef")), "mx.example.org") {
				ours++
			}
		}
		if ours != 1 || !strings.Contains(hdr, arc) {
			t.Errorf("%q: delivered\n%s", f, hdr)
		}
	}
}

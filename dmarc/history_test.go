package dmarc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// TestHistoryFormat writes one record and compares it with what OpenDMARC
// and Exim write: opendmarc-import(8)'s keys, libopendmarc's codes.
func TestHistoryFormat(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	r := eval(t, e, "bounce@news.example.com", spfResult(authres.ResultSoftFail, "bounce@news.example.com"),
		sign(t, message("From: joe@example.com"), "example.com"))
	path := filepath.Join(t.TempDir(), "history")
	h, err := OpenHistory(path, "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Write("1qAbCd-000123-XY", r, PolicyNone); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `job 1qAbCd-000123-XY
reporter mx.example.org
received 1700000000
ipaddr 192.0.2.1
from example.com
mfrom news.example.com
spf 2
dkim example.com sel 0
pdomain example.com
policy 15
rua mailto:dmarc-feedback@example.com
pct 100
adkim 114
aspf 114
p 114
sp 113
align_dkim 4
align_spf 5
arc 11
arc_policy 1 json:[]
action 2
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestHistorySkips: no record without an evaluated policy; norecord
// results are recorded (OpenDMARC does), with policy 14 and "rua -".
func TestHistorySkips(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	for _, r := range []*Result{
		{Status: StatusOff},
		eval(t, e, "", nil, message("To: x@example.com")),
		{Status: StatusTempError, FromDomain: "broken.example"},
	} {
		if rec := historyOf(t, r); rec != "" {
			t.Errorf("%s recorded:\n%s", r.Status, rec)
		}
	}
	rec := historyOf(t, eval(t, e, "", nil, message("From: joe@example.net")))
	for _, line := range []string{"from example.net\n", "policy 14\n", "rua -\n", "p 0\n", "spf 6\n", "mfrom mail.example.com\n"} {
		if !strings.Contains(rec, line) {
			t.Errorf("norecord record lacks %q:\n%s", line, rec)
		}
	}
}

// historyOf is the history record of r, "" if none.
func historyOf(t *testing.T, r *Result) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history")
	h, err := OpenHistory(path, "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Write("job1", r, PolicyNone); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHistoryConcurrent appends from many goroutines through two History
// values on one file, as two processes would, and reads every record back
// whole.
func TestHistoryConcurrent(t *testing.T) {
	srv := world(t)
	e := evaluator(srv, nil)
	r := eval(t, e, "", nil, sign(t, message("From: joe@example.com"), "example.com"))
	path := filepath.Join(t.TempDir(), "history")
	var hs [2]*History
	for i := range hs {
		h, err := OpenHistory(path, fmt.Sprintf("mx%d.example.org", i))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		hs[i] = h
	}
	const goroutines, each = 40, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := hs[g%2].Write(fmt.Sprintf("job-%d-%d", g, i), r, PolicyNone); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	err = readHistory(f, func(h *histRecord) error {
		if seen[h.job] {
			return fmt.Errorf("job %s twice", h.job)
		}
		seen[h.job] = true
		if h.from != "example.com" || h.pdomain != "example.com" || len(h.dkim) != 1 || !h.alignDKIM ||
			h.action != dmarcResultAccept || h.policy != dmarcPolicyPass || !strings.HasSuffix(h.reporter, ".example.org") {
			return fmt.Errorf("record %s garbled: %+v", h.job, h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d records, want %d", len(seen), goroutines*each)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\njob ") + 1; n != goroutines*each {
		t.Fatalf("%d job lines", n)
	}
}

// TestReadHistoryOpenDMARC reads a record as OpenDMARC writes it, with
// lines this package does not write and bad values.
func TestReadHistoryOpenDMARC(t *testing.T) {
	in := `job 4BCD123
reporter mx.example.net
received 1700000100
ipaddr 2001:db8::25
from Example.COM
mfrom example.com
spf 0
dkim example.com s1 0
dkim other.example s2 7
dkim - - 0
pdomain example.com
policy 16
rua mailto:a@example.com
rua mailto:b@example.com
pct 50
adkim 115
aspf 114
p 114
sp 0
align_dkim 4
align_spf 5
arc 0
arc_policy 0 json:[{"i":1,"d":"list.example","s":"arc"}]
action 0
unknown key
received garbage
job second-without-from
received 1700000200
`
	var got []*histRecord
	if err := readHistory(strings.NewReader(in), func(h *histRecord) error { got = append(got, h); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
	h := got[0]
	if h.from != "example.com" || h.ip.String() != "2001:db8::25" || h.spf != authres.ResultPass || len(h.dkim) != 2 ||
		h.dkim[1].result != authres.ResultFail || len(h.rua) != 2 || h.pct != 50 || h.adkim != 's' || h.p != 'r' ||
		!h.alignDKIM || h.alignSPF || h.action != dmarcResultReject || h.received.Unix() != 1700000100 {
		t.Errorf("got %+v", h)
	}
}

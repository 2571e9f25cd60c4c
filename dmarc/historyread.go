package dmarc

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
)

// histRecord is one record of a history file, as opendmarc-import reads
// it.
type histRecord struct {
	job, reporter       string
	received            time.Time
	ip                  netip.Addr
	from, mfrom         string
	pdomain             string
	spf                 authres.ResultValue
	dkim                []histDKIM
	policy              int
	rua                 []string
	pct, adkim, aspf    int
	p, sp               int
	alignDKIM, alignSPF bool
	action              int
}

type histDKIM struct {
	domain, selector string
	result           authres.ResultValue
}

// maxHistoryLine bounds one line of a history file.
const maxHistoryLine = 64 << 10

// readHistory reads a history file and calls fn for each record, in file
// order, as opendmarc-import(8) parses it: "key value [data]" lines, a
// record starting at each "job" line, unknown keys and lines with bad
// numbers ignored. Records without a from domain or a valid time are
// skipped.
func readHistory(r io.Reader, fn func(*histRecord) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxHistoryLine)
	var cur *histRecord
	flush := func() error {
		if cur == nil || cur.from == "" || cur.received.IsZero() {
			return nil
		}
		return fn(cur)
	}
	for sc.Scan() {
		key, rest, _ := strings.Cut(sc.Text(), " ")
		if key == "" {
			continue
		}
		value, data, _ := strings.Cut(rest, " ")
		if key == "job" {
			if err := flush(); err != nil {
				return err
			}
			cur = &histRecord{job: value, spf: authres.ResultNone, action: dmarcResultAccept}
			continue
		}
		if cur == nil {
			continue
		}
		n, nerr := strconv.Atoi(value)
		switch key {
		case "reporter":
			cur.reporter = value
		case "received":
			if t, err := strconv.ParseInt(value, 10, 64); err == nil && t > 0 {
				cur.received = time.Unix(t, 0)
			}
		case "ipaddr":
			if a, err := netip.ParseAddr(value); err == nil {
				cur.ip = a.Unmap()
			}
		case "from":
			cur.from = strings.ToLower(value)
		case "mfrom":
			cur.mfrom = strings.ToLower(dash(value))
		case "pdomain":
			cur.pdomain = strings.ToLower(dash(value))
		case "spf":
			if nerr == nil {
				cur.spf = aresValue(n)
			}
		case "dkim":
			sel, res, _ := strings.Cut(data, " ")
			code, err := strconv.Atoi(res)
			if err == nil && value != "-" && value != "" {
				cur.dkim = append(cur.dkim, histDKIM{domain: strings.ToLower(value), selector: dash(sel), result: aresValue(code)})
			}
		case "rua":
			if value != "-" && value != "" {
				cur.rua = append(cur.rua, value)
			}
		default:
			if nerr != nil {
				continue
			}
			switch key {
			case "policy":
				cur.policy = n
			case "pct":
				cur.pct = n
			case "adkim":
				cur.adkim = n
			case "aspf":
				cur.aspf = n
			case "p":
				cur.p = n
			case "sp":
				cur.sp = n
			case "align_dkim":
				cur.alignDKIM = n == alignPass
			case "align_spf":
				cur.alignSPF = n == alignPass
			case "action":
				cur.action = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dmarc: history: %w", err)
	}
	return flush()
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

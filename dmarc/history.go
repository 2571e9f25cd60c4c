package dmarc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/emersion/go-msgauth/authres"
)

// OpenDMARC's numeric codes, as its history file carries them and
// opendmarc-import(8) and opendmarc-reports(8) read them (libopendmarc's
// dmarc.h and opendmarc-ar.h).
const (
	// Authentication-Results result codes, for spf and dkim lines.
	aresPass      = 0
	aresSoftFail  = 2
	aresNeutral   = 3
	aresTempError = 4
	aresPermError = 5
	aresNone      = 6
	aresFail      = 7
	aresPolicy    = 8
	aresUnknown   = 11

	// The policy lines: what the evaluation said.
	dmarcPolicyAbsent     = 14
	dmarcPolicyPass       = 15
	dmarcPolicyReject     = 16
	dmarcPolicyQuarantine = 17
	dmarcPolicyNone       = 18

	// The action line: what the receiver did.
	dmarcResultReject     = 0
	dmarcResultAccept     = 2
	dmarcResultQuarantine = 4

	// align_spf and align_dkim.
	alignPass = 4
	alignFail = 5

	// arc_policy when no ARC evaluation ran.
	arcPolicyUnused = 1
)

// History appends one record per evaluated message to a history file in
// the format of OpenDMARC's HistoryFile, Exim's dmarc_history_file, which
// opendmarc-import(8) loads into the database opendmarc-reports(8) sends
// aggregate reports from, and which AggregateReports reads. It is safe
// for concurrent use, and across processes: each record is written in one
// append under an exclusive flock(2), the lock opendmarc-import takes
// shared.
type History struct {
	f        *os.File
	reporter string
	mu       sync.Mutex
}

// OpenHistory opens, creating it if need be, the history file at path for
// appending. reporter names this receiver in every record (the reporter
// key, Exim's primary_hostname).
func OpenHistory(path, reporter string) (*History, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("dmarc: history: %w", err)
	}
	return &History{f: f, reporter: reporter}, nil
}

// Close closes the file.
func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.f.Close()
}

// Write appends the record of one message: r as Evaluate returned it,
// action what the receiver did with the message (none for delivered,
// quarantine, reject), and jobID the receiver's identifier for the
// message ("" makes one up). Results with StatusOff, StatusNoFrom or
// StatusTempError are not recorded, as no policy was evaluated.
func (h *History) Write(jobID string, r *Result, action Policy) error {
	if r == nil || r.FromDomain == "" || r.Status == StatusOff || r.Status == StatusNoFrom || r.Status == StatusTempError {
		return nil
	}
	if jobID == "" {
		jobID = newJobID()
	}
	rec := formatHistory(h.reporter, jobID, r, action)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := lockFile(h.f); err != nil {
		return fmt.Errorf("dmarc: history: lock: %w", err)
	}
	_, err := h.f.Write(rec)
	if uerr := unlockFile(h.f); err == nil && uerr != nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("dmarc: history: %w", err)
	}
	return nil
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// formatHistory renders one record, key and value per line, in the order
// OpenDMARC and Exim write them. opendmarc-import splits lines at spaces,
// so values are made free of them.
func formatHistory(reporter, jobID string, r *Result, action Policy) []byte {
	var b bytes.Buffer
	line := func(key string, vals ...string) {
		b.WriteString(key)
		for _, v := range vals {
			b.WriteByte(' ')
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	num := func(key string, n int) { line(key, strconv.Itoa(n)) }

	line("job", histValue(jobID))
	line("reporter", histValue(reporter))
	line("received", strconv.FormatInt(r.Received.Unix(), 10))
	ip := "-"
	if r.IP.IsValid() {
		ip = r.IP.Unmap().String()
	}
	line("ipaddr", ip)
	line("from", histValue(r.FromDomain))
	line("mfrom", histValue(r.SPF.Domain))
	num("spf", aresCode(r.SPF.Result))
	for _, k := range r.DKIM {
		if k.Domain == "" {
			continue
		}
		line("dkim", histValue(k.Domain), histValue(k.Selector), strconv.Itoa(aresCode(k.Result)))
	}
	line("pdomain", histValue(r.UsedDomain))
	policy := dmarcPolicyAbsent
	switch {
	case r.Record == nil:
	case r.Status == StatusAccept:
		policy = dmarcPolicyPass
	case r.Disposition == PolicyReject:
		policy = dmarcPolicyReject
	case r.Disposition == PolicyQuarantine:
		policy = dmarcPolicyQuarantine
	default:
		policy = dmarcPolicyNone
	}
	num("policy", policy)
	rec := r.Record
	if rec == nil {
		rec = &Record{}
	}
	if len(rec.AggregateURIs) == 0 {
		line("rua", "-")
	}
	for _, u := range rec.AggregateURIs {
		line("rua", histValue(u))
	}
	num("pct", rec.Percent)
	num("adkim", alignCode(rec.DKIMAlignment))
	num("aspf", alignCode(rec.SPFAlignment))
	num("p", policyCode(rec.Policy))
	num("sp", policyCode(rec.SubdomainPolicy))
	num("align_dkim", passCode(r.DKIMAligned))
	num("align_spf", passCode(r.SPFAligned))
	line("arc", strconv.Itoa(aresUnknown))
	// opendmarc-import needs the JSON list of ARC seals, even empty.
	line("arc_policy", strconv.Itoa(arcPolicyUnused), "json:[]")
	switch action {
	case PolicyReject:
		num("action", dmarcResultReject)
	case PolicyQuarantine:
		num("action", dmarcResultQuarantine)
	default:
		num("action", dmarcResultAccept)
	}
	return b.Bytes()
}

// histValue keeps a value on one line and one word.
func histValue(s string) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

func aresCode(v authres.ResultValue) int {
	switch v {
	case authres.ResultPass:
		return aresPass
	case authres.ResultSoftFail:
		return aresSoftFail
	case authres.ResultNeutral:
		return aresNeutral
	case authres.ResultTempError:
		return aresTempError
	case authres.ResultPermError:
		return aresPermError
	case authres.ResultFail:
		return aresFail
	case authres.ResultPolicy:
		return aresPolicy
	}
	return aresNone
}

func aresValue(code int) authres.ResultValue {
	switch code {
	case aresPass:
		return authres.ResultPass
	case aresSoftFail:
		return authres.ResultSoftFail
	case aresNeutral:
		return authres.ResultNeutral
	case aresTempError:
		return authres.ResultTempError
	case aresPermError:
		return authres.ResultPermError
	case aresFail:
		return authres.ResultFail
	case aresPolicy:
		return authres.ResultPolicy
	}
	return authres.ResultNone
}

// alignCode and policyCode are the character codes libopendmarc uses for
// adkim/aspf and p/sp, 0 for unspecified.
func alignCode(a Alignment) int {
	if a == "" {
		return 0
	}
	return int(a[0])
}

func policyCode(p Policy) int {
	if p == "" {
		return 0
	}
	return int(p[0])
}

func passCode(ok bool) int {
	if ok {
		return alignPass
	}
	return alignFail
}

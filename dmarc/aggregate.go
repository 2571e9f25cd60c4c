package dmarc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
)

// An AggregateReport is the aggregate report (RFC 7489 section 7.2) for
// one policy domain and period.
type AggregateReport struct {
	// Domain is the policy domain, where the record was found.
	Domain string

	// Begin and End bound the period: records received at or after
	// Begin and before End.
	Begin, End time.Time

	// ReportID is the report's unique identifier.
	ReportID string

	// URIs are the rua= URIs of the domain's latest record.
	URIs []string

	// Messages is the number of messages reported.
	Messages int

	// XML is the report, in the format of RFC 7489 Appendix C.
	XML []byte

	submitter string
}

// Filename is the name of the gzipped report (RFC 7489 section 7.2.1.1):
// receiver!policy-domain!begin!end.xml.gz.
func (a *AggregateReport) Filename() string {
	return fmt.Sprintf("%s!%s!%d!%d.xml.gz", a.submitter, a.Domain, a.Begin.Unix(), a.End.Unix())
}

// Subject is the subject of the report email (RFC 7489 section
// 7.2.1.1).
func (a *AggregateReport) Subject() string {
	return fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", a.Domain, a.submitter, a.ReportID)
}

// Gzip returns the report compressed, as it is attached.
func (a *AggregateReport) Gzip() []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Name = strings.TrimSuffix(a.Filename(), ".gz")
	zw.ModTime = a.End
	_, _ = zw.Write(a.XML)
	_ = zw.Close()
	return b.Bytes()
}

// AggregateReports reads a history file (as History writes it, or
// OpenDMARC) and builds one report per policy domain that asked for
// aggregate reports (rua=), over the records received in [begin, end).
// Identical rows are counted together. Domains without rua= in their
// latest record get no report.
func (rp *Reporter) AggregateReports(history io.Reader, begin, end time.Time) ([]*AggregateReport, error) {
	type domainData struct {
		latest *histRecord
		rows   map[string]*aggRecord
		order  []string
		count  int
	}
	domains := map[string]*domainData{}
	err := readHistory(history, func(h *histRecord) error {
		if h.received.Before(begin) || !h.received.Before(end) || h.pdomain == "" || h.policy == dmarcPolicyAbsent || h.policy == 0 {
			return nil
		}
		d := domains[h.pdomain]
		if d == nil {
			d = &domainData{rows: map[string]*aggRecord{}}
			domains[h.pdomain] = d
		}
		if d.latest == nil || !h.received.Before(d.latest.received) {
			d.latest = h
		}
		row := aggregateRow(h)
		key := row.key()
		if r, ok := d.rows[key]; ok {
			r.Row.Count++
		} else {
			d.rows[key] = row
			d.order = append(d.order, key)
		}
		d.count++
		return nil
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(domains))
	for n := range domains {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*AggregateReport
	for _, n := range names {
		d := domains[n]
		if len(d.latest.rua) == 0 {
			continue
		}
		a := &AggregateReport{
			Domain:    n,
			Begin:     begin,
			End:       end,
			ReportID:  fmt.Sprintf("%s.%d.%d@%s", n, begin.Unix(), end.Unix(), rp.o.Submitter),
			URIs:      d.latest.rua,
			Messages:  d.count,
			submitter: rp.o.Submitter,
		}
		fb := feedback{
			Version: "1.0",
			Metadata: reportMetadata{
				OrgName:          rp.o.OrgName,
				Email:            rp.o.Email,
				ExtraContactInfo: rp.o.ExtraContactInfo,
				ReportID:         a.ReportID,
				DateRange:        dateRange{Begin: begin.Unix(), End: end.Unix()},
			},
			Policy: publishedPolicy(n, d.latest),
		}
		for _, k := range d.order {
			fb.Records = append(fb.Records, d.rows[k])
		}
		x, err := xml.MarshalIndent(fb, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dmarc: aggregate report for %s: %w", n, err)
		}
		a.XML = append([]byte(xml.Header), append(x, '\n')...)
		out = append(out, a)
	}
	return out, nil
}

// SendAggregate mails a report to its rua= destinations (RFC 7489 section
// 7.2.1.1): a multipart message with a short text and the gzipped XML as
// an application/gzip attachment. Destinations outside the policy domain
// must authorize it (section 7.1); the errors of skipped or failed
// destinations are joined.
func (rp *Reporter) SendAggregate(ctx context.Context, a *AggregateReport) error {
	dests, derr := rp.destinations(ctx, a.Domain, a.URIs)
	if len(dests) == 0 {
		return derr
	}
	var att strings.Builder
	for gz := base64.StdEncoding.EncodeToString(a.Gzip()); len(gz) > 0; {
		n := min(76, len(gz))
		att.WriteString(gz[:n] + "\r\n")
		gz = gz[n:]
	}
	now := rp.o.Now()
	err := rp.send(ctx, rp.o.Email, dests, func(to string) []byte {
		var b strings.Builder
		boundary := "dmarc-" + strconv.FormatInt(now.UnixNano(), 36)
		hdr(&b, "From", rp.o.Email)
		hdr(&b, "To", to)
		hdr(&b, "Subject", a.Subject())
		hdr(&b, "Date", now.Format(time.RFC1123Z))
		hdr(&b, "Message-ID", "<"+a.ReportID+">")
		hdr(&b, "Auto-Submitted", "auto-generated")
		hdr(&b, "MIME-Version", "1.0")
		hdr(&b, "Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
		b.WriteString("\r\n")
		b.WriteString("--" + boundary + "\r\n")
		hdr(&b, "Content-Type", "text/plain; charset=us-ascii")
		b.WriteString("\r\n")
		fmt.Fprintf(&b, "This is a DMARC aggregate report for %s\r\nfrom %s, covering %s to %s.\r\n\r\n",
			a.Domain, rp.o.Submitter, a.Begin.UTC().Format(time.RFC3339), a.End.UTC().Format(time.RFC3339))
		b.WriteString("--" + boundary + "\r\n")
		hdr(&b, "Content-Type", `application/gzip; name="`+a.Filename()+`"`)
		hdr(&b, "Content-Disposition", `attachment; filename="`+a.Filename()+`"`)
		hdr(&b, "Content-Transfer-Encoding", "base64")
		b.WriteString("\r\n")
		b.WriteString(att.String())
		b.WriteString("--" + boundary + "--\r\n")
		return []byte(b.String())
	})
	if derr != nil {
		if err != nil {
			return fmt.Errorf("%w; %w", err, derr)
		}
		return derr
	}
	return err
}

func hdr(b *strings.Builder, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(value)
	b.WriteString("\r\n")
}

// The XML of RFC 7489 Appendix C, in the order its schema requires.
type feedback struct {
	XMLName  xml.Name        `xml:"feedback"`
	Version  string          `xml:"version"`
	Metadata reportMetadata  `xml:"report_metadata"`
	Policy   policyPublished `xml:"policy_published"`
	Records  []*aggRecord    `xml:"record"`
}

type reportMetadata struct {
	OrgName          string    `xml:"org_name"`
	Email            string    `xml:"email"`
	ExtraContactInfo string    `xml:"extra_contact_info,omitempty"`
	ReportID         string    `xml:"report_id"`
	DateRange        dateRange `xml:"date_range"`
}

type dateRange struct {
	Begin int64 `xml:"begin"`
	End   int64 `xml:"end"`
}

type policyPublished struct {
	Domain string `xml:"domain"`
	ADKIM  string `xml:"adkim,omitempty"`
	ASPF   string `xml:"aspf,omitempty"`
	P      string `xml:"p"`
	SP     string `xml:"sp,omitempty"`
	Pct    int    `xml:"pct"`
}

type aggRecord struct {
	Row         aggRow         `xml:"row"`
	Identifiers aggIdentifiers `xml:"identifiers"`
	AuthResults aggAuthResults `xml:"auth_results"`
}

type aggRow struct {
	SourceIP        string          `xml:"source_ip"`
	Count           int             `xml:"count"`
	PolicyEvaluated policyEvaluated `xml:"policy_evaluated"`
}

type policyEvaluated struct {
	Disposition string           `xml:"disposition"`
	DKIM        string           `xml:"dkim"`
	SPF         string           `xml:"spf"`
	Reasons     []overrideReason `xml:"reason"`
}

type overrideReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

type aggIdentifiers struct {
	EnvelopeFrom string `xml:"envelope_from"`
	HeaderFrom   string `xml:"header_from"`
}

type aggAuthResults struct {
	DKIM []aggDKIM `xml:"dkim"`
	SPF  []aggSPF  `xml:"spf"`
}

type aggDKIM struct {
	Domain   string `xml:"domain"`
	Selector string `xml:"selector,omitempty"`
	Result   string `xml:"result"`
}

type aggSPF struct {
	Domain string `xml:"domain"`
	Scope  string `xml:"scope"`
	Result string `xml:"result"`
}

// key identifies rows that are counted together.
func (r *aggRecord) key() string {
	c := *r
	c.Row.Count = 0
	b, _ := xml.Marshal(c)
	return string(b)
}

// aggregateRow turns a history record into a report record of count 1.
func aggregateRow(h *histRecord) *aggRecord {
	r := &aggRecord{}
	r.Row.SourceIP = xmlIP(h.ip)
	r.Row.Count = 1
	pe := &r.Row.PolicyEvaluated
	pe.Disposition = actionName(h.action)
	pe.DKIM, pe.SPF = passFail(h.alignDKIM), passFail(h.alignSPF)
	// policy_evaluated/reason (RFC 7489 Appendix C): why the disposition
	// is below the domain's policy.
	applied := histPolicyName(h.policy)
	published := policyName(h.p)
	if h.from != h.pdomain && h.sp != 0 {
		published = policyName(h.sp)
	}
	switch {
	case h.policy == dmarcPolicyPass:
	case Policy(pe.Disposition).rank() < Policy(applied).rank():
		pe.Reasons = append(pe.Reasons, overrideReason{Type: "local_policy", Comment: "policy " + applied + " not enforced"})
	case h.pct > 0 && h.pct < 100 && Policy(applied).rank() < Policy(published).rank():
		pe.Reasons = append(pe.Reasons, overrideReason{Type: "sampled_out", Comment: "pct=" + strconv.Itoa(h.pct)})
	}
	r.Identifiers.HeaderFrom = h.from
	r.Identifiers.EnvelopeFrom = h.mfrom
	for _, k := range h.dkim {
		r.AuthResults.DKIM = append(r.AuthResults.DKIM, aggDKIM{Domain: k.domain, Selector: k.selector, Result: dkimXMLResult(k.result)})
	}
	spfDomain := h.mfrom
	if spfDomain == "" {
		spfDomain = h.from
	}
	r.AuthResults.SPF = []aggSPF{{Domain: spfDomain, Scope: "mfrom", Result: spfXMLResult(h.spf)}}
	return r
}

// xmlIP writes IPv6 addresses in full eight-group form, the only form
// the IPAddress pattern of the Appendix C schema accepts.
func xmlIP(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	g := make([]string, 8)
	for i := range g {
		g[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(g, ":")
}

func publishedPolicy(domain string, h *histRecord) policyPublished {
	p := policyPublished{Domain: domain, P: policyName(h.p), Pct: h.pct}
	if p.P == "" {
		p.P = "none"
	}
	if h.sp != 0 {
		p.SP = policyName(h.sp)
	}
	if h.adkim == 'r' || h.adkim == 's' {
		p.ADKIM = string(rune(h.adkim))
	}
	if h.aspf == 'r' || h.aspf == 's' {
		p.ASPF = string(rune(h.aspf))
	}
	return p
}

func policyName(code int) string {
	switch code {
	case 'n':
		return "none"
	case 'q':
		return "quarantine"
	case 'r':
		return "reject"
	}
	return ""
}

func histPolicyName(code int) string {
	switch code {
	case dmarcPolicyReject:
		return "reject"
	case dmarcPolicyQuarantine:
		return "quarantine"
	}
	return "none"
}

func actionName(code int) string {
	switch code {
	case dmarcResultReject, 1: // 1 is OpenDMARC's discard
		return "reject"
	case dmarcResultQuarantine:
		return "quarantine"
	}
	return "none"
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

// dkimXMLResult and spfXMLResult map results onto the schema's
// enumerations.
func dkimXMLResult(v authres.ResultValue) string {
	switch v {
	case authres.ResultPass, authres.ResultFail, authres.ResultPolicy, authres.ResultNeutral,
		authres.ResultTempError, authres.ResultPermError:
		return string(v)
	}
	return "none"
}

func spfXMLResult(v authres.ResultValue) string {
	switch v {
	case authres.ResultPass, authres.ResultFail, authres.ResultSoftFail, authres.ResultNeutral,
		authres.ResultTempError, authres.ResultPermError:
		return string(v)
	}
	return "none"
}

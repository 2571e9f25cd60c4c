package spf

import "fmt"

// tracer learns from blitiri's trace calls which term decided a check, for
// the mechanism key of Received-SPF (RFC 7208 section 9.1) and for the
// redirect= chain behind an exp= (section 6.2). blitiri calls it for every
// term that ends a record's evaluation, innermost record first, so the
// last such call is the top-level record's; it matches on the format
// strings, not on rendered text. Should a later blitiri trace differently,
// the mechanism is simply not known, and this package's tests say so.
type tracer struct {
	events []traceEvent
}

type traceKind int

const (
	traceTerm     traceKind = iota // a mechanism that ended the evaluation
	traceAll                       // the "all" mechanism
	traceRedirect                  // the redirect= modifier
	traceDefault                   // no term matched (section 4.7)
)

type traceEvent struct {
	kind   traceKind
	term   string // without its qualifier
	result Result
}

// Format strings of blitiri.com.ar/go/spf v1.6.0.
const (
	fmtTerm     = "%q %v, %v"
	fmtAll      = "all: %v"
	fmtRedirect = "%q: %v, %v"
	fmtDefault  = "fallback to neutral"
)

func (t *tracer) trace(f string, a ...any) {
	switch f {
	case fmtTerm, fmtRedirect:
		if len(a) < 2 {
			return
		}
		term, _ := a[0].(string)
		kind := traceTerm
		if f == fmtRedirect {
			kind = traceRedirect
		}
		t.events = append(t.events, traceEvent{kind: kind, term: term, result: Result(fmt.Sprint(a[1]))})
	case fmtAll:
		if len(a) < 1 {
			return
		}
		t.events = append(t.events, traceEvent{kind: traceAll, term: "all", result: Result(fmt.Sprint(a[0]))})
	case fmtDefault:
		t.events = append(t.events, traceEvent{kind: traceDefault, result: Neutral})
	}
}

// redirects returns how many redirect= modifiers led from the checked
// domain's record to the record that decided.
func (t *tracer) redirects() int {
	n := 0
	for i := len(t.events) - 1; i >= 0 && t.events[i].kind == traceRedirect; i-- {
		n++
	}
	return n
}

// mechanism returns the term that decided result, with its qualifier
// ("-all", "ip4:192.0.2.0/24", "include:_spf.example.com"), "default"
// when no term matched (RFC 7208 section 9.1), or "" when not known.
func (t *tracer) mechanism(result Result) string {
	i := len(t.events) - 1 - t.redirects()
	if i < 0 {
		return ""
	}
	ev := t.events[i]
	if ev.result != result {
		return ""
	}
	if ev.kind == traceDefault {
		return "default"
	}
	// Section 4.6.2: "+" is the default qualifier, so it is left out.
	switch result {
	case Pass:
		return ev.term
	case Fail:
		return "-" + ev.term
	case SoftFail:
		return "~" + ev.term
	case Neutral:
		return "?" + ev.term
	}
	return ""
}

package dmarc

// Status is the outcome of one evaluation in Exim's words, its
// $dmarc_status.
type Status string

// The statuses, as Exim names them.
const (
	// StatusAccept: the message passed DMARC, with an aligned SPF or
	// DKIM pass (RFC 7489 section 4.2).
	StatusAccept Status = "accept"

	// StatusReject: the message failed DMARC and the policy that applies
	// to it, after pct= sampling or t=y, is reject.
	StatusReject Status = "reject"

	// StatusQuarantine: the message failed DMARC and the policy that
	// applies is quarantine.
	StatusQuarantine Status = "quarantine"

	// StatusNone: the message failed DMARC and the policy that applies is
	// none (monitoring only), or a stricter policy was sampled out.
	StatusNone Status = "none"

	// StatusNoRecord: the From domain has no usable DMARC record (RFC
	// 7489 section 6.6.3: none, several, or one without a valid p= and
	// without a valid rua=), so DMARC does not apply.
	StatusNoRecord Status = "norecord"

	// StatusNoFrom: the message has no From field, or a From field or
	// address that gives no usable domain (RFC 7489 section 6.6.1);
	// Result.Err says why. The session wrapper refuses such messages
	// unless SessionOptions.DeliverNoFrom is set.
	StatusNoFrom Status = "nofrom"

	// StatusTempError: a DNS error kept the record, or the organisational
	// domain, from being found; or the message failed while a DNS error
	// kept an aligned identifier from passing, so that no disposition can
	// be decided. A later attempt might do better.
	StatusTempError Status = "temperror"

	// StatusOff: the message was not evaluated: an authenticated session,
	// or a client with no IP address.
	StatusOff Status = "off"
)

// rank orders statuses from the most lenient outcome to the strictest,
// for Result.Stricter.
func (s Status) rank() int {
	switch s {
	case StatusReject:
		return 7
	case StatusNoFrom:
		return 6
	case StatusTempError:
		return 5
	case StatusQuarantine:
		return 4
	case StatusNone:
		return 3
	case StatusNoRecord:
		return 2
	case StatusAccept:
		return 1
	}
	return 0
}

// Policy is a requested handling of failing mail: the value of the p=, sp=
// and np= tags (RFC 7489 section 6.3) and the disposition of a message.
type Policy string

// The policies.
const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// lower is the next policy down, as RFC 7489 section 6.6.4 applies to
// messages that pct= sampled out and RFC 9989 to t=y.
func (p Policy) lower() Policy {
	switch p {
	case PolicyReject:
		return PolicyQuarantine
	case PolicyQuarantine:
		return PolicyNone
	}
	return p
}

// rank orders policies from lenient to strict.
func (p Policy) rank() int {
	switch p {
	case PolicyNone:
		return 1
	case PolicyQuarantine:
		return 2
	case PolicyReject:
		return 3
	}
	return 0
}

// Alignment is an identifier alignment mode, the value of adkim= and
// aspf= (RFC 7489 section 3.1).
type Alignment string

// The alignment modes.
const (
	Relaxed Alignment = "r"
	Strict  Alignment = "s"
)

package spf

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Result is the outcome of check_host() (RFC 7208 section 2.6), spelled as
// Exim's $spf_result spells it.
type Result string

// The results of RFC 7208 section 2.6 and section 8.
const (
	None      Result = "none"      // section 8.1: no record, or no usable domain
	Neutral   Result = "neutral"   // section 8.2: no assertion either way
	Pass      Result = "pass"      // section 8.3: the client is authorized
	Fail      Result = "fail"      // section 8.4: the client is not authorized
	SoftFail  Result = "softfail"  // section 8.5: probably not authorized
	TempError Result = "temperror" // section 8.6: transient, usually DNS
	PermError Result = "permerror" // section 8.7: the record cannot be used
)

// results lists the result words in Exim's order.
var results = []Result{Neutral, Pass, Fail, SoftFail, None, TempError, PermError}

// ParseResult returns the Result for an Exim result word, case-insensitive.
// It accepts Exim's deprecated aliases err_perm (permerror) and err_temp
// (temperror).
func ParseResult(word string) (Result, error) {
	w := strings.ToLower(word)
	switch w {
	case "err_perm":
		return PermError, nil
	case "err_temp":
		return TempError, nil
	}
	for _, r := range results {
		if string(r) == w {
			return r, nil
		}
	}
	return "", fmt.Errorf("spf: unknown result word %q", word)
}

// String returns the result word.
func (r Result) String() string { return string(r) }

// authres returns the Authentication-Results value of r (RFC 8601 section
// 2.7.2 takes the words of RFC 7208 section 2.6 as they are).
func (r Result) authres() authres.ResultValue {
	switch r {
	case Pass:
		return authres.ResultPass
	case Fail:
		return authres.ResultFail
	case SoftFail:
		return authres.ResultSoftFail
	case Neutral:
		return authres.ResultNeutral
	case TempError:
		return authres.ResultTempError
	case PermError:
		return authres.ResultPermError
	}
	return authres.ResultNone
}

// Identity is the identity an Outcome is about (RFC 7208 section 2.3 and
// section 2.4), as the identity key of Received-SPF spells it (section 9.1).
type Identity string

// The identities of RFC 7208 section 9.1.
const (
	MailFrom Identity = "mailfrom" // the MAIL FROM reverse-path (section 2.4)
	HELO     Identity = "helo"     // the HELO or EHLO name (section 2.3)
)

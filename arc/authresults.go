package arc

import "strings"

// splitAuthServID splits an Authentication-Results value (RFC 8601
// section 2.2: authres-payload = [CFWS] authserv-id [ CFWS authres-version
// ] ( no-result / 1*resinfo ) [CFWS]) into its authserv-id and the text
// after the ";" that ends it. ok is false when the value does not start
// that way.
func splitAuthServID(v string) (id, rest string, ok bool) {
	i := skipCFWS(v, 0)
	start := i
	if i < len(v) && v[i] == '"' {
		// A quoted-string authserv-id (RFC 8601 section 2.2: value).
		for i++; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' {
				i++
			}
		}
		if i >= len(v) {
			return "", "", false
		}
		i++
		id = strings.ReplaceAll(v[start+1:i-1], `\`, "")
	} else {
		for i < len(v) && !isFWS(v[i]) && v[i] != ';' && v[i] != '(' {
			i++
		}
		id = v[start:i]
	}
	if id == "" {
		return "", "", false
	}
	i = skipCFWS(v, i)
	// authres-version = 1*DIGIT
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	i = skipCFWS(v, i)
	if i == len(v) {
		return id, "", true
	}
	if v[i] != ';' {
		return "", "", false
	}
	return id, v[i+1:], true
}

// ourResults gathers the results that this ADMD's Authentication-Results
// fields recorded on this pass, for the ARC-Authentication-Results of a
// new set (RFC 8617 section 4.1.1: its payload is that of an
// Authentication-Results field). Those are the fields of authservID
// above the newest ARC set: one of ours further down was sealed on an
// earlier pass (an MTA should have removed it on entry, RFC 8601
// section 5). Each field's results are kept as written, folding
// included; several fields are merged, in header order, as dkimpy and
// the conformance suite do. found is false when no field qualifies.
func ourResults(fields []field, authservID string) (results []string, found bool) {
	for k := range fields {
		f := &fields[k]
		if isARCName(f.name) {
			break
		}
		if f.name != nameAR {
			continue
		}
		id, rest, ok := splitAuthServID(f.value())
		if !ok || !strings.EqualFold(id, authservID) {
			continue
		}
		found = true
		rest = strings.Trim(rest, " \t\r\n;")
		if rest == "" || strings.EqualFold(rest, "none") {
			continue
		}
		results = append(results, rest)
	}
	return results, found
}

// arcResults returns the values of the arc= results (RFC 8617 section
// 10.1) among results, in lower case.
func arcResults(results []string) []string {
	var values []string
	for _, r := range results {
		for _, res := range strings.Split(r, ";") {
			res = res[skipCFWS(res, 0):]
			method, value, ok := strings.Cut(res, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(method), "arc") {
				continue
			}
			value = strings.TrimLeft(value, " \t\r\n")
			end := strings.IndexAny(value, " \t\r\n(")
			if end >= 0 {
				value = value[:end]
			}
			values = append(values, strings.ToLower(value))
		}
	}
	return values
}

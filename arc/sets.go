package arc

import "fmt"

// An arcSet gathers the ARC header fields that claim one instance (RFC
// 8617 section 4.2). A valid set has exactly one field of each kind.
type arcSet struct {
	aar, ams, as []*field
}

// A chain is the ARC sets of a message as found in its header, before
// any signature is checked.
type chain struct {
	sets   []arcSet // sets[i-1] is instance i; len(sets) is the highest instance
	found  bool     // the header has at least one ARC field
	broken string   // why the structure is invalid (RFC 8617 section 5.2 step 3); "" if it is not
}

// n is the highest instance present.
func (c *chain) n() int { return len(c.sets) }

// parseChain collects the ARC sets from the header fields (RFC 8617
// section 5.2 step 1) and checks their structure (step 3): instances 1
// to N without gaps, N at most MaxInstances (section 4.2.1), each with
// exactly one ARC-Authentication-Results, ARC-Message-Signature and
// ARC-Seal. Fields whose instance cannot be read break the chain. The cv=
// rules of step 3.3 need the seals parsed and are left to the caller.
func parseChain(fields []field) *chain {
	c := &chain{}
	breakf := func(format string, args ...any) {
		if c.broken == "" {
			c.broken = fmt.Sprintf(format, args...)
		}
	}
	for k := range fields {
		f := &fields[k]
		if !isARCName(f.name) {
			continue
		}
		c.found = true
		n, err := fieldInstance(f)
		if err != nil {
			breakf("%s: %v", displayName(f.name), err)
			continue
		}
		for len(c.sets) < n {
			c.sets = append(c.sets, arcSet{})
		}
		s := &c.sets[n-1]
		switch f.name {
		case nameAAR:
			s.aar = append(s.aar, f)
		case nameAMS:
			s.ams = append(s.ams, f)
		case nameAS:
			s.as = append(s.as, f)
		}
	}
	for i := range c.sets {
		s := &c.sets[i]
		for _, k := range []struct {
			name string
			n    int
		}{{nameAAR, len(s.aar)}, {nameAMS, len(s.ams)}, {nameAS, len(s.as)}} {
			switch {
			case k.n == 0:
				breakf("i=%d: no %s", i+1, displayName(k.name))
			case k.n > 1:
				breakf("i=%d: %d %s fields", i+1, k.n, displayName(k.name))
			}
		}
	}
	return c
}

// fieldInstance reads the instance an ARC field claims: the i= tag of
// an AMS or AS, the leading i= of an AAR.
func fieldInstance(f *field) (int, error) {
	if f.name == nameAAR {
		n, _, err := parseAAR(f.value())
		return n, err
	}
	tags, err := parseTags(f.value())
	if err != nil {
		return 0, err
	}
	v, ok := tags.get("i")
	if !ok {
		return 0, fmt.Errorf("%w i=", errMissingTag)
	}
	return parseInstance(v)
}

// displayName is the usual spelling of an ARC field name.
func displayName(name string) string {
	switch name {
	case nameAAR:
		return "ARC-Authentication-Results"
	case nameAMS:
		return "ARC-Message-Signature"
	case nameAS:
		return "ARC-Seal"
	}
	return name
}

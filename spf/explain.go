package spf

import (
	"context"
	"strings"
)

// maxCommentLen bounds the SMTP comment, so that a reply line stays well
// under the 512 octets of RFC 5321 section 4.5.3.1.5.
const maxCommentLen = 400

// explain returns the explanation of a fail (RFC 7208 section 6.2), or ""
// when there is none to use: the exp= of rec, the record that decided,
// which is the checked domain's record or, after redirects, the last
// redirect target's (never an included record's), fetched and
// macro-expanded with domain as %{d}. Any DNS error, a number of TXT
// records other than one, or a syntax error in the explain-string means
// no explanation, as section 6.2 says; a syntax error in the exp=
// domain-spec itself was a permerror already. The exp= lookup does not
// count against the lookup limits (section 4.6.4).
func (c *Checker) explain(ctx context.Context, o *Outcome, rec *record, domain string) string {
	if rec == nil || rec.exp == "" {
		return ""
	}
	env := c.explainEnv(ctx, o)
	env.domain = domain
	var p string
	env.ptr = func() string {
		if p == "" {
			p = validatedName(ctx, c.res, &env)
		}
		return p
	}
	name, err := expandMacros(rec.exp, &env, false)
	name = strings.TrimSuffix(name, ".")
	if err != nil || !queryable(name) {
		return ""
	}
	txts, err := c.res.LookupTXT(ctx, fqdn(name))
	if err != nil || len(txts) != 1 {
		return ""
	}
	text, err := expandMacros(txts[0], &env, true)
	if err != nil {
		return ""
	}
	return replySafe(text)
}

// explainEnv returns the macro values for explanations: those of the
// check, plus the time and a validated PTR name looked up on demand.
func (c *Checker) explainEnv(ctx context.Context, o *Outcome) macroEnv {
	env := o.env
	env.now = c.now()
	var p string
	env.ptr = func() string {
		if p == "" {
			p = validatedName(ctx, c.res, &env)
		}
		return p
	}
	return env
}

// defaultExplanation expands the configured explanation template; a
// template that does not expand is used as it is written.
func (c *Checker) defaultExplanation(o *Outcome) string {
	env := o.env
	env.now = c.now()
	text, err := expandMacros(c.explanation, &env, true)
	if err != nil {
		text = c.explanation
	}
	return replySafe(text)
}

// replySafe makes text fit an SMTP reply: printable ASCII on one line,
// truncated to maxCommentLen.
func replySafe(text string) string {
	b := []byte(text)
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	if len(b) > maxCommentLen {
		b = b[:maxCommentLen]
	}
	return strings.TrimSpace(string(b))
}

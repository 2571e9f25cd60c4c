package front

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// command handles one client command line.
func (c *Conn) command(ctx context.Context, line string) error {
	verb, arg := splitCommand(line)
	switch verb {
	case "MAIL", "RCPT", "DATA", "BDAT", "QUIT":
	default:
		c.nonMail++
		if c.nonMail > c.srv.opts.Limits.NonMailCommands {
			c.reply(421, "4.7.0 "+c.srv.opts.Hostname+" Too many commands without a transaction, closing connection")
			return errClose
		}
	}
	if verb == "AUTH" {
		c.log.Debug("front: command", "verb", verb)
	} else {
		c.log.Debug("front: command", "line", line)
	}
	if !knownVerbs[verb] {
		return c.syntaxError(line, verb)
	}
	// go-smtp sees the command rebuilt as "VERB" or "VERB arg", which it
	// parses as the client's line: it never meets a line it would count
	// as a protocol error (an empty line, "NOOP " with nothing after
	// the space), answer with an extra reply past its own threshold, and
	// leave the front out of step.
	if arg != "" {
		line = verb + " " + arg
	} else {
		line = verb
	}
	switch verb {
	case "EHLO", "HELO":
		return c.hello(verb == "EHLO", arg)
	case "LHLO":
		// An SMTP server; the LMTP greeting is the front's business.
		c.reply(500, "5.5.1 Unknown command")
		return nil
	case "STARTTLS":
		return c.startTLS(ctx, arg)
	case "AUTH":
		return c.auth(line)
	case "MAIL":
		return c.mail(arg)
	case "RCPT":
		return c.rcpt(line, arg)
	case "DATA":
		return c.data(line)
	case "BDAT":
		return c.bdat(line, arg)
	case "RSET":
		rep, err := c.innerCmd(line)
		if err != nil {
			return c.innerFailed(err)
		}
		c.resetTx()
		c.reply(rep.code, rep.text())
		return nil
	case "QUIT":
		rep, err := c.innerCmd(line)
		if err != nil {
			return c.innerFailed(err)
		}
		c.reply(rep.code, rep.text())
		return errClose
	}
	return c.relay(line)
}

// knownVerbs are the commands go-smtp implements or the front handles
// (RFC 5321 section 4.1, RFC 3030, RFC 3207, RFC 4954); go-smtp answers
// SEND, SOML, SAML, EXPN, HELP and TURN with 502.
var knownVerbs = map[string]bool{
	"EHLO": true, "HELO": true, "LHLO": true, "STARTTLS": true, "AUTH": true,
	"MAIL": true, "RCPT": true, "DATA": true, "BDAT": true, "RSET": true,
	"QUIT": true, "NOOP": true, "VRFY": true,
	"SEND": true, "SOML": true, "SAML": true, "EXPN": true, "HELP": true, "TURN": true,
}

// syntaxError answers a line that is no command with the codes go-smtp
// gives (RFC 5321 section 4.2.4: 500 for an empty line or an unknown
// four-letter verb, 501 for a line that has none), and ends the session
// after more than Limits.ProtocolErrors of them, as go-smtp and Exim do.
func (c *Conn) syntaxError(line, verb string) error {
	c.protoErrors++
	if line == "" || len(verb) == 4 {
		c.reply(500, "5.5.2 Syntax error, command unrecognized")
	} else {
		c.reply(501, "5.5.2 Syntax error, no command")
	}
	if c.protoErrors > c.srv.opts.Limits.ProtocolErrors {
		c.reply(500, "5.5.1 Too many errors, closing connection")
		return errClose
	}
	return nil
}

// relay passes a command through and its reply back.
func (c *Conn) relay(line string) error {
	rep, err := c.innerCmd(line)
	if err != nil {
		return c.innerFailed(err)
	}
	c.reply(rep.code, rep.text())
	return nil
}

// innerFailed ends the session when go-smtp broke off (a panicking
// session, a timeout of the backend).
func (c *Conn) innerFailed(err error) error {
	c.log.Warn("front: go-smtp server failed", "err", err)
	c.reply(421, "4.3.0 "+c.srv.opts.Hostname+" Local error, closing connection")
	return err
}

// splitCommand splits "VERB arg" (RFC 5321 section 4.1.1: verbs are case
// insensitive).
func splitCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), strings.TrimSpace(arg)
}

// hello translates EHLO and HELO into LHLO for go-smtp (RFC 2033 section
// 4.1) and the LHLO reply back: a one-line reply to HELO, and to EHLO the
// front's hostname and go-smtp's keywords as edited by the TLS state and
// the extensions (RFC 5321 section 4.1.1.1).
func (c *Conn) hello(ehlo bool, arg string) error {
	rep, err := c.innerCmd(strings.TrimSpace("LHLO " + arg))
	if err != nil {
		return c.innerFailed(err)
	}
	c.resetTx()
	if rep.code != 250 {
		c.reply(rep.code, rep.text())
		return nil
	}
	c.helo, c.ehlo = arg, ehlo
	if !ehlo {
		c.keywords = nil
		c.reply(250, c.srv.opts.Hostname+" Hello "+arg)
		return nil
	}
	_, isTLS := c.TLS()
	var kws []string
	for _, k := range rep.lines[1:] {
		kw, _, _ := strings.Cut(k, " ")
		switch strings.ToUpper(kw) {
		case "STARTTLS", "REQUIRETLS":
			continue
		case "AUTH":
			// RFC 4954 section 4 and RFC 3207 section 4: AUTH PLAIN
			// only under TLS, unless configured otherwise.
			if !isTLS && !c.srv.opts.AllowInsecureAuth {
				continue
			}
		}
		kws = append(kws, k)
	}
	if c.srv.opts.TLSConfig != nil && !isTLS {
		kws = append(kws, "STARTTLS") // RFC 3207 section 4
	}
	if isTLS && c.srv.requireTLS {
		kws = append(kws, "REQUIRETLS") // RFC 8689 section 4.1
	}
	for _, ext := range c.srv.opts.Extensions {
		if a, ok := ext.(Advertiser); ok {
			kws = a.Advertise(c, kws)
		}
	}
	c.keywords = kws
	c.reply(250, strings.Join(append([]string{c.srv.opts.Hostname + " Hello " + arg}, kws...), "\n"))
	return nil
}

// startTLS runs STARTTLS (RFC 3207) and starts a fresh go-smtp
// connection afterwards: section 4.2 says to discard what was learnt
// before TLS, and the new go-smtp session sees the TLS state.
func (c *Conn) startTLS(ctx context.Context, arg string) error {
	switch {
	case c.srv.opts.TLSConfig == nil || c.tls != nil:
		c.reply(502, "5.5.1 Command not implemented")
		return nil
	case arg != "":
		c.reply(501, "5.5.4 Syntax error (no parameters allowed)")
		return nil
	case c.inTx:
		c.reply(503, "5.5.1 STARTTLS not allowed during a transaction")
		return nil
	case c.br.Buffered() > 0:
		// RFC 3207 section 5 (and CVE-2011-0411): STARTTLS ends a
		// pipelined group; input after it would be taken as sent
		// under TLS.
		c.reply(554, "5.5.0 Input pipelined after STARTTLS, closing connection")
		return errClose
	}
	c.reply(220, "2.0.0 Ready to start TLS")
	if err := c.flush(); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.srv.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(c.srv.opts.Timeouts.Handshake))
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("front: STARTTLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.nc, c.tls = tc, tc
	c.br.Reset(tc)
	c.bw.Reset(clientWriter{c})
	c.nonMail = 0
	return c.startInner(ctx)
}

// auth relays an AUTH exchange (RFC 4954 section 4): each 334 challenge
// goes to the client and its answer back, never logged.
func (c *Conn) auth(line string) error {
	if _, isTLS := c.TLS(); !isTLS && !c.srv.opts.AllowInsecureAuth {
		c.reply(538, "5.7.11 Encryption required for requested authentication mechanism")
		return nil
	}
	rep, err := c.innerCmd(line)
	for n := 0; err == nil && rep.code == 334; n++ {
		c.reply(rep.code, rep.text())
		if n >= c.srv.opts.Limits.AuthLines {
			c.reply(421, "4.7.0 Too many AUTH lines, closing connection")
			return errClose
		}
		var answer string
		answer, err = c.readLine(c.srv.opts.Timeouts.Command)
		if err != nil {
			return c.readFailed(err)
		}
		rep, err = c.innerCmd(answer)
	}
	if err != nil {
		return c.innerFailed(err)
	}
	c.reply(rep.code, rep.text())
	return nil
}

// mail handles MAIL FROM (RFC 5321 section 4.1.1.2): parameters claimed
// by an extension are taken out before go-smtp sees the command.
func (c *Conn) mail(arg string) error {
	from, ok := cutPrefixFold(arg, "FROM:")
	path, params, ok2 := splitMailArg(from)
	if !ok || !ok2 {
		return c.relay(strings.TrimSpace("MAIL " + arg))
	}
	claimed := map[string]string{}
	var notes, rest []string
	for _, p := range params {
		kw, val, _ := strings.Cut(p, "=")
		kw = strings.ToUpper(kw)
		var owner MailParamer
		for _, ext := range c.srv.opts.Extensions {
			if mp, ok := ext.(MailParamer); ok && mp.ClaimsMailParam(kw) {
				owner = mp
				break
			}
		}
		if owner == nil {
			rest = append(rest, p)
			continue
		}
		if _, dup := claimed[kw]; dup {
			c.reply(501, "5.5.4 Duplicate MAIL parameter "+kw)
			return nil
		}
		note, err := owner.MailParam(c, kw, val)
		if err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				se = &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: err.Error()}
			}
			c.replyError(se)
			return nil
		}
		claimed[kw] = val
		if note != "" {
			notes = append(notes, note)
		}
	}
	cmd := "MAIL FROM:" + path
	if len(rest) > 0 {
		cmd += " " + strings.Join(rest, " ")
	}
	rep, err := c.innerCmd(cmd)
	if err != nil {
		return c.innerFailed(err)
	}
	if rep.code == 250 {
		c.resetTx()
		c.inTx, c.params, c.nonMail = true, claimed, 0
		if len(notes) > 0 {
			rep.lines[len(rep.lines)-1] += ", " + strings.Join(notes, ", ")
		}
	}
	c.reply(rep.code, rep.text())
	return nil
}

// rcpt relays RCPT TO and remembers the recipients go-smtp accepted: it
// gives one data-time status for each, in this order.
func (c *Conn) rcpt(line, arg string) error {
	rep, err := c.innerCmd(line)
	if err != nil {
		return c.innerFailed(err)
	}
	if rep.code/100 == 2 {
		addr := ""
		if rest, ok := cutPrefixFold(arg, "TO:"); ok {
			if p, _, ok := splitMailArg(rest); ok {
				addr = strings.TrimSuffix(strings.TrimPrefix(p, "<"), ">")
			}
		}
		c.rcpts = append(c.rcpts, addr)
	}
	c.reply(rep.code, rep.text())
	return nil
}

// endOfData reads go-smtp's LMTP replies, one per accepted recipient
// (RFC 2033 section 4.2), and sends the client what the extensions (when
// shape is set), or the uniform rule, make of them.
func (c *Conn) endOfData(shape bool) error {
	defer c.resetTx()
	st := make([]RcptStatus, 0, len(c.rcpts))
	for i, addr := range c.rcpts {
		rep, err := c.innerReply()
		if err != nil {
			return c.innerFailed(err)
		}
		se := rep.smtpError()
		// go-smtp prefixes each LMTP status with "<rcpt> ".
		if a, msg, ok := cutRcptPrefix(se.Message); ok {
			addr, se.Message = a, msg
		} else if i == 0 {
			// A BDAT chunk the session did not read to its end gets
			// one reply, not one per recipient.
			c.reply(rep.code, rep.text())
			return nil
		}
		st = append(st, RcptStatus{Address: addr, Reply: se})
	}
	for _, ext := range c.srv.opts.Extensions {
		if dr, ok := ext.(DataReplier); ok && shape {
			if reps := dr.DataReplies(c, st); reps != nil {
				for _, r := range reps {
					c.replyError(r)
				}
				return nil
			}
		}
	}
	c.replyError(uniform(c, st))
	return nil
}

// uniform is the single end-of-data reply when no extension shapes it:
// the first status when every recipient got the same class of reply;
// otherwise the message cannot be answered truthfully to a client that
// reads one reply, so it gets 451 4.3.0 and will be sent again in full.
func uniform(c *Conn, st []RcptStatus) *smtp.SMTPError {
	if len(st) == 0 {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	class := st[0].Reply.Code / 100
	same := true
	for _, s := range st[1:] {
		if s.Reply.Code/100 != class {
			same = false
		}
	}
	if same {
		return st[0].Reply
	}
	c.log.Error("front: the session answered per recipient without PRDR; message deferred for all recipients",
		"recipients", len(st))
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Per-recipient results differ; message deferred, try again later"}
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// splitMailArg splits the argument of MAIL after "FROM:" (or of RCPT
// after "TO:") into the path and the parameters (RFC 5321 section 4.1.2:
// Reverse-path [SP Mail-parameters]). A path in angle brackets may hold
// quoted strings with spaces. ok is false when there is no path.
func splitMailArg(arg string) (path string, params []string, ok bool) {
	arg = strings.TrimLeft(arg, " ")
	if arg == "" {
		return "", nil, false
	}
	end := -1
	if arg[0] == '<' {
		quoted := false
		for i := 1; i < len(arg); i++ {
			switch ch := arg[i]; {
			case quoted && ch == '\\':
				i++
			case ch == '"':
				quoted = !quoted
			case !quoted && ch == '>':
				end = i + 1
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 {
			return "", nil, false
		}
	} else {
		end = strings.IndexByte(arg, ' ')
		if end < 0 {
			end = len(arg)
		}
	}
	rest := arg[end:]
	if rest != "" && rest[0] != ' ' {
		return "", nil, false
	}
	return arg[:end], strings.Fields(rest), true
}

// cutRcptPrefix splits go-smtp's "<rcpt> text" LMTP status.
func cutRcptPrefix(msg string) (addr, text string, ok bool) {
	if !strings.HasPrefix(msg, "<") {
		return "", msg, false
	}
	i := strings.Index(msg, "> ")
	if i < 0 {
		return "", msg, false
	}
	return msg[1:i], msg[i+2:], true
}

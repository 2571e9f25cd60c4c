package client

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// maxAuthRounds bounds the challenges of one AUTH exchange, so that a
// server cannot keep the client answering forever.
const maxAuthRounds = 16

// maxInitialResponseLine is the longest AUTH command sent with its initial
// response; a longer response waits for the server's empty challenge
// instead (RFC 4954 section 4), so that servers holding to the 512-octet
// command line of RFC 5321 section 4.5.3.1.4 still understand it.
const maxInitialResponseLine = 510

// authenticate runs the SASL exchange of RFC 4954 section 4 with
// Options.Auth: AUTH with the mechanism and the initial response (base64,
// "=" when empty), then a base64 response to each 334 challenge, until
// 235. A client error cancels the exchange with "*". Any other reply is
// returned as an error wrapping the *smtp.SMTPError.
func (c *Conn) authenticate() error {
	t := c.opts.Timeouts
	offered, ok := c.ext["AUTH"]
	if !ok {
		return fmt.Errorf("client: AUTH requested but %s does not offer it", c.addr)
	}
	mech, ir, err := c.opts.Auth.Start()
	if err != nil {
		return fmt.Errorf("client: AUTH: %w", err)
	}
	if !containsFold(strings.Fields(offered), mech) {
		return fmt.Errorf("client: AUTH %s not offered by %s (offers %q)", mech, c.addr, offered)
	}
	cmd := "AUTH " + mech
	var pending []byte // initial response held back for the empty challenge
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		if len(cmd)+1+len(enc) <= maxInitialResponseLine {
			cmd += " " + enc
		} else {
			pending = ir
		}
	}
	c.writeLine(cmd)
	for round := 0; ; round++ {
		if err := c.flush(t.Command); err != nil {
			return err
		}
		rep, err := c.readReply(t.Command)
		if err != nil {
			return fmt.Errorf("client: AUTH: %w", err)
		}
		switch {
		case rep.class() == 2:
			return nil
		case rep.code != 334:
			return fmt.Errorf("client: AUTH %s: %w", mech, rep.smtpError(true))
		case round >= maxAuthRounds:
			return c.fail(fmt.Errorf("%w: more than %d AUTH challenges", errProtocol, maxAuthRounds))
		}
		var resp []byte
		if pending != nil {
			resp, pending = pending, nil
		} else {
			challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rep.text()))
			if err == nil {
				resp, err = c.opts.Auth.Next(challenge)
			}
			if err != nil {
				return c.cancelAuth(mech, err)
			}
		}
		c.writeSecret(base64.StdEncoding.EncodeToString(resp))
	}
}

// cancelAuth sends "*" (RFC 4954 section 4), reads the server's 501 and
// returns err.
func (c *Conn) cancelAuth(mech string, err error) error {
	c.writeLine("*")
	if ferr := c.flush(c.opts.Timeouts.Command); ferr != nil {
		return ferr
	}
	if _, rerr := c.readReply(c.opts.Timeouts.Command); rerr != nil {
		return rerr
	}
	return fmt.Errorf("client: AUTH %s cancelled: %w", mech, err)
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

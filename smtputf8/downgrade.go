package smtputf8

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
)

// ReplyCannotDowngrade is the result of a recipient whose message cannot
// go to a server without SMTPUTF8: a non-ASCII local part, or a sender
// with one (RFC 6531 section 3.5, 553 5.6.7). It is a local reply; the
// recipient's delivery status notification should describe it with
// DSNAddress.
var ReplyCannotDowngrade = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address and no SMTPUTF8 at the next hop"}

// Send sends a message with c as Conn.Send does, after adapting the
// envelope to what the server offers (RFC 6531 section 3.2, 3.4):
//
//   - when the server advertises SMTPUTF8, or nothing needs it, env goes
//     unchanged (the engine adds the SMTPUTF8 parameter when an address
//     is not ASCII or env.UTF8 says the header needs it: see
//     HeaderNeedsUTF8);
//   - otherwise, a message whose header needs SMTPUTF8 (env.UTF8), or
//     whose sender has a non-ASCII local part, cannot go: every
//     recipient gets ReplyCannotDowngrade and nothing is sent;
//   - otherwise non-ASCII domains become A-labels (DomainToALabel), in
//     the sender and in each recipient whose local part is ASCII; a
//     recipient with a non-ASCII local part, or a domain that does not
//     convert, gets ReplyCannotDowngrade (PermFailed) and the others are
//     sent.
//
// The Result lists env.To as given, in order, whatever was sent; env is
// not modified. The error is Conn.Send's; it wraps client.ErrRefused
// when nothing was sent because no recipient could be.
func Send(ctx context.Context, c *client.Conn, env *client.Envelope, msg io.Reader) (*client.Result, error) {
	if env == nil {
		return c.Send(ctx, env, msg)
	}
	if _, ok := c.Extension("SMTPUTF8"); ok || !needsUTF8(env) {
		return c.Send(ctx, env, msg)
	}
	res := &client.Result{Recipients: make([]client.RecipientResult, len(env.To))}
	for i, a := range env.To {
		res.Recipients[i] = client.RecipientResult{Address: a}
	}
	refuseAll := func(why string) (*client.Result, error) {
		for i := range res.Recipients {
			res.Recipients[i].Status, res.Recipients[i].Reply = client.PermFailed, ReplyCannotDowngrade
		}
		return res, fmt.Errorf("%w: %s", client.ErrRefused, why)
	}
	if env.UTF8 {
		return refuseAll("the header needs SMTPUTF8, which the server lacks")
	}
	from, err := ALabelAddress(env.From)
	if err != nil {
		return refuseAll("sender: " + err.Error())
	}
	out := *env
	out.From, out.To = from, nil
	var index []int // out.To[k] is env.To[index[k]]
	for i, a := range env.To {
		d, err := ALabelAddress(a)
		if err != nil {
			res.Recipients[i].Status, res.Recipients[i].Reply = client.PermFailed, ReplyCannotDowngrade
			continue
		}
		out.To = append(out.To, d)
		index = append(index, i)
	}
	if len(out.To) == 0 {
		return refuseAll("no recipient can be downgraded")
	}
	sent, err := c.Send(ctx, &out, msg)
	for k, r := range sent.Recipients {
		if k < len(index) {
			r.Address = env.To[index[k]]
			res.Recipients[index[k]] = r
		}
	}
	res.Data = sent.Data
	return res, err
}

// needsUTF8 reports whether env cannot be sent as it is without SMTPUTF8.
func needsUTF8(env *client.Envelope) bool {
	if env.UTF8 || !isASCII(env.From) {
		return true
	}
	for _, a := range env.To {
		if !isASCII(a) {
			return true
		}
	}
	return false
}

// ErrLocalPart is wrapped by ALabelAddress's error for a non-ASCII local
// part, which has no ASCII form (RFC 6530 section 4.4: no downgrade of a
// local part in transit).
var ErrLocalPart = errors.New("smtputf8: non-ASCII local part")

// ALabelAddress returns addr with its domain converted by DomainToALabel:
// the form to send to a server without SMTPUTF8, when the local part is
// ASCII. An address with a non-ASCII local part is an error wrapping
// ErrLocalPart. ASCII addresses, and "", are returned as they are.
func ALabelAddress(addr string) (string, error) {
	if isASCII(addr) {
		return addr, nil
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !isASCII(addr[:at]) {
		return "", fmt.Errorf("%w: %q", ErrLocalPart, addr)
	}
	d, err := DomainToALabel(addr[at+1:])
	if err != nil {
		return "", err
	}
	return addr[:at+1] + d, nil
}

// HeaderNeedsUTF8 reads the header section of a message (up to the first
// empty line, or the end) and reports whether it holds any non-ASCII
// octet: such a header (RFC 6532) may only travel with SMTPUTF8 (RFC 6531
// section 3.2), so the message's Envelope.UTF8 must be set. It reads no
// further than the header section and at most maxHeader octets, past
// which it returns true and an error.
func HeaderNeedsUTF8(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 4096)
	var n int
	start := true // line is the start of a line
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if n > maxHeader {
			return true, fmt.Errorf("smtputf8: header section over %d octets", maxHeader)
		}
		if !isASCII(string(line)) {
			return true, nil
		}
		if start && (string(line) == "\n" || string(line) == "\r\n") {
			return false, nil
		}
		start = err == nil
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return false, nil
		default:
			return false, fmt.Errorf("smtputf8: reading the header: %w", err)
		}
	}
}

// maxHeader bounds what HeaderNeedsUTF8 reads.
const maxHeader = 1 << 20

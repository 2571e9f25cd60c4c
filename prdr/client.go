package prdr

import (
	"fmt"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
)

// Client is the sending side of PRDR, a client.Extension. Its zero value
// is ready to use: list it in client.Options.Extensions.
//
// It requests PRDR (the MAIL parameter) only when the server advertised it
// and the message has two or more recipients, as Exim's hosts_try_prdr
// does, and reads the reply sequence after the data: 353, one reply per
// recipient accepted at RCPT, a final reply. A 2xx, 4xx or 5xx instead of
// the 353 means the server chose not to use PRDR and applies to every
// recipient. A final 5xx fails every recipient; a final 4xx defers those
// the server had accepted; otherwise each recipient has its own reply.
type Client struct{}

var (
	_ client.MailParamer     = Client{}
	_ client.DataReplyReader = Client{}
)

// Name implements client.Extension.
func (Client) Name() string { return "prdr" }

func wanted(c *client.Conn, env *client.Envelope) bool {
	_, ok := c.Extension(Keyword)
	return ok && len(env.To) >= 2
}

// MailParams adds PRDR when the server offers it and there are two or
// more recipients.
func (Client) MailParams(c *client.Conn, env *client.Envelope) []string {
	if wanted(c, env) {
		return []string{Keyword}
	}
	return nil
}

// ReadDataReply reads the PRDR sequence after a 353.
func (Client) ReadDataReply(p *client.DataPhase) (*client.DataReply, error) {
	if p.First.Code/100 != 3 || !wanted(p.Conn, p.Envelope) {
		return nil, nil
	}
	per := make([]*smtp.SMTPError, len(p.Accepted))
	for i := range per {
		r, err := p.ReadReply()
		if err != nil {
			return nil, fmt.Errorf("prdr: reply for %s: %w", p.Accepted[i], err)
		}
		per[i] = r
	}
	final, err := p.ReadReply()
	if err != nil {
		return nil, fmt.Errorf("prdr: final reply: %w", err)
	}
	return Outcome(per, final)
}

// Outcome maps the per-recipient replies and the final reply of a PRDR
// sequence to a client.DataReply: a final 5xx fails every recipient, a
// final 4xx defers those accepted, a final 2xx leaves each its own reply.
// A reply that is not 2xx, 4xx or 5xx is a protocol error.
func Outcome(per []*smtp.SMTPError, final *smtp.SMTPError) (*client.DataReply, error) {
	if final == nil || !definite(final.Code) {
		return nil, fmt.Errorf("prdr: bad final reply %v", final)
	}
	out := &client.DataReply{Final: final, Recipients: make([]*smtp.SMTPError, len(per))}
	for i, r := range per {
		if r == nil || !definite(r.Code) {
			return nil, fmt.Errorf("prdr: bad per-recipient reply %v", r)
		}
		switch {
		case final.Code/100 == 5:
			out.Recipients[i] = final
		case final.Code/100 == 4 && r.Code/100 == 2:
			out.Recipients[i] = final
		default:
			out.Recipients[i] = r
		}
	}
	return out, nil
}

func definite(code int) bool { return code >= 200 && code < 600 && code/100 != 3 }

package events

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Name is an event's name, Exim's $event_name.
type Name string

// The events smtpkit raises, spelled as Exim spells them (Exim
// specification, chapter "Events").
const (
	// MsgComplete: a message left the queue, every recipient having a
	// final result. Raised by the queue ([Emitter.Complete]).
	MsgComplete Name = "msg:complete"
	// MsgDelivery: one recipient accepted by the remote host; Data is
	// the SMTP confirmation (the reply to the end of data).
	MsgDelivery Name = "msg:delivery"
	// MsgRcptHostDefer: one recipient deferred by the remote host (a 4xx
	// reply, or no definite reply); Data is the reply.
	MsgRcptHostDefer Name = "msg:rcpt:host:defer"
	// MsgHostDefer: an attempt at one host failed as a whole (connection
	// refused, lost, timed out, vetoed, 421...); Data is the error string
	// and DeferErrno its errno.
	MsgHostDefer Name = "msg:host:defer"
	// MsgFailDelivery: one recipient refused for good (5xx); Data is the
	// reply.
	MsgFailDelivery Name = "msg:fail:delivery"
	// MsgFailInternal: the queue gave up on a message for a local reason
	// (spool unreadable...); Data is the error string.
	MsgFailInternal Name = "msg:fail:internal"
	// TCPConnect: before an outbound connection is made. A veto means
	// no connection attempt.
	TCPConnect Name = "tcp:connect"
	// TCPClose: an outbound connection was closed.
	TCPClose Name = "tcp:close"
	// TLSCert: once per certificate of the server's chain while TLS is
	// set up, from the top of the chain down to the server's own
	// certificate; Data is the depth ("0" for the server's). A veto
	// refuses verification: the handshake fails.
	TLSCert Name = "tls:cert"
	// SMTPConnect: the server's banner was read; Data is the banner as
	// received ("220 mx.test ESMTP"). A veto closes the connection
	// before anything else is said.
	SMTPConnect Name = "smtp:connect"
)

// Vetoable reports whether a handler's error stops what the event
// announces: true for tcp:connect, tls:cert and smtp:connect, as in Exim.
// For every other event an error is logged and otherwise ignored.
func (n Name) Vetoable() bool {
	return n == TCPConnect || n == TLSCert || n == SMTPConnect
}

// Event is one event with its context: the fields are the Exim variables
// named in their comments, set where they mean something for the event.
// The adapters fill what they know (address, banner, certificate, reply)
// over the template that the caller put in the context with [NewContext]
// (message id, sender, recipient, router, transport, host, DNSSEC...).
type Event struct {
	Name Name      // $event_name
	Time time.Time // when it was raised
	// Data is $event_data: the confirmation of a delivery, the error of
	// a deferral or failure, the depth of a certificate ("0", "1"...),
	// the banner.
	Data string
	// DeferErrno is $event_defer_errno for deferrals: the system error
	// number behind the failure (ECONNREFUSED, ETIMEDOUT...), 0 when
	// there is none (an SMTP reply).
	DeferErrno int
	// Err is the error behind Data for deferrals and failures, for
	// handlers that want errors.Is rather than text.
	Err error

	MessageID string // $message_exim_id: the queue's message id
	Sender    string // $sender_address, "" for the null sender
	LocalPart string // $local_part of the recipient
	Domain    string // $domain of the recipient
	Router    string // $router_name
	Transport string // $transport_name

	Host     string         // $host: the server's name
	HostAddr netip.AddrPort // $host_address, $host_port
	// SendingAddr is $sending_ip_address and $sending_port: the local end
	// of the connection. The Dialer's connections set it on their own
	// events (smtp:connect, tcp:close); the other events carry it only
	// when the caller put it in the template.
	SendingAddr netip.AddrPort

	// PeerCert is $tls_out_peercert: for tls:cert the certificate at
	// depth Data, otherwise the server's certificate when known.
	PeerCert *x509.Certificate
	// DNSSEC: the host's address records were DNSSEC-authenticated
	// (Exim's "DS" log field, $lookup_dnssec_authenticated), as the
	// caller's resolver says.
	DNSSEC bool
	DANE   bool // $tls_out_dane: the certificate was verified by DANE (RFC 7672)
}

// Recipient returns LocalPart@Domain, or "" when neither is set.
func (e Event) Recipient() string {
	if e.LocalPart == "" && e.Domain == "" {
		return ""
	}
	return e.LocalPart + "@" + e.Domain
}

// SetRecipient sets LocalPart and Domain from an address; the domain is
// what follows the last "@" (RFC 5321 section 4.1.2: a quoted local part
// may hold one).
func (e *Event) SetRecipient(addr string) {
	e.LocalPart, e.Domain = SplitAddress(addr)
}

// SplitAddress splits an address at its last "@". An address without one
// (a bare "postmaster") is all local part.
func SplitAddress(addr string) (localPart, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// fill sets the zero fields of e from the template t.
func (e *Event) fill(t *Event) {
	str := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	str(&e.MessageID, t.MessageID)
	str(&e.Sender, t.Sender)
	if e.LocalPart == "" && e.Domain == "" {
		e.LocalPart, e.Domain = t.LocalPart, t.Domain
	}
	str(&e.Router, t.Router)
	str(&e.Transport, t.Transport)
	str(&e.Host, t.Host)
	if !e.HostAddr.IsValid() {
		e.HostAddr = t.HostAddr
	}
	if !e.SendingAddr.IsValid() {
		e.SendingAddr = t.SendingAddr
	}
	if e.PeerCert == nil {
		e.PeerCert = t.PeerCert
	}
	e.DNSSEC = e.DNSSEC || t.DNSSEC
	e.DANE = e.DANE || t.DANE
}

// LogValue renders the event's non-empty fields for log/slog, with Exim's
// variable names where short enough to read.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(e.attrs()...)
}

func (e Event) attrs() []slog.Attr {
	a := make([]slog.Attr, 0, 12)
	add := func(k, v string) {
		if v != "" {
			a = append(a, slog.String(k, v))
		}
	}
	add("event", string(e.Name))
	add("data", e.Data)
	if e.DeferErrno != 0 {
		a = append(a, slog.Int("errno", e.DeferErrno))
	}
	add("id", e.MessageID)
	if e.Name.isMessage() || e.Sender != "" {
		add("sender", "<"+e.Sender+">")
	}
	add("rcpt", e.Recipient())
	add("router", e.Router)
	add("transport", e.Transport)
	add("host", e.Host)
	if e.HostAddr.IsValid() {
		add("host_address", e.HostAddr.String())
	}
	if e.SendingAddr.IsValid() {
		add("sending_address", e.SendingAddr.String())
	}
	if e.PeerCert != nil {
		add("peercert", e.PeerCert.Subject.String())
	}
	if e.DNSSEC {
		a = append(a, slog.Bool("dnssec", true))
	}
	if e.DANE {
		a = append(a, slog.Bool("dane", true))
	}
	return a
}

// isMessage reports events about a message (where the null sender is
// worth showing as "<>").
func (n Name) isMessage() bool { return strings.HasPrefix(string(n), "msg:") }

// depth renders a certificate depth as tls:cert's $event_data.
func depth(i int) string { return strconv.Itoa(i) }

// templateKey is the context key of the template event.
type templateKey struct{}

// NewContext returns a context carrying ev as the template of the events
// raised under it: the adapters copy its non-zero fields (message id,
// sender, recipient, router, transport, host, DNSSEC, DANE...) into the
// events they raise. The queue sets it per message and host before it
// dials; the client engine hands the context on to the Dialer.
func NewContext(ctx context.Context, ev Event) context.Context {
	return context.WithValue(ctx, templateKey{}, &ev)
}

// FromContext returns the template that NewContext put in ctx.
func FromContext(ctx context.Context) (Event, bool) {
	t, ok := ctx.Value(templateKey{}).(*Event)
	if !ok {
		return Event{}, false
	}
	return *t, true
}

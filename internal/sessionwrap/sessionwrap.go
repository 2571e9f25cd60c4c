// Package sessionwrap holds what every smtpkit go-smtp Session wrapper
// passes on to the session it wraps: AUTH (noting a successful exchange,
// since feature checks skip authenticated clients) and LMTP data (falling
// back to Data with one status for every recipient, as go-smtp does).
package sessionwrap

import (
	"io"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// AuthMechanisms returns inner's mechanisms when it implements
// smtp.AuthSession, else none (go-smtp then offers no AUTH).
func AuthMechanisms(inner smtp.Session) []string {
	if a, ok := inner.(smtp.AuthSession); ok {
		return a.AuthMechanisms()
	}
	return nil
}

// Auth starts inner's SASL exchange for mech; onSuccess runs once the
// exchange has ended without error.
func Auth(inner smtp.Session, mech string, onSuccess func()) (sasl.Server, error) {
	a, ok := inner.(smtp.AuthSession)
	if !ok {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	srv, err := a.Auth(mech)
	if err != nil {
		return nil, err
	}
	return &authWatch{Server: srv, done: onSuccess}, nil
}

type authWatch struct {
	sasl.Server
	done func()
}

func (w *authWatch) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := w.Server.Next(response)
	if done && err == nil && w.done != nil {
		w.done()
	}
	return challenge, done, err
}

// LMTPData passes r to inner's LMTPData or, when inner has none, to its
// Data, giving that one result to every recipient in rcpts (RFC 2033
// section 4.2 wants one reply per recipient).
func LMTPData(inner smtp.Session, r io.Reader, status smtp.StatusCollector, rcpts []string) error {
	if l, ok := inner.(smtp.LMTPSession); ok {
		return l.LMTPData(r, status)
	}
	err := inner.Data(r)
	for _, rcpt := range rcpts {
		status.SetStatus(rcpt, err)
	}
	return err
}

package client

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// authSession adds AUTH (go-smtp's AuthSession) to a recordingSession.
type authSession struct{ *recordingSession }

func (s *authSession) AuthMechanisms() []string {
	var m []string
	for k := range s.b.Mechs {
		m = append(m, k)
	}
	return m
}

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	f, ok := s.b.Mechs[mech]
	if !ok {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return f(), nil
}

var errBadCreds = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}

// checkCreds accepts user "me" with password "secret" (or a long one).
func (b *recordingBackend) checkCreds(user, pass string) error {
	if user != "me" || (pass != "secret" && pass != longPassword) {
		return errBadCreds
	}
	b.mu.Lock()
	b.authd = append(b.authd, user)
	b.mu.Unlock()
	return nil
}

var longPassword = strings.Repeat("p", 600)

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login), which
// go-sasl has only as a client: "Username:", "Password:" challenges.
type loginServer struct {
	b        *recordingBackend
	step     int
	username string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step++; l.step {
	case 1:
		if resp != nil { // initial response: the user name
			l.username = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.b.checkCreds(l.username, string(resp))
	}
}

func startAuth(t *testing.T) *tlsServer {
	srv := startTLS(t)
	srv.be.Mechs = map[string]func() sasl2server{
		sasl.Plain: func() sasl2server {
			return sasl.NewPlainServer(func(_, user, pass string) error { return srv.be.checkCreds(user, pass) })
		},
		sasl.Login: func() sasl2server { return &loginServer{b: srv.be} },
	}
	return srv
}

func TestAuth(t *testing.T) {
	srv := startAuth(t)
	tlsCfg := &tls.Config{RootCAs: srv.CA.Pool()}
	for _, tc := range []struct {
		name string
		auth sasl.Client
	}{
		{"PLAIN", sasl.NewPlainClient("", "me", "secret")},
		{"LOGIN", sasl.NewLoginClient("me", "secret")},
		// Too long for the AUTH line: sent after an empty 334.
		{"PLAIN long", sasl.NewPlainClient("", "me", longPassword)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialT(t, srv.Addr, &Options{TLSConfig: tlsCfg, TLSPolicy: TLSRequired, Auth: tc.auth})
			send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
		})
	}
	srv.be.mu.Lock()
	n := len(srv.be.authd)
	srv.be.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d successful AUTH", n)
	}
}

func TestAuthFailures(t *testing.T) {
	srv := startAuth(t)
	tlsCfg := &tls.Config{RootCAs: srv.CA.Pool()}
	for _, tc := range []struct {
		name   string
		opts   Options
		code   int
		substr string
	}{
		{"bad password", Options{TLSConfig: tlsCfg, Auth: sasl.NewPlainClient("", "me", "wrong")}, 535, ""},
		{"LOGIN bad password", Options{TLSConfig: tlsCfg, Auth: sasl.NewLoginClient("me", "wrong")}, 535, ""},
		{"mechanism not offered", Options{TLSConfig: tlsCfg, Auth: sasl.NewAnonymousClient("x")}, 0, "not offered"},
		// go-smtp offers AUTH only under TLS.
		{"no AUTH in plaintext", Options{TLSPolicy: TLSNone, Auth: sasl.NewPlainClient("", "me", "secret")}, 0, "does not offer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(testCtx(t), srv.Addr, &tc.opts)
			var se *smtp.SMTPError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tc.code != 0 && (!errors.As(err, &se) || se.Code != tc.code || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8})):
				t.Fatalf("err %v", err)
			case tc.substr != "" && !strings.Contains(err.Error(), tc.substr):
				t.Fatalf("err %v", err)
			}
		})
	}
}

// badChallengeClient fails on the server's challenge: the exchange is
// cancelled with "*".
type badChallengeClient struct{}

func (badChallengeClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }
func (badChallengeClient) Next([]byte) ([]byte, error) {
	return nil, errors.New("unexpected challenge")
}

func TestAuthCancelAndChallenges(t *testing.T) {
	var lines []string
	addr := serve(t, func(s *script) {
		s.greet("AUTH PLAIN LOGIN")
		lines = append(lines, s.expect("AUTH LOGIN"))
		s.write("334 VXNlcm5hbWU6\r\n")
		lines = append(lines, s.expect("*"))
		s.write("501 5.0.0 cancelled\r\n")
		s.quit()
	})
	_, err := Dial(testCtx(t), addr, &Options{TLSPolicy: TLSNone, Auth: badChallengeClient{}})
	if err == nil || !strings.Contains(err.Error(), "cancelled: unexpected challenge") {
		t.Fatalf("err %v", err)
	}

	// A challenge that is not base64 is cancelled too; AUTH data is not
	// logged.
	addr = serve(t, func(s *script) {
		s.greet("AUTH LOGIN")
		s.expect("AUTH LOGIN bWU=")
		s.write("334 !!!not base64\r\n")
		s.expect("*")
		s.write("501 5.0.0 cancelled\r\n")
		s.quit()
	})
	var logged strings.Builder
	_, err = Dial(testCtx(t), addr, &Options{TLSPolicy: TLSNone, Auth: sasl.NewLoginClient("me", "secret"), Logger: debugLogger(&logged)})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(logged.String(), "bWU=") || !strings.Contains(logged.String(), "AUTH LOGIN ***") {
		t.Fatalf("log:\n%s", logged.String())
	}
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

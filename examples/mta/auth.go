package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

// users maps a user name to its bcrypt hash (-users FILE, lines
// "user:hash").
type users map[string][]byte

func loadUsers(path string) (users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer f.Close()
	u := users{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("users %s:%d: want user:bcrypt-hash", path, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("users %s:%d: %w", path, n, err)
		}
		u[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return u, nil
}

var errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

// check compares in constant time per bcrypt; an unknown user costs the
// same as a wrong password.
func (u users) check(name, password string) bool {
	hash, ok := u[name]
	if !ok {
		hash = dummyHash
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && ok
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.MinCost)

// AuthMechanisms implements smtp.AuthSession. go-smtp offers AUTH only
// after TLS (RFC 4954 section 4: no plaintext passwords in the clear).
func (s *session) AuthMechanisms() []string {
	if len(s.m.users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession with SASL PLAIN (RFC 4616).
func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || len(s.m.users) == 0 {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errAuthFailed
		}
		if !s.m.users.check(username, password) {
			s.m.log.Warn("authentication failed", "conn", s.connID(), "user", username)
			return errAuthFailed
		}
		s.authUser = username
		s.m.log.Info("authenticated", "conn", s.connID(), "user", username)
		return nil
	}), nil
}

// parsePrefixes reads a comma-separated CIDR list; a bare address is a
// single-host prefix.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// relayAllowed says whether a client may send to non-local recipients
// without authenticating (-relay-from).
func (m *mta) relayAllowed(addr net.Addr) bool {
	ip := remoteIP(addr)
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range m.relayFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

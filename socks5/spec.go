package socks5

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults of Exim's socks_proxy options.
const (
	// DefaultPort is the SOCKS port (RFC 1928 section 3).
	DefaultPort = 1080
	// DefaultTimeout is Exim's tmo default.
	DefaultTimeout = 5 * time.Second
)

// Auth is the authentication method asked of a proxy (RFC 1928 section 3).
type Auth int

const (
	// AuthNone is Exim's auth=none: X'00' NO AUTHENTICATION REQUIRED.
	AuthNone Auth = iota
	// AuthName is Exim's auth=name: X'02' USERNAME/PASSWORD (RFC 1929).
	AuthName
)

func (a Auth) String() string {
	if a == AuthName {
		return "name"
	}
	return "none"
}

// Proxy is one SOCKS5 proxy, with the options of one element of Exim's
// socks_proxy list: "IP [auth=none|name] [name=U] [pass=P] [port=1080]
// [tmo=5] [pri=N] [weight=N]".
type Proxy struct {
	// Host is the proxy's address (Exim requires an IP address; a name
	// is resolved by the forward dialer).
	Host string
	// Port is the proxy's port; 0 means DefaultPort.
	Port int
	// Auth selects the method; Username and Password are RFC 1929's,
	// each 1 to 255 bytes with AuthName.
	Auth     Auth
	Username string
	Password string
	// Timeout (tmo) bounds the whole attempt through this proxy: the
	// connection to it, the negotiation and its CONNECT reply, which
	// comes once the proxy reached the target. 0 means DefaultTimeout.
	Timeout time.Duration
	// Priority (pri): proxies of a higher priority are tried first.
	Priority int
	// Weight: within a priority, proxies are tried in a random order
	// biased by weight (Exim's "selection bias"). When no proxy of the
	// priority sets a weight (all 0), they are tried in list order.
	Weight int
}

// Addr is the proxy's "host:port".
func (p Proxy) Addr() string {
	port := p.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(p.Host, strconv.Itoa(port))
}

func (p Proxy) timeout() time.Duration {
	if p.Timeout <= 0 {
		return DefaultTimeout
	}
	return p.Timeout
}

// String is the proxy in Exim's syntax with the password replaced by
// "***": safe for logs and errors.
func (p Proxy) String() string { return p.spec(true) }

func (p Proxy) spec(redact bool) string {
	var b strings.Builder
	b.WriteString(p.Host)
	if p.Auth == AuthName {
		b.WriteString(" auth=name")
	}
	if p.Username != "" {
		b.WriteString(" name=" + p.Username)
	}
	if p.Password != "" {
		if redact {
			b.WriteString(" pass=***")
		} else {
			b.WriteString(" pass=" + p.Password)
		}
	}
	if p.Port != 0 {
		b.WriteString(" port=" + strconv.Itoa(p.Port))
	}
	if p.Timeout != 0 {
		if p.Timeout%time.Second == 0 {
			b.WriteString(" tmo=" + strconv.Itoa(int(p.Timeout/time.Second)))
		} else {
			b.WriteString(" tmo=" + p.Timeout.String())
		}
	}
	if p.Priority != 0 {
		b.WriteString(" pri=" + strconv.Itoa(p.Priority))
	}
	if p.Weight != 0 {
		b.WriteString(" weight=" + strconv.Itoa(p.Weight))
	}
	return b.String()
}

// ParseProxies parses Exim's socks_proxy value: a list of proxy specs,
// colon-separated, each a space-separated list of an IP address and
// name=value options. As in Exim's lists, "::" stands for a literal colon
// in a colon-separated list ("::::1" is ::1), and a leading "<c" makes c
// the separator instead ("<; ::1 port=1080 ; 192.0.2.1"). An IPv6 address
// may also be given in brackets. tmo is in seconds, or a Go duration
// ("500ms").
func ParseProxies(list string) ([]Proxy, error) {
	var out []Proxy
	for _, item := range splitList(list) {
		if item == "" {
			continue
		}
		p, err := parseProxy(item)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// splitList splits an Exim list (Exim specification chapter 6, "Lists").
func splitList(list string) []string {
	list = strings.TrimSpace(list)
	sep := byte(':')
	if len(list) >= 2 && list[0] == '<' && !isSpace(list[1]) {
		sep, list = list[1], list[2:]
	}
	var items []string
	var cur strings.Builder
	for i := 0; i < len(list); i++ {
		if list[i] != sep {
			cur.WriteByte(list[i])
			continue
		}
		if i+1 < len(list) && list[i+1] == sep {
			cur.WriteByte(sep) // a doubled separator is a literal one
			i++
			continue
		}
		items = append(items, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	return append(items, strings.TrimSpace(cur.String()))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func parseProxy(item string) (Proxy, error) {
	fields := strings.Fields(item)
	host := strings.TrimSuffix(strings.TrimPrefix(fields[0], "["), "]")
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return Proxy{}, fmt.Errorf("socks5: proxy %q: not an IP address", fields[0])
	}
	p := Proxy{Host: ip.String()}
	for _, f := range fields[1:] {
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			return Proxy{}, fmt.Errorf("socks5: proxy %s: option %q is not name=value", p.Host, redactOption(f))
		}
		var err error
		switch name {
		case "auth":
			switch value {
			case "none":
				p.Auth = AuthNone
			case "name":
				p.Auth = AuthName
			default:
				err = fmt.Errorf("auth must be none or name")
			}
		case "name":
			p.Username = value
		case "pass":
			p.Password = value
		case "port":
			p.Port, err = strconv.Atoi(value)
			if err == nil && (p.Port < 1 || p.Port > 65535) {
				err = fmt.Errorf("out of range")
			}
		case "tmo":
			p.Timeout, err = parseTimeout(value)
		case "pri":
			p.Priority, err = strconv.Atoi(value)
		case "weight":
			p.Weight, err = strconv.Atoi(value)
			if err == nil && p.Weight < 0 {
				err = fmt.Errorf("negative")
			}
		default:
			err = fmt.Errorf("unknown option")
		}
		if err != nil {
			return Proxy{}, fmt.Errorf("socks5: proxy %s: option %s: %w", p.Host, redactOption(f), err)
		}
	}
	if p.Auth == AuthName {
		if err := checkCredentials(p); err != nil {
			return Proxy{}, fmt.Errorf("socks5: proxy %s: %w", p.Host, err)
		}
	}
	return p, nil
}

// redactOption keeps a password out of error messages.
func redactOption(f string) string {
	if strings.HasPrefix(f, "pass=") {
		return "pass=***"
	}
	return f
}

// maxTimeout bounds tmo: longer would only hide a dead proxy.
const maxTimeout = time.Hour

func parseTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if n, aerr := strconv.Atoi(v); aerr == nil {
		d, err = time.Duration(n)*time.Second, nil
		if n > int(maxTimeout/time.Second) {
			d = maxTimeout + 1
		}
	}
	if err == nil && (d <= 0 || d > maxTimeout) {
		err = fmt.Errorf("must be between 0 and %v", maxTimeout)
	}
	return d, err
}

// checkCredentials applies RFC 1929 section 2: UNAME and PASSWD are 1 to
// 255 octets.
func checkCredentials(p Proxy) error {
	if len(p.Username) < 1 || len(p.Username) > 255 {
		return fmt.Errorf("RFC 1929 username must be 1 to 255 bytes, not %d", len(p.Username))
	}
	if len(p.Password) < 1 || len(p.Password) > 255 {
		return fmt.Errorf("RFC 1929 password must be 1 to 255 bytes, not %d", len(p.Password))
	}
	return nil
}

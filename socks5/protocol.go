package socks5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
)

// Protocol constants of RFC 1928 and RFC 1929.
const (
	version5      = 0x05 // RFC 1928 section 3: VER
	methodNone    = 0x00 // NO AUTHENTICATION REQUIRED
	methodName    = 0x02 // USERNAME/PASSWORD
	methodNoneOK  = 0xFF // NO ACCEPTABLE METHODS
	authVersion   = 0x01 // RFC 1929 section 2: VER of the subnegotiation
	cmdConnect    = 0x01 // RFC 1928 section 4: CONNECT
	atypIPv4      = 0x01 // RFC 1928 section 5
	atypDomain    = 0x03
	atypIPv6      = 0x04
	maxDomainName = 255 // one octet of length (section 5)
)

// Reply is the REP field of a proxy's reply (RFC 1928 section 6); a
// reply other than ReplySucceeded is the error of the attempt, so
// errors.As finds it.
type Reply byte

// The replies of RFC 1928 section 6.
const (
	ReplySucceeded           Reply = 0x00
	ReplyGeneralFailure      Reply = 0x01
	ReplyNotAllowed          Reply = 0x02
	ReplyNetworkUnreachable  Reply = 0x03
	ReplyHostUnreachable     Reply = 0x04
	ReplyConnectionRefused   Reply = 0x05
	ReplyTTLExpired          Reply = 0x06
	ReplyCommandNotSupported Reply = 0x07
	ReplyAddressNotSupported Reply = 0x08
)

var replyText = [...]string{
	"succeeded",
	"general SOCKS server failure",
	"connection not allowed by ruleset",
	"network unreachable",
	"host unreachable",
	"connection refused",
	"TTL expired",
	"command not supported",
	"address type not supported",
}

func (r Reply) Error() string {
	if int(r) < len(replyText) {
		return fmt.Sprintf("%s (reply %d)", replyText[r], byte(r))
	}
	return fmt.Sprintf("unassigned reply %d", byte(r))
}

var (
	// ErrNoAcceptableMethod: the proxy refused the offered
	// authentication method (X'FF', RFC 1928 section 3).
	ErrNoAcceptableMethod = errors.New("no acceptable authentication method")
	// ErrAuthRefused: the proxy refused the username and password
	// (RFC 1929 section 2, STATUS other than X'00').
	ErrAuthRefused = errors.New("username/password refused")
	// ErrProtocol: the proxy's answer does not follow RFC 1928.
	ErrProtocol = errors.New("SOCKS5 protocol violation")
)

// Error is the failure of one proxy: which, at which step, and why.
// It never holds the password.
type Error struct {
	// Proxy is the proxy's "host:port".
	Proxy string
	// Step is "connect" (TCP to the proxy), "method" (RFC 1928
	// section 3), "auth" (RFC 1929) or "request" (the CONNECT of RFC
	// 1928 section 4 and its reply).
	Step string
	// Err is the cause: a network error, ErrNoAcceptableMethod,
	// ErrAuthRefused, ErrProtocol or a Reply.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("socks5: proxy %s: %s: %v", e.Proxy, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// negotiate runs the client side of RFC 1928 (and RFC 1929 with
// AuthName) on conn, asking the proxy to CONNECT to host:port. It
// returns the address the proxy bound for that connection (BND.ADDR and
// BND.PORT, section 6).
func negotiate(conn net.Conn, p Proxy, host string, port int) (bound string, step string, err error) {
	// Section 3: the version identifier/method selection message,
	// offering only the configured method.
	method := byte(methodNone)
	if p.Auth == AuthName {
		method = methodName
	}
	if _, err := conn.Write([]byte{version5, 1, method}); err != nil {
		return "", "method", err
	}
	var sel [2]byte
	if _, err := io.ReadFull(conn, sel[:]); err != nil {
		return "", "method", err
	}
	switch {
	case sel[0] != version5:
		return "", "method", fmt.Errorf("%w: version %d", ErrProtocol, sel[0])
	case sel[1] == methodNoneOK:
		return "", "method", fmt.Errorf("%w (offered %s)", ErrNoAcceptableMethod, p.Auth)
	case sel[1] != method:
		return "", "method", fmt.Errorf("%w: method %d was not offered", ErrProtocol, sel[1])
	}
	if method == methodName {
		if err := checkCredentials(p); err != nil {
			return "", "auth", err
		}
		// RFC 1929 section 2: VER ULEN UNAME PLEN PASSWD.
		msg := make([]byte, 0, 3+len(p.Username)+len(p.Password))
		msg = append(msg, authVersion, byte(len(p.Username)))
		msg = append(msg, p.Username...)
		msg = append(msg, byte(len(p.Password)))
		msg = append(msg, p.Password...)
		if _, err := conn.Write(msg); err != nil {
			return "", "auth", err
		}
		var st [2]byte
		if _, err := io.ReadFull(conn, st[:]); err != nil {
			return "", "auth", err
		}
		if st[0] != authVersion {
			// VER "contains the current version of the
			// subnegotiation, which is X'01'".
			return "", "auth", fmt.Errorf("%w: status version %d", ErrProtocol, st[0])
		}
		if st[1] != 0 {
			// "A STATUS field of X'00' indicates success"; anything
			// else is a failure and the server closes.
			return "", "auth", fmt.Errorf("%w (status %d)", ErrAuthRefused, st[1])
		}
	}

	// Section 4: VER CMD RSV ATYP DST.ADDR DST.PORT.
	req := []byte{version5, cmdConnect, 0}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		if ip.Is4() || ip.Is4In6() {
			a := ip.Unmap().As4()
			req = append(append(req, atypIPv4), a[:]...)
		} else {
			a := ip.As16()
			req = append(append(req, atypIPv6), a[:]...)
		}
	} else {
		if len(host) == 0 || len(host) > maxDomainName {
			return "", "request", fmt.Errorf("host name of %d bytes (RFC 1928 section 5: 1 to 255)", len(host))
		}
		req = append(append(req, atypDomain, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := conn.Write(req); err != nil {
		return "", "request", err
	}

	// Section 6: VER REP RSV ATYP BND.ADDR BND.PORT.
	var head [4]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return "", "request", err
	}
	if head[0] != version5 {
		return "", "request", fmt.Errorf("%w: reply version %d", ErrProtocol, head[0])
	}
	if rep := Reply(head[1]); rep != ReplySucceeded {
		return "", "request", rep
	}
	var addrLen int
	switch head[3] {
	case atypIPv4:
		addrLen = 4
	case atypIPv6:
		addrLen = 16
	case atypDomain:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return "", "request", err
		}
		addrLen = int(l[0])
	default:
		return "", "request", fmt.Errorf("%w: address type %d", ErrProtocol, head[3])
	}
	rest := make([]byte, addrLen+2)
	if _, err := io.ReadFull(conn, rest); err != nil {
		return "", "request", err
	}
	bport := strconv.Itoa(int(binary.BigEndian.Uint16(rest[addrLen:])))
	var bhost string
	switch head[3] {
	case atypIPv4:
		bhost = netip.AddrFrom4([4]byte(rest[:4])).String()
	case atypIPv6:
		// An IPv4-mapped address (a dual-stack proxy's socket to an
		// IPv4 target) is reported as the IPv4 address the target sees.
		bhost = netip.AddrFrom16([16]byte(rest[:16])).Unmap().String()
	default:
		// Section 5: "a fully-qualified domain name", which BoundAddr
		// reports as the host of "host:port".
		if !domainName(rest[:addrLen]) {
			return "", "request", fmt.Errorf("%w: BND.ADDR %q is no domain name", ErrProtocol, rest[:addrLen])
		}
		bhost = string(rest[:addrLen])
	}
	return net.JoinHostPort(bhost, bport), "", nil
}

// domainName reports whether b can be a host name: one or more octets of
// letters, digits, hyphens, dots and underscores.
func domainName(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	pp "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// maxV1Header is the longest v1 header, CRLF included (PROXY protocol
// spec section 2.1: "a receiver knows it needs to read at most 107 bytes").
const maxV1Header = 107

// ErrNoHeader is wrapped by the negotiation error of a required host that
// sent something other than a PROXY header.
var ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")

// TLV is one type-length-value record of a v2 header (spec section 2.2).
// Type codes are the spec's PP2_TYPE_* values, such as 0x02 for
// PP2_TYPE_AUTHORITY and 0x20 for PP2_TYPE_SSL.
type TLV struct {
	Type  byte
	Value []byte
}

// TLV types of the spec (section 2.2) that Info decodes.
const (
	TypeALPN      = 0x01 // PP2_TYPE_ALPN
	TypeAuthority = 0x02 // PP2_TYPE_AUTHORITY
	TypeUniqueID  = 0x05 // PP2_TYPE_UNIQUE_ID
	TypeSSL       = 0x20 // PP2_TYPE_SSL
)

// SSL is the PP2_TYPE_SSL record (spec section 2.2.5): what the proxy
// knows of the TLS session it terminated with the client.
type SSL struct {
	// ClientSSL is PP2_CLIENT_SSL: the client connected over TLS.
	ClientSSL bool
	// ClientCert is PP2_CLIENT_CERT_CONN or PP2_CLIENT_CERT_SESS: the
	// client presented a certificate.
	ClientCert bool
	// Verified is true when the verify field is zero: the client
	// presented a certificate and the proxy verified it.
	Verified bool
	// Version (PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3"), Cipher
	// (PP2_SUBTYPE_SSL_CIPHER), SigAlg, KeyAlg and the client
	// certificate's CommonName (PP2_SUBTYPE_SSL_CN), when sent.
	Version, Cipher, SigAlg, KeyAlg, CommonName string
}

// Info is what a connection's PROXY header said, named after Exim's
// $proxy_* variables.
type Info struct {
	// Required is true when the connection came from a host of the
	// required-hosts policy, so a header was expected.
	Required bool
	// Proxied is Exim's $proxy_session: a valid header was received
	// from a required host.
	Proxied bool
	// Version is the protocol version of the header, 1 or 2; 0 without
	// a header.
	Version int
	// Local is true for a header that carries no client: the v2 LOCAL
	// command (spec section 2.2: health checks of the proxy itself), v1
	// "UNKNOWN" (section 2.1), or a v2 family other than TCP over IPv4
	// or IPv6 (UNSPEC, UDP, UNIX). The socket's addresses are then kept,
	// as the spec asks. A LOCAL header's block (addresses and TLVs) is
	// skipped unread, whatever it holds, and so is its family byte.
	Local bool
	// ClientAddr is the original client: the header's source address
	// when Proxied and not Local, else the socket's remote address.
	ClientAddr netip.AddrPort
	// TargetAddr is Exim's $proxy_target_address and _port: the address
	// the client connected to at the proxy (the header's destination),
	// else the socket's local address.
	TargetAddr netip.AddrPort
	// ProxyAddr is Exim's $proxy_host_address and _port: the socket's
	// remote end, the proxy itself when Proxied.
	ProxyAddr netip.AddrPort
	// TLVs are the v2 header's records in order, PP2_TYPE_NOOP included
	// (with an empty Value); none for LOCAL.
	TLVs []TLV
	// Authority is PP2_TYPE_AUTHORITY (spec section 2.2.2): the host
	// name the client asked for, typically its TLS SNI.
	Authority string
	// SSL is PP2_TYPE_SSL decoded, nil when absent or malformed.
	SSL *SSL
	// Err is why a required host's negotiation failed (no header in
	// time, or an invalid one); nil otherwise. Exim then refuses every
	// command but QUIT (see NewBackend).
	Err error
}

// Failed reports whether a required host failed the negotiation.
func (i Info) Failed() bool { return i.Err != nil }

// FindTLV returns the value of the first TLV of type typ.
func (i Info) FindTLV(typ byte) ([]byte, bool) {
	for _, t := range i.TLVs {
		if t.Type == typ {
			return t.Value, true
		}
	}
	return nil, false
}

// readHeader reads one PROXY header from br, v1 or v2, and fills the
// header part of info. Parsing is go-proxyproto's; before it, a v1 line is
// gathered in full (see peekV1Line). It never reads past the header.
func readHeader(br *bufio.Reader, info *Info) error {
	b, err := br.Peek(1)
	if err != nil {
		return err
	}
	switch b[0] {
	case 'P':
		if err := peekV1Line(br); err != nil {
			return err
		}
	case v2Signature[0]:
		if local, err := skipV2Local(br); local || err != nil {
			if err == nil {
				info.Version, info.Local = 2, true
			}
			return err
		}
	}
	h, err := pp.Read(br)
	if err != nil {
		if errors.Is(err, pp.ErrNoProxyProtocol) {
			return ErrNoHeader
		}
		return fmt.Errorf("proxyproto: invalid header: %w", err)
	}
	return fillInfo(h, info)
}

// v2Signature opens a v2 header (spec section 2.2).
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// skipV2Local consumes a v2 header with the LOCAL command, reporting
// whether there was one. Spec section 2.2: for LOCAL "the receiver must
// accept this connection as valid and must use the real connection
// endpoints and discard the protocol block including the family which is
// ignored", so the family byte and the block's len bytes are skipped
// unread, whatever they hold. The block has the bound of every v2 header,
// pp.MaxV2HeaderSize.
func skipV2Local(br *bufio.Reader) (bool, error) {
	b, err := br.Peek(len(v2Signature))
	if err != nil || !bytes.Equal(b, v2Signature) {
		return false, nil // pp.Read tells what it is
	}
	if b, err = br.Peek(16); err != nil || b[12] != 0x20 { // version 2, LOCAL
		return false, nil
	}
	n := binary.BigEndian.Uint16(b[14:16])
	if n > pp.MaxV2HeaderSize {
		return true, fmt.Errorf("proxyproto: invalid header: LOCAL block of %d bytes, over %d", n, pp.MaxV2HeaderSize)
	}
	if _, err := br.Discard(16 + int(n)); err != nil {
		return true, fmt.Errorf("proxyproto: invalid header: LOCAL block cut short: %w", err)
	}
	return true, nil
}

// peekV1Line waits until the whole v1 line is buffered: go-proxyproto
// fails a v1 header that arrives in several TCP segments, and the spec
// (section 2.1) recommends receivers to be tolerant of partial headers.
// The read deadline set by the caller bounds the wait.
func peekV1Line(br *bufio.Reader) error {
	for {
		n := br.Buffered()
		b, _ := br.Peek(n)
		if bytes.IndexByte(b, '\n') >= 0 || n >= maxV1Header {
			return nil
		}
		if _, err := br.Peek(n + 1); err != nil {
			return err
		}
	}
}

func fillInfo(h *pp.Header, info *Info) error {
	info.Version = int(h.Version)
	switch {
	case h.Command.IsLocal():
		// skipV2Local took every LOCAL header; never believe the
		// addresses of one.
		info.Local = true
		return nil
	case h.TransportProtocol == pp.TCPv4 || h.TransportProtocol == pp.TCPv6:
		src, dst, ok := h.TCPAddrs()
		if !ok {
			return fmt.Errorf("proxyproto: header without TCP addresses")
		}
		info.ClientAddr = addrPort(src)
		info.TargetAddr = addrPort(dst)
	default:
		// v1 UNKNOWN (section 2.1) and v2 UNSPEC, UDP or UNIX
		// (section 2.2): keep the socket's addresses.
		info.Local = true
	}
	if h.Version != 2 {
		return nil
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return fmt.Errorf("proxyproto: invalid TLVs: %w", err)
	}
	for _, t := range tlvs {
		info.TLVs = append(info.TLVs, TLV{Type: byte(t.Type), Value: t.Value})
		if t.Type == pp.PP2_TYPE_AUTHORITY && info.Authority == "" {
			info.Authority = string(t.Value)
		}
	}
	if s, ok := tlvparse.FindSSL(tlvs); ok {
		info.SSL = &SSL{
			ClientSSL:  s.ClientSSL(),
			ClientCert: s.ClientCertConn() || s.ClientCertSess(),
			Verified:   s.Verified(),
		}
		info.SSL.Version, _ = s.SSLVersion()
		info.SSL.Cipher, _ = s.SSLCipher()
		info.SSL.SigAlg, _ = s.SSLSigAlg()
		info.SSL.KeyAlg, _ = s.SSLKeyAlg()
		info.SSL.CommonName, _ = s.ClientCN()
	}
	return nil
}

// addrPort converts a net.Addr of the TCP family; IPv4-mapped IPv6
// addresses are unmapped so that policy and logs see plain IPv4.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	case nil:
		return netip.AddrPort{}
	default:
		ap, _ := netip.ParseAddrPort(a.String())
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}

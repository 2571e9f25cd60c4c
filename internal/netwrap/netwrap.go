// Package netwrap finds what lies below a wrapped net.Conn.
//
// smtpkit's wrappers (PROXY listener, TLS front, idle-timeout conns) expose
// the connection they wrap with NetConn() net.Conn and, where they terminate
// TLS, the TLS state with ConnectionState() tls.ConnectionState: the same
// methods *tls.Conn has. Packages walk that chain instead of asserting on
// concrete types, so any number of wrappers may stack in any order.
package netwrap

import (
	"crypto/tls"
	"net"
)

// maxDepth bounds the walk so that a wrapper returning itself cannot loop.
const maxDepth = 32

// Unwrapper is the method *tls.Conn and smtpkit's wrappers share.
type Unwrapper interface {
	NetConn() net.Conn
}

// TLSStater is the method *tls.Conn and smtpkit's TLS-terminating wrappers
// share.
type TLSStater interface {
	ConnectionState() tls.ConnectionState
}

// Find returns the first connection in the chain starting at c (c itself
// included) that has type T, walking NetConn().
func Find[T any](c net.Conn) (T, bool) {
	for i := 0; c != nil && i < maxDepth; i++ {
		if t, ok := c.(T); ok {
			return t, true
		}
		u, ok := c.(Unwrapper)
		if !ok {
			break
		}
		c = u.NetConn()
	}
	var zero T
	return zero, false
}

// TLSState returns the TLS state of the outermost TLS layer in c's chain.
// ok is false when no layer terminates TLS or the handshake has not
// completed.
func TLSState(c net.Conn) (state tls.ConnectionState, ok bool) {
	s, found := Find[TLSStater](c)
	if !found {
		return tls.ConnectionState{}, false
	}
	state = s.ConnectionState()
	return state, state.HandshakeComplete
}

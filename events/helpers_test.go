package events_test

import (
	"crypto/tls"
	"log/slog"
)

var discard = slog.New(slog.DiscardHandler)

func tlsState() tls.ConnectionState { return tls.ConnectionState{} }

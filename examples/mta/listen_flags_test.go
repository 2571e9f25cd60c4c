package main

import (
	"io"
	"testing"
	"time"
)

func TestListenFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnections != 1000 || cfg.MaxConnectionsPerHost != 50 || cfg.DataTimeout != time.Hour {
		t.Fatalf("defaults: %d %d %v", cfg.MaxConnections, cfg.MaxConnectionsPerHost, cfg.DataTimeout)
	}
	cfg, err = parseFlags([]string{"-max-connections", "0", "-max-connections-per-host", "0", "-data-timeout", "90s"}, io.Discard)
	if err != nil || cfg.MaxConnections != 0 || cfg.MaxConnectionsPerHost != 0 || cfg.DataTimeout != 90*time.Second {
		t.Fatalf("no limits: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"-max-connections", "-1"},
		{"-max-connections-per-host", "-1"},
		{"-data-timeout", "0s"},
		{"-data-timeout", "-1m"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

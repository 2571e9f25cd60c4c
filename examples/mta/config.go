package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/ocsp"
	"github.com/smtpkit/smtpkit/proxyproto"
	"github.com/smtpkit/smtpkit/socks5"
	"github.com/smtpkit/smtpkit/spf"
)

// Defaults for the limits; each has a flag.
const (
	// RFC 5321 section 4.5.3.1.8: at least 100 recipients must be buffered.
	defaultMaxRecipients = 100
	defaultMaxSize       = 50 << 20
	// RFC 5321 section 4.5.3.2.7: the server timeout is at least 5 minutes.
	defaultIdleTimeout   = 5 * time.Minute
	defaultShutdownGrace = 10 * time.Second
	// RFC 5321 section 6.3: a loop is detected by counting Received
	// fields; Exim's received_headers_max is 30.
	defaultMaxReceived = 30
	// Exim's header_maxsize: the header section of a message, 1 MiB.
	defaultHeaderMax = 1 << 20
	// Exim's hosts_max_try.
	defaultHostsMaxTry = 5
)

// Defaults for the inbound connection limits, after Exim's smtp_accept_max
// and smtp_accept_max_per_host, and for the data phase: Exim bounds each
// data line with smtp_receive_timeout (our -idle-timeout); the message as
// a whole gets an hour, sendmail's Timeout.datablock.
const (
	defaultMaxConnections        = 1000
	defaultMaxConnectionsPerHost = 50
	defaultDataTimeout           = time.Hour
)

// config is what the flags say; newMTA turns it into a running server.
type config struct {
	Listen        string
	Hostname      string
	DataDir       string
	LocalDomains  []string
	TLSCert       string
	TLSKey        string
	DNS           string
	LogLevel      slog.Level
	Quota         int64
	Mailboxes     string
	MaxSize       int64
	MaxRecipients int
	IdleTimeout   time.Duration
	ShutdownGrace time.Duration

	// Relay.
	RelayFrom     []netip.Prefix
	Users         string
	Smarthost     string
	SmarthostUser string
	SmarthostPass string
	RemotePort    int
	Retry         []time.Duration
	MaxAge        time.Duration
	MaxDeliveries int

	// SPF.
	SPF       bool
	SPFReject spf.Condition
	SPFDefer  spf.Condition

	// DMARC.
	DMARC         bool
	DMARCHistory  string
	DMARCReports  bool
	DMARCForensic bool
	// DMARCDeliverNoFrom delivers messages without a usable From domain.
	DMARCDeliverNoFrom bool

	// PROXY protocol and SOCKS.
	ProxyRequiredHosts []netip.Prefix
	ProxyTimeout       time.Duration
	Socks              []socks5.Proxy

	// DANE and OCSP.
	DANE        dane.Mode // outbound by MX
	DNSTrusted  bool      // believe the AD bit of a non-loopback -dns
	OCSPFile    string    // staple for the server certificate
	OCSPRefresh bool      // keep OCSPFile fresh from the responder
	OCSP        ocsp.Mode // outbound: what to ask of a server's staple

	// Events.
	EventsDB          string // sqlite:PATH or postgres://...
	EventsLog         bool
	EventsDenyConnect []netip.Prefix
	// SMTPUTF8 and REQUIRETLS.
	SMTPUTF8   bool // advertise SMTPUTF8, relay internationalised mail
	RequireTLS bool // advertise REQUIRETLS after STARTTLS, honour it on relay

	// eventHandlers are more event handlers, after the flags' ones: a
	// program that embeds the MTA (its tests) adds its own policy here.
	eventHandlers []events.Handler
	// relayRoots verify the certificates of the hosts the relay sends
	// to, where it checks them (REQUIRETLS); nil means the system's.
	relayRoots *x509.CertPool

	// ARC.
	ARCVerify  bool
	ARCTrusted []string
	ARCSign    *arcSigner

	// PRDR and PIPECONNECT: the server runs behind the front.
	PRDR        bool
	PipeConnect bool

	// Inbound connection handling.
	MaxConnections        int           // 0: no limit
	MaxConnectionsPerHost int           // per client IP; 0: no limit
	DataTimeout           time.Duration // a message's whole data phase
	// Mail loops and relay limits.
	MaxReceived int    // refuse a message with more Received fields (Exim received_headers_max)
	HeaderMax   int    // refuse a message whose header section is larger (Exim header_maxsize)
	HostsMaxTry int    // most addresses tried per delivery attempt (Exim hosts_max_try)
	SmarthostCA string // PEM roots for the -smarthost certificate; "" means the system's
}

// parseFlags reads the command line. The flag names are a contract, documented in the README,
// that later features extend.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("mta", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	var domains, level, relayFrom, smarthostAuth, retry, maxAge, proxyHosts, socks, daneMode, ocspMode, denyConnect string
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:2525", "address to listen on for SMTP")
	fs.StringVar(&cfg.Hostname, "hostname", host, "this MTA's host name (banner, Received, certificate)")
	fs.StringVar(&cfg.DataDir, "data", "./mta-data", "data folder: maildir/, tls/")
	fs.StringVar(&domains, "local-domains", "", "comma-separated local domains (default: localhost and the hostname)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain file (default: generated under DATA/tls)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file for -tls-cert")
	fs.StringVar(&cfg.DNS, "dns", "", "DNS server host:port (default: from /etc/resolv.conf)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.Int64Var(&cfg.Quota, "quota", 0, "per-mailbox quota in bytes, 0 for none (DATA/maildir/<rcpt>/quota overrides)")
	fs.StringVar(&cfg.Mailboxes, "mailboxes", "", "file of accepted local addresses, one per line (default: any local part)")
	fs.Int64Var(&cfg.MaxSize, "max-size", defaultMaxSize, "largest message accepted, in bytes")
	fs.IntVar(&cfg.MaxRecipients, "max-recipients", defaultMaxRecipients, "most recipients per message")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", defaultIdleTimeout, "longest wait for each command line, and for each read of message data; then 421 and close")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", defaultShutdownGrace, "on SIGINT/SIGTERM, how long open sessions may go on")
	fs.StringVar(&relayFrom, "relay-from", "127.0.0.0/8,::1/128", "CIDRs that may relay without AUTH (empty: none)")
	fs.StringVar(&cfg.Users, "users", "", "file of user:bcrypt-hash lines for SMTP AUTH PLAIN over TLS")
	fs.StringVar(&cfg.Smarthost, "smarthost", "", "HOST:PORT to relay all outbound mail through, instead of MX lookups")
	fs.StringVar(&smarthostAuth, "smarthost-auth", "", "user:pass for AUTH PLAIN at the smarthost (requires its STARTTLS)")
	fs.IntVar(&cfg.RemotePort, "remote-port", 25, "TCP port of remote MX hosts")
	fs.StringVar(&retry, "retry", "1m,5m,30m,2h,4h", "waits between delivery attempts; the last one repeats")
	fs.StringVar(&maxAge, "max-age", "5d", "give up on a message this old and send a DSN (units s, m, h, d)")
	fs.IntVar(&cfg.MaxDeliveries, "max-deliveries", 20, "most deliveries under way at once")
	fs.BoolVar(&cfg.SPF, "spf", false, "check SPF at MAIL FROM and add Received-SPF")
	fs.TextVar(&cfg.SPFReject, "spf-reject", spf.Condition{}, "with -spf, refuse (550) results matching this Exim list, e.g. fail")
	fs.TextVar(&cfg.SPFDefer, "spf-defer", spf.Condition{}, "with -spf, defer (451) results matching this Exim list, e.g. temperror")
	fs.BoolVar(&cfg.DMARC, "dmarc", false, "evaluate DMARC (turns on -spf), add Authentication-Results, reject p=reject, file p=quarantine in .Junk")
	fs.StringVar(&cfg.DMARCHistory, "dmarc-history", "", "with -dmarc, append OpenDMARC history records to this file")
	fs.BoolVar(&cfg.DMARCReports, "dmarc-reports", false, "with -dmarc-history, send aggregate reports daily through the relay queue")
	fs.BoolVar(&cfg.DMARCForensic, "dmarc-forensic", false, "with -dmarc, send failure reports (ruf=) where records ask for them")
	fs.BoolVar(&cfg.DMARCDeliverNoFrom, "dmarc-deliver-nofrom", false, "with -dmarc, deliver messages with no From field or no usable From domain (default: refused with 550 5.7.1)")
	fs.StringVar(&proxyHosts, "proxy-required-hosts", "", "CIDRs whose connections must start with a PROXY v1/v2 header (Exim proxy_required_hosts)")
	fs.DurationVar(&cfg.ProxyTimeout, "proxy-timeout", proxyproto.DefaultTimeout, "how long a required host has to send its PROXY header")
	fs.StringVar(&socks, "socks", "", "deliver outbound through these SOCKS5 proxies, Exim socks_proxy syntax: \"IP [auth=name] [name=U] [pass=P] [port=1080] [tmo=5] : ...\"")
	fs.StringVar(&daneMode, "dane", "off", "DANE for delivery by MX: off, try (Exim hosts_try_dane) or require (hosts_require_dane); TLSA lookups through -dns, which must validate DNSSEC")
	fs.BoolVar(&cfg.DNSTrusted, "dns-trusted", false, "believe the AD bit of a -dns resolver that is not on loopback (it validates, and the path to it is secure)")
	fs.StringVar(&cfg.OCSPFile, "ocsp-file", "", "staple the DER OCSP response in this file to the server certificate (Exim tls_ocsp_file)")
	fs.BoolVar(&cfg.OCSPRefresh, "ocsp-refresh", false, "with -ocsp-file, fetch the response from the certificate's OCSP responder and keep the file fresh")
	fs.StringVar(&ocspMode, "ocsp", "off", "outbound OCSP: off, request (hosts_request_ocsp) or require (hosts_require_ocsp); with DANE, only for DANE-TA records")
	fs.StringVar(&cfg.EventsDB, "events-db", "", "record delivery events in sqlite:PATH or a postgres:// URL")
	fs.BoolVar(&cfg.EventsLog, "events-log", false, "log every delivery event (Exim event_action) as a line")
	fs.StringVar(&denyConnect, "events-deny-connect", "", "CIDRs to which no outbound connection is made (a tcp:connect veto)")
	fs.BoolVar(&cfg.SMTPUTF8, "smtputf8", false, "advertise SMTPUTF8 (RFC 6531): UTF-8 addresses and headers, relayed with SMTPUTF8 or downgraded (Exim smtputf8_advertise_hosts)")
	fs.BoolVar(&cfg.RequireTLS, "requiretls", false, "advertise REQUIRETLS after STARTTLS (RFC 8689) and relay such messages only over authenticated TLS")
	var arcTrusted, arcSign string
	fs.BoolVar(&cfg.ARCVerify, "arc-verify", false, "verify ARC chains (package arc), add arc= to Authentication-Results (turns on -spf and DMARC evaluation)")
	fs.StringVar(&arcTrusted, "arc-trusted", "", "with -arc-verify, comma-separated sealer domains whose passing chain overrides a DMARC failure")
	fs.StringVar(&arcSign, "arc-sign", "", "seal relayed mail that carries our Authentication-Results: ADMD:SELECTOR:KEYFILE[:timestamps,expire,expire+N,expire=N] (Exim arc_sign)")
	fs.BoolVar(&cfg.PRDR, "prdr", false, "PRDR on both sides: per-recipient replies after the data (quota decided then), and PRDR requested when relaying (Exim prdr_enable, hosts_try_prdr)")
	fs.BoolVar(&cfg.PipeConnect, "pipeconnect", false, "PIPECONNECT on both sides: early input from clients, early EHLO to servers that offered it (EHLO cache under DATA)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", defaultMaxConnections, "most inbound connections open at once, 0 for no limit; more get 421 4.7.0 (Exim smtp_accept_max)")
	fs.IntVar(&cfg.MaxConnectionsPerHost, "max-connections-per-host", defaultMaxConnectionsPerHost, "most inbound connections open at once from one client IP (the proxied client behind PROXY), 0 for no limit (Exim smtp_accept_max_per_host)")
	fs.DurationVar(&cfg.DataTimeout, "data-timeout", defaultDataTimeout, "longest a message's data may take to arrive; each read of it still waits at most -idle-timeout")
	fs.IntVar(&cfg.MaxReceived, "max-received", defaultMaxReceived, "refuse at the end of data (554 5.4.6) a message that already has more Received fields (Exim received_headers_max)")
	fs.IntVar(&cfg.HeaderMax, "header-maxsize", defaultHeaderMax, "refuse at the end of data (552 5.3.4) a message whose header section is larger than this many bytes (Exim header_maxsize)")
	fs.IntVar(&cfg.HostsMaxTry, "hosts-max-try", defaultHostsMaxTry, "most host addresses tried per delivery attempt (Exim hosts_max_try)")
	fs.StringVar(&cfg.SmarthostCA, "smarthost-ca", "", "PEM file of the CAs that -smarthost-auth trusts for the smarthost's certificate (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	cfg.Hostname = normalizeDomain(cfg.Hostname)
	cfg.Hostname = aLabel(cfg.Hostname) // banner, EHLO and certificate use A-labels
	if cfg.Hostname == "" {
		return cfg, errors.New("-hostname must not be empty")
	}
	if domains == "" {
		cfg.LocalDomains = []string{"localhost", cfg.Hostname}
	} else {
		for _, d := range strings.Split(domains, ",") {
			if d = aLabelDomain(d); d != "" {
				cfg.LocalDomains = append(cfg.LocalDomains, d)
			}
		}
	}
	var err error
	if cfg.RelayFrom, err = parsePrefixes(relayFrom); err != nil {
		return cfg, fmt.Errorf("-relay-from: %w", err)
	}
	if smarthostAuth != "" {
		var ok bool
		if cfg.SmarthostUser, cfg.SmarthostPass, ok = strings.Cut(smarthostAuth, ":"); !ok || cfg.Smarthost == "" {
			return cfg, errors.New("-smarthost-auth wants user:pass, with -smarthost")
		}
	}
	switch {
	case cfg.MaxReceived <= 0:
		return cfg, errors.New("-max-received must be positive")
	case cfg.HostsMaxTry <= 0:
		return cfg, errors.New("-hosts-max-try must be positive")
	case cfg.SmarthostCA != "" && cfg.SmarthostUser == "":
		return cfg, errors.New("-smarthost-ca verifies the smarthost for -smarthost-auth")
	}
	if cfg.Smarthost != "" {
		if _, _, err := net.SplitHostPort(cfg.Smarthost); err != nil {
			return cfg, fmt.Errorf("-smarthost: %w", err)
		}
	}
	for _, f := range strings.Split(retry, ",") {
		d, err := parseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("-retry: %q is not a positive duration", f)
		}
		cfg.Retry = append(cfg.Retry, d)
	}
	if cfg.MaxAge, err = parseDuration(maxAge); err != nil || cfg.MaxAge <= 0 {
		return cfg, fmt.Errorf("-max-age: %q is not a positive duration", maxAge)
	}
	if cfg.RemotePort <= 0 || cfg.RemotePort > 65535 {
		return cfg, errors.New("-remote-port must be a TCP port")
	}
	if cfg.MaxDeliveries <= 0 {
		return cfg, errors.New("-max-deliveries must be positive")
	}
	if proxyHosts != "" {
		if cfg.ProxyRequiredHosts, err = proxyproto.ParseHosts(proxyHosts); err != nil {
			return cfg, fmt.Errorf("-proxy-required-hosts: %w", err)
		}
	}
	if cfg.ProxyTimeout <= 0 {
		return cfg, errors.New("-proxy-timeout must be positive")
	}
	if socks != "" {
		if cfg.Socks, err = socks5.ParseProxies(socks); err != nil {
			return cfg, fmt.Errorf("-socks: %w", err)
		}
	}
	if cfg.DANE, err = dane.ParseMode(daneMode); err != nil {
		return cfg, fmt.Errorf("-dane: %w", err)
	}
	if cfg.DANE != dane.Off && cfg.Smarthost != "" {
		return cfg, errors.New("-dane applies to delivery by MX, not through -smarthost")
	}
	if cfg.OCSP, err = ocsp.ParseMode(ocspMode); err != nil {
		return cfg, fmt.Errorf("-ocsp: %w", err)
	}
	if cfg.OCSPFile != "" && cfg.TLSCert == "" {
		return cfg, errors.New("-ocsp-file staples for -tls-cert, a certificate from a CA")
	}
	if cfg.OCSPRefresh && cfg.OCSPFile == "" {
		return cfg, errors.New("-ocsp-refresh maintains the -ocsp-file")
	}
	if denyConnect != "" {
		if cfg.EventsDenyConnect, err = parsePrefixes(denyConnect); err != nil {
			return cfg, fmt.Errorf("-events-deny-connect: %w", err)
		}
	}
	for _, d := range strings.Split(arcTrusted, ",") {
		if d = normalizeDomain(d); d != "" {
			cfg.ARCTrusted = append(cfg.ARCTrusted, d)
		}
	}
	if len(cfg.ARCTrusted) > 0 && !cfg.ARCVerify {
		return cfg, errors.New("-arc-trusted needs -arc-verify")
	}
	if arcSign != "" {
		if cfg.ARCSign, err = parseARCSign(arcSign); err != nil {
			return cfg, fmt.Errorf("-arc-sign: %w", err)
		}
	}
	if cfg.DMARC || cfg.ARCVerify {
		cfg.SPF = true // DMARC needs the SPF result
	}
	if (cfg.DMARCHistory != "" || cfg.DMARCReports || cfg.DMARCForensic) && !cfg.DMARC {
		return cfg, errors.New("-dmarc-history, -dmarc-reports and -dmarc-forensic need -dmarc")
	}
	if cfg.DMARCReports && cfg.DMARCHistory == "" {
		return cfg, errors.New("-dmarc-reports reads the -dmarc-history file")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, errors.New("-tls-cert and -tls-key go together")
	}
	switch {
	case cfg.Quota < 0:
		return cfg, errors.New("-quota must not be negative")
	case cfg.MaxSize <= 0:
		return cfg, errors.New("-max-size must be positive")
	case cfg.MaxRecipients <= 0:
		return cfg, errors.New("-max-recipients must be positive")
	case cfg.IdleTimeout <= 0:
		return cfg, errors.New("-idle-timeout must be positive")
	case cfg.ShutdownGrace < 0:
		return cfg, errors.New("-shutdown-grace must not be negative")
	case cfg.MaxConnections < 0 || cfg.MaxConnectionsPerHost < 0:
		return cfg, errors.New("-max-connections and -max-connections-per-host must not be negative")
	case cfg.DataTimeout <= 0:
		return cfg, errors.New("-data-timeout must be positive")
	}
	return cfg, nil
}

// parseDuration is time.ParseDuration plus a "d" (24h) unit, as in "5d".
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// normalizeDomain lower-cases a domain and drops a trailing root dot.
func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

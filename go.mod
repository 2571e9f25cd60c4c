module github.com/smtpkit/smtpkit

go 1.26.0

require (
	blitiri.com.ar/go/spf v1.6.0
	github.com/emersion/go-msgauth v0.7.0
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/miekg/dns v1.1.73
	github.com/pires/go-proxyproto v0.15.0
	golang.org/x/crypto v0.58.0
	golang.org/x/net v0.62.0
)

require golang.org/x/sys v0.49.0 // indirect

// Command tlsa prints the TLSA record (RFC 6698) to publish for a
// certificate or key, the job of the openssl pipeline in Exim's DANE
// documentation:
//
//	go run ./examples/tlsa -name mx.example.org cert.pem        # 3 1 1
//	go run ./examples/tlsa -usage 2 ca.pem                      # 2 1 1 for a CA
//	go run ./examples/tlsa -usage 3 -match 2 key.pem            # 3 1 2 from a key
//
// A PEM file with certificates gives one record per certificate; one with
// a public or private key gives the SPKI record of the key (selector 1),
// which survives certificate renewal (RFC 7671 section 8.1).
package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/smtpkit/smtpkit/dane"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tlsa:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tlsa", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usage := fs.Uint("usage", uint(dane.DANEEE), "certificate usage: 3 DANE-EE, 2 DANE-TA")
	selector := fs.Uint("selector", uint(dane.SelectorSPKI), "selector: 1 SPKI, 0 full certificate")
	match := fs.Uint("match", uint(dane.MatchSHA256), "matching type: 1 SHA-256, 2 SHA-512, 0 full data")
	name := fs.String("name", "", "host name: print the owner _PORT._tcp.NAME too")
	port := fs.Uint("port", 25, "port for the owner name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want one PEM file (certificate or key)")
	}
	if *usage > 255 || *selector > 255 || *match > 255 {
		return errors.New("usage, selector and match are 0 to 255")
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	records, err := recordsFor(b, uint8(*usage), uint8(*selector), uint8(*match))
	if err != nil {
		return err
	}
	for _, r := range records {
		if *name != "" {
			fmt.Fprintf(stdout, "_%d._tcp.%s. IN TLSA %s\n", *port, *name, r)
		} else {
			fmt.Fprintln(stdout, r)
		}
	}
	return nil
}

// recordsFor returns a record for every certificate in the PEM data, or
// for the key it holds.
func recordsFor(data []byte, usage, selector, match uint8) ([]dane.Record, error) {
	var out []dane.Record
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var r dane.Record
		var err error
		switch block.Type {
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				r, err = dane.NewRecord(cert, usage, selector, match)
			}
		case "PUBLIC KEY", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			if selector != dane.SelectorSPKI {
				return nil, errors.New("a key gives only selector 1 (SPKI) records")
			}
			var pub crypto.PublicKey
			if pub, err = publicKey(block); err == nil {
				r, err = dane.NewKeyRecord(pub, usage, match)
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", block.Type, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate or key in the file")
	}
	return out, nil
}

func publicKey(block *pem.Block) (crypto.PublicKey, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return k.Public(), nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return k.Public(), nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported private key")
	}
	return s.Public(), nil
}

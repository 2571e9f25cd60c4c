package arc_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/arc"
)

// A message as a mailing list at example.org received it, with the
// Authentication-Results field its server added.
const listMessage = "Authentication-Results: lists.example.org; spf=pass smtp.mailfrom=ann@example.com;\r\n" +
	"\tdkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n" +
	"From: Ann <ann@example.com>\r\n" +
	"To: list@example.org\r\n" +
	"Subject: [list] Hello\r\n" +
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"\r\n" +
	"Hello, list.\r\n"

// The list's sealing key; a fixed one, so that the output below does not
// change.
var listKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))

func ExampleSeal() {
	set, err := arc.Seal(strings.NewReader(listMessage), &arc.SealOptions{
		Domain:     "example.org",
		Selector:   "arc",
		Signer:     listKey,
		AuthServID: "lists.example.org",
		Timestamps: true,
		Now:        func() time.Time { return time.Unix(1700000000, 0) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("instance", set.Instance, "cv", set.CV)
	fmt.Print(strings.NewReplacer("\r\n", "\n", "\t", "    ").Replace(set.Header))
	// Output:
	// instance 1 cv none
	// ARC-Seal: i=1; a=ed25519-sha256; t=1700000000; cv=none; d=example.org; s=arc;
	//     b=
	//     +gaocwkNKhxgbXIFUgR7j+iwGuvhoS7SnddZDI1A6Jz2T/1+yik3OyWVK6NtFPPMbCpOC6
	//     bVJI7A9MaxBSt9DA==
	// ARC-Message-Signature: i=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org;
	//     s=arc; t=1700000000; h=from:to:subject:date:message-id;
	//     bh=VdjH+iXTpE0USbTHgQ9CGMcmldjAvVKx01MK8wEqsa8=; b=
	//     JCX8QYVjOPxs1aoaxrf56HXPu8BE2apjn1XveM0RTpao0hcQRaZEE33ZyX3Uk3erZichxD
	//     tLZJQFlBXbmIW8Dg==
	// ARC-Authentication-Results: i=1; lists.example.org;
	//     spf=pass smtp.mailfrom=ann@example.com;
	//     dkim=pass header.d=example.com; dmarc=pass header.from=example.com
}

func ExampleVerify() {
	// The list's key in DNS, here from a map. In an MTA, leave
	// VerifyOptions.LookupTXT nil or give a *net.Resolver's LookupTXT.
	dns := map[string][]string{
		"arc._domainkey.example.org.": {"v=DKIM1; k=ed25519; p=" +
			base64.StdEncoding.EncodeToString(listKey.Public().(ed25519.PublicKey))},
	}
	lookupTXT := func(_ context.Context, name string) ([]string, error) {
		if txt, ok := dns[name]; ok {
			return txt, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}

	// The list seals the message and sends it on ...
	set, err := arc.Seal(strings.NewReader(listMessage), &arc.SealOptions{
		Domain: "example.org", Selector: "arc", Signer: listKey, AuthServID: "lists.example.org",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	received := set.Header + listMessage

	// ... and a receiver that trusts the list verifies the chain.
	res, err := arc.Verify(context.Background(), strings.NewReader(received), &arc.VerifyOptions{
		LookupTXT:      lookupTXT,
		TrustedSealers: []string{"example.org"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("arc_state:", res.State)
	fmt.Println("arc_domains:", strings.Join(res.Domains, ":"))
	fmt.Println("arc_oldest_pass:", res.OldestPass)
	fmt.Println("trusted set:", res.Trusted.Instance, res.Trusted.Domain)
	for _, r := range res.Trusted.Results {
		if dmarc, ok := r.(*authres.DMARCResult); ok {
			fmt.Println("recorded DMARC:", dmarc.Value, dmarc.From)
		}
	}
	fmt.Println(strings.TrimSpace(authres.Format("mx.example.net", []authres.Result{res.AuthResult()})))
	// Output:
	// arc_state: pass
	// arc_domains: example.org
	// arc_oldest_pass: 1
	// trusted set: 1 example.org
	// recorded DMARC: pass example.com
	// mx.example.net; arc=pass
}

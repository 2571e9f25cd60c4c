package socks5_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/socks5"
)

func ExampleParseProxies() {
	proxies, err := socks5.ParseProxies("192.0.2.1 auth=name name=relay pass=secret tmo=10 pri=1 : <; ignored")
	fmt.Println(proxies, err)
	proxies, err = socks5.ParseProxies("<; 2001:db8::1 port=1081 weight=2 ; 192.0.2.2")
	for _, p := range proxies {
		fmt.Println(p.Addr(), p.String())
	}
	fmt.Println(err)
	// Output:
	// [] socks5: proxy "<;": not an IP address
	// [2001:db8::1]:1081 2001:db8::1 port=1081 weight=2
	// 192.0.2.2:1080 192.0.2.2
	// <nil>
}

// The client engine delivers through the proxies: the Dialer goes into
// client.Options.
func ExampleDialer() {
	proxies, err := socks5.ParseProxies("127.0.0.1 port=1080 auth=name name=relay pass=secret : 127.0.0.1 port=1081")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, "192.0.2.25:25", &client.Options{
		Hostname: "relay.example",
		Dialer:   &socks5.Dialer{Proxies: proxies},
	})
	if err != nil {
		log.Printf("deferred: %v", err) // which proxy failed and why, no password
		return
	}
	defer c.Close()
	log.Printf("connected through proxy %v", c.RemoteAddr())
}

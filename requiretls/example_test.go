package requiretls_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/smtptest"
	"github.com/smtpkit/smtpkit/requiretls"
)

// A REQUIRETLS message meets a server without STARTTLS: refused before
// anything of it is sent.
func ExampleDelivery() {
	srv := smtp.NewServer(requiretls.WrapBackend(&smtptest.Sink{}, nil))
	srv.Domain = "mx.example.test"
	srv.EnableREQUIRETLS = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &requiretls.Delivery{Host: "mx.example.test"}
	_, err = client.Dial(ctx, ln.Addr().String(), d.ClientOptions(nil))
	fmt.Println(errors.Is(err, client.ErrTLSRequired))

	// Had the caller dialled opportunistically, the message is still
	// refused.
	opts := &client.Options{Extensions: []client.Extension{d}}
	c, err := client.Dial(ctx, ln.Addr().String(), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	res, err := c.Send(ctx, &client.Envelope{From: "a@example.test", To: []string{"b@example.test"}}, strings.NewReader("Subject: x\r\n\r\nsecret\r\n"))
	rep := res.Recipients[0].Reply
	fmt.Println(errors.Is(err, requiretls.ErrNotQualified), rep.Code, rep.EnhancedCode, rep.Message)
	// Output:
	// true
	// true 550 [5 7 10] REQUIRETLS: encryption needed
}

func ExampleTLSRequiredNo() {
	no, _ := requiretls.TLSRequiredNo(strings.NewReader("TLS-Required: No\r\nSubject: hi\r\n\r\nbody\r\n"))
	fmt.Println(no)
	// Output: true
}

func ExampleDSNContent() {
	hdr, _ := requiretls.DSNContent(strings.NewReader("Subject: hi\r\n\r\nsecret body\r\n"))
	fmt.Printf("%q\n", hdr)
	// Output: "Subject: hi\r\n\r\n"
}

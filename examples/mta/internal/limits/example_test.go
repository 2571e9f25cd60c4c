package limits_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/smtpkit/smtpkit/examples/mta/internal/limits"
)

// One connection at most: the second client gets 421 and is closed,
// while the first is served.
func ExampleNewListener() {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l := limits.NewListener(inner, &limits.Options{
		Hostname:       "mx.example",
		MaxConnections: 1,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "220 mx.example ESMTP\r\n")
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Println(strings.TrimRight(line, "\r\n"))
	}
	// Output:
	// 220 mx.example ESMTP
	// 421 4.7.0 mx.example Too many concurrent SMTP connections; please try again later
}

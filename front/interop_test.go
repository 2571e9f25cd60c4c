//go:build interop

package front_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/pipeconnect"
	"github.com/smtpkit/smtpkit/prdr"
)

// startFull is the test server of the integration suite: a front with
// prdr and pipeconnect before a go-smtp LMTP backend that refuses local
// parts "refuse*" at data time, with STARTTLS.
func startFull(t *testing.T) (*fronttest.Backend, *fronttest.Server) {
	be := &fronttest.Backend{Refuse: fronttest.DefaultRefuse}
	srvTLS, _ := fronttest.TLSConfig(t)
	srv := fronttest.Start(t, be, &front.Options{
		TLSConfig:  srvTLS,
		Extensions: []front.Extension{prdr.Server{}, &pipeconnect.Server{Wait: 50 * time.Millisecond}},
	})
	return be, srv
}

func hostPort(t *testing.T, addr string) (string, int) {
	h, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestSwaksPRDR(t *testing.T) {
	interop.Need(t, "swaks")
	be, srv := startFull(t)
	out, err := interop.Run(t, 30*time.Second, "swaks", "--server", srv.Addr, "--from", "a@x.test",
		"--to", "ok1@y.test,refuse1@y.test,ok2@y.test", "--prdr", "-tls", "--ehlo", "swaks.test")
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	for _, want := range []string{`<~  353 PRDR`, `<~  250 2.0.0 PRDR R=<ok1@y.test>`, `<~* 550 5.7.1 PRDR R=<refuse1@y.test>`,
		`<~  250 2.0.0 PRDR R=<ok2@y.test>`, `<~  250 2.0.0 message accepted for some recipients`} {
		if !strings.Contains(out, want) {
			t.Errorf("swaks output lacks %q:\n%s", want, out)
		}
	}
	if n := len(be.Messages()); n != 2 {
		t.Errorf("%d copies, want 2", n)
	}
	for _, m := range be.Messages() {
		if !m.TLS {
			t.Error("copy received without TLS")
		}
	}
}

// TestEximClientPRDR: Exim requests PRDR; the refused recipient gets a **
// line, the others PRDR on their => lines; plain DATA and CHUNKING.
func TestEximClientPRDR(t *testing.T) {
	_, srv := startFull(t)
	host, port := hostPort(t, srv.Addr)
	for _, chunking := range []string{"hosts_try_chunking =", "hosts_try_chunking = *"} {
		log := interop.EximSend(t, host, port, "a@x.test", []string{"ok1@y.test", "refuse1@y.test", "ok2@y.test"},
			"Subject: exim\n\nbody\n", chunking, "tls_verify_certificates =")
		t.Logf("%s:\n%s", chunking, log)
		for _, re := range []string{`=> ok1@y\.test .*PRDR`, `[-=]> ok2@y\.test .*PRDR`, `\*\* refuse1@y\.test .*PRDR`, `X=TLS1\.3`} {
			if !regexp.MustCompile(re).MatchString(log) {
				t.Errorf("%s: Exim log lacks %s", chunking, re)
			}
		}
		if strings.HasSuffix(chunking, "*") && !regexp.MustCompile(`=> ok1@y\.test .* K `).MatchString(log) {
			t.Errorf("CHUNKING not used")
		}
	}
}

// eximSendTwice is interop.EximSend for two messages with one spool, so
// that Exim's early-pipelining cache carries over to the second
// connection.
func eximSendTwice(t *testing.T, host string, port int) string {
	c := interop.NewEximClient(t, host, port, "tls_verify_certificates =")
	var log string
	for i := 0; i < 2; i++ {
		log = c.Send("a@x.test", []string{fmt.Sprintf("r%d@y.test", i)}, fmt.Sprintf("Subject: %d\n\nbody\n", i))
	}
	return log
}

// TestEximClientPipeconnect: Exim's second connection pipelines early.
func TestEximClientPipeconnect(t *testing.T) {
	be, srv := startFull(t)
	host, port := hostPort(t, srv.Addr)
	log := eximSendTwice(t, host, port)
	t.Logf("Exim log:\n%s", log)
	var deliveries []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " => ") {
			deliveries = append(deliveries, l)
		}
	}
	if len(deliveries) != 2 {
		t.Fatalf("%d deliveries, want 2", len(deliveries))
	}
	if strings.Contains(deliveries[0], " L*") || !strings.Contains(deliveries[1], " L*") {
		t.Errorf("want L* on the second delivery only:\n%s", strings.Join(deliveries, "\n"))
	}
	if !strings.Contains(deliveries[1], "X=TLS") {
		t.Error("second delivery without TLS")
	}
	if n := len(be.Messages()); n != 2 {
		t.Errorf("%d copies, want 2", n)
	}
}

// TestClientToExim: the client engine with prdr and pipeconnect sends two
// messages to Exim over STARTTLS: the second connection is L* in Exim's
// log, and a prdrdeny recipient fails on its own. Exim logs L* only when
// the early input is readable as it writes its banner; the connect ACL's
// delay makes sure it is, however late the client is scheduled.
func TestClientToExim(t *testing.T) {
	exim := interop.StartExim(t, "acl_smtp_connect = accept delay = 1s")
	addr := interop.Addr(exim.Port)
	cache := &pipeconnect.MemoryCache{}
	pc := &pipeconnect.Client{Cache: cache}
	opts := &client.Options{Hostname: "client.test", TLSPolicy: client.TLSRequired,
		TLSConfig:  &tls.Config{InsecureSkipVerify: true},
		Extensions: []client.Extension{prdr.Client{}}}
	for i := 0; i < 2; i++ {
		c, err := pipeconnect.Dial(context.Background(), addr, opts, pc)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Send(context.Background(), &client.Envelope{From: "a@x.test",
			To: []string{"ok@peer.test", "prdrdeny1@peer.test", "ok2@peer.test"}},
			strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)))
		if err != nil {
			t.Fatal(err)
		}
		want := []client.Status{client.Accepted, client.PermFailed, client.Accepted}
		for j, r := range res.Recipients {
			if r.Status != want[j] {
				t.Errorf("message %d: %s %v (%v), want %v", i, r.Address, r.Status, r.Reply, want[j])
			}
		}
		c.Close()
	}
	exim.WaitMessages(4, 10*time.Second)
	var received []string
	for _, l := range strings.Split(exim.MainLog(), "\n") {
		if strings.Contains(l, " <= ") {
			received = append(received, l)
		}
	}
	if len(received) != 2 || strings.Contains(received[0], " L*") || !strings.Contains(received[1], " L*") {
		t.Errorf("want L* on the second reception only:\n%s", strings.Join(received, "\n"))
	}
	for _, l := range received {
		if !strings.Contains(l, "X=TLS") {
			t.Errorf("received without TLS: %s", l)
		}
	}
}

// TestSwaksLongLine: swaks sends a body with a 3000-octet line, to
// go-smtp alone and behind the front: both refuse the message, with the
// same replies, and close.
func TestSwaksLongLine(t *testing.T) {
	interop.Need(t, "swaks")
	body := "Subject: long\r\n\r\nshort\r\n" + strings.Repeat("x", 3000) + "\r\nend\r\n"
	var outs []string
	for _, addr := range []string{fronttest.Plain(t, &fronttest.Backend{}), fronttest.Start(t, &fronttest.Backend{}, nil).Addr} {
		out, err := interop.Run(t, 30*time.Second, "swaks", "--server", addr, "--from", "a@x.test",
			"--to", "b@y.test", "--ehlo", "swaks.test", "--body", body, "--suppress-data")
		if err == nil {
			t.Errorf("swaks succeeded:\n%s", out)
		}
		var replies []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "<** ") {
				replies = append(replies, l)
			}
		}
		outs = append(outs, strings.Join(replies, "\n"))
		t.Logf("%s:\n%s", addr, out)
	}
	if !strings.Contains(outs[0], "<** 554 5.0.0 Error: transaction failed: smtp: too long a line") || outs[1] != outs[0] {
		t.Errorf("go-smtp alone:\n%s\nbehind the front:\n%s", outs[0], outs[1])
	}
}

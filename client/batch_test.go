package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/rttproxy"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// TestSendBatch sends every kind of message in one batch, pipelined
// (PIPELINING and CHUNKING) and in the other modes, where SendBatch sends
// them one by one; the results and what the server got must be the same.
func TestSendBatch(t *testing.T) {
	big := "Subject: big\r\n\r\n" + strings.Repeat("a line of the big message\r\n", 200)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			sink := rejecting()
			inner := sink.Reject
			refuseData := false
			sink.Reject = func(stage, arg string) error {
				switch stage {
				case "MAIL":
					refuseData = arg == "dataref@x.test"
				case "DATA":
					if refuseData {
						return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content refused"}
					}
				}
				return inner(stage, arg)
			}
			srv := smtptest.Start(t, sink)
			c := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore, Limits: Limits{ChunkSize: 1024}})

			msgs := []Message{
				{&Envelope{From: "a@x.test", To: []string{"ok1@y.test", "perm@y.test", "temp@y.test", "ok2@y.test"}}, strings.NewReader(simpleMsg)},
				{&Envelope{From: "nomail@x.test", To: []string{"ok1@y.test"}}, strings.NewReader(simpleMsg)},
				{&Envelope{From: "b@x.test", To: []string{"perm@y.test", "temp@y.test"}}, strings.NewReader(simpleMsg)},
				{&Envelope{From: "c@x.test", To: []string{"evil>\r\nRSET", "ok3@y.test"}}, strings.NewReader(simpleMsg)},
				{&Envelope{From: "d@x.test", To: []string{"ok4@y.test"}}, onlyReader{strings.NewReader(big)}},
				{&Envelope{From: "dataref@x.test", To: []string{"ok5@y.test"}}, strings.NewReader(simpleMsg)},
				{&Envelope{From: "e@x.test", To: []string{"ok6@y.test"}}, &failingReader{data: "Subject: x\r\n", err: errors.New("disk on fire")}},
				{&Envelope{From: "f@x.test", To: []string{"ok7@y.test"}}, strings.NewReader(simpleMsg)},
				{&Envelope{From: "a>\r\n", To: []string{"ok9@y.test"}}, strings.NewReader(simpleMsg)},
			}
			results, err := c.SendBatch(testCtx(t), msgs)
			if err != nil {
				t.Fatalf("SendBatch: %v", err)
			}
			want := []string{
				"ok1@y.test=accepted 250,perm@y.test=permfailed 550,temp@y.test=tempfailed 451,ok2@y.test=accepted 250",
				"ok1@y.test=permfailed 550",
				"perm@y.test=permfailed 550,temp@y.test=tempfailed 451",
				"evil>\r\nRSET=permfailed 553,ok3@y.test=accepted 250",
				"ok4@y.test=accepted 250",
				"ok5@y.test=permfailed 554",
				"ok6@y.test=tempfailed 451",
				"ok7@y.test=accepted 250",
				"ok9@y.test=permfailed 553",
			}
			for i, res := range results {
				if got := statuses(res); got != want[i] {
					t.Errorf("message %d: got %s\nwant %s", i, got, want[i])
				}
			}
			if r := results[6].Recipients[0].Reply; r.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
				t.Errorf("unreadable message: %+v", r)
			}
			got := sink.Messages()
			wantFrom := []string{"a@x.test", "c@x.test", "d@x.test", "f@x.test"}
			wantTo := []string{"ok1@y.test,ok2@y.test", "ok3@y.test", "ok4@y.test", "ok7@y.test"}
			if len(got) != len(wantFrom) {
				t.Fatalf("server got %d messages, want %d", len(got), len(wantFrom))
			}
			for i, g := range got {
				if g.From != wantFrom[i] || strings.Join(g.To, ",") != wantTo[i] {
					t.Errorf("delivery %d: from %s to %v", i, g.From, g.To)
				}
			}
			if string(got[2].Data) != big || string(got[3].Data) != simpleMsg {
				t.Errorf("bodies differ")
			}

			// The connection goes on with Send and with more batches.
			send(t, c, &Envelope{From: "g@x.test", To: []string{"ok8@y.test"}}, simpleMsg)
			if _, err := c.SendBatch(testCtx(t), nil); err != nil {
				t.Fatal(err)
			}
			if n := len(sink.Messages()); n != 5 {
				t.Errorf("server has %d messages, want 5", n)
			}
		})
	}
}

// TestSendBatchRoundTrips: a batch of small messages goes out in one
// flight, however many messages, where Send takes one round trip each.
func TestSendBatchRoundTrips(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	proxy := rttproxy.Start(t, srv.Addr, time.Millisecond)
	c := dialT(t, proxy.Addr, nil)
	var msgs []Message
	for range 10 {
		msgs = append(msgs, Message{&Envelope{From: "a@x.test", To: rcptList(3)}, strings.NewReader(simpleMsg)})
	}
	before := proxy.ClientFlights()
	results, err := c.SendBatch(testCtx(t), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range results {
		if res.Recipients[2].Status != Accepted {
			t.Fatalf("message %d: %s", i, statuses(res))
		}
	}
	if got := proxy.ClientFlights() - before; got != 1 {
		t.Errorf("10 messages took %d round trips, want 1", got)
	}
	if n := len(sink.Messages()); n != 10 {
		t.Errorf("server has %d messages", n)
	}
}

// TestSendBatchRSET checks the wire: RSET before every MAIL but the first,
// and each message whole in one BDAT LAST; a refused chunk does not stop
// the next message.
func TestSendBatchRSET(t *testing.T) {
	addr, log := loopServer(t, []string{"PIPELINING", "CHUNKING"}, func(cmd string) string {
		if strings.HasSuffix(cmd, " LAST") && strings.HasPrefix(cmd, "BDAT 5 ") {
			return "554 5.6.0 no thanks\r\n"
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, nil)
	results, err := c.SendBatch(testCtx(t), []Message{
		{&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader("one\r\n")},
		{&Envelope{From: "c@x.test", To: []string{"d@y.test", "e@y.test"}}, strings.NewReader("two!\r\n")},
		{&Envelope{From: "f@x.test", To: []string{"g@y.test"}}, strings.NewReader("three\r\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, res := range results {
		got = append(got, statuses(res))
	}
	if g := strings.Join(got, " | "); g != "b@y.test=permfailed 554 | d@y.test=accepted 250,e@y.test=accepted 250 | g@y.test=accepted 250" {
		t.Errorf("results: %s", g)
	}
	c.Close()
	want := []string{
		"MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "BDAT 5 LAST", "data:one\r\n",
		"RSET", "MAIL FROM:<c@x.test>", "RCPT TO:<d@y.test>", "RCPT TO:<e@y.test>", "BDAT 6 LAST", "data:two!\r\n",
		"RSET", "MAIL FROM:<f@x.test>", "RCPT TO:<g@y.test>", "BDAT 7 LAST", "data:three\r\n",
		"QUIT",
	}
	cmds := log()
	for i := range cmds {
		cmds[i] = strings.Split(cmds[i], " SIZE=")[0]
	}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(cmds, "\n"), strings.Join(want, "\n"))
	}
}

// TestSendBatchConnectionLost: the server goes away after the first
// message; the rest are TempFailed, the error says why, nothing hangs.
func TestSendBatchConnectionLost(t *testing.T) {
	addr := secondBDAT(t, "") // hang up
	c := dialT(t, addr, nil)
	msgs := simpleBatch(40)
	results, err := c.SendBatch(testCtx(t), msgs)
	if err == nil {
		t.Fatal("no error")
	}
	if results[0].Recipients[0].Status != Accepted {
		t.Errorf("first: %s", statuses(results[0]))
	}
	for i, res := range results[1:] {
		if r := res.Recipients[0]; r.Status != TempFailed || r.Reply.Code != 451 {
			t.Errorf("message %d: %s", i+1, statuses(res))
		}
	}
	if _, err := c.SendBatch(testCtx(t), msgs[:1]); !errors.Is(err, ErrClosed) {
		t.Errorf("after: %v", err)
	}
}

// TestSendBatchContextEnds: a server that stops reading and never answers
// does not hold the batch past its context.
func TestSendBatchContextEnds(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	addr, _ := loopServer(t, []string{"PIPELINING", "CHUNKING"}, func(cmd string) string {
		if strings.HasPrefix(cmd, "BDAT") {
			<-block
			return ""
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, nil)
	var msgs []Message
	for range 100 {
		msgs = append(msgs, Message{&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(strings.Repeat("x", 100<<10))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	results, err := c.SendBatch(ctx, msgs)
	if err == nil || len(results) != len(msgs) {
		t.Fatalf("err %v, %d results", err, len(results))
	}
	for i, res := range results {
		if res.Recipients[0].Status != TempFailed {
			t.Fatalf("message %d: %s", i, statuses(res))
		}
	}
}

func TestSendBatchNilEnvelope(t *testing.T) {
	srv := smtptest.Start(t, &smtptest.Sink{})
	c := dialT(t, srv.Addr, nil)
	if res, err := c.SendBatch(testCtx(t), []Message{{Body: strings.NewReader("x")}}); err == nil || res != nil {
		t.Fatalf("got %v, %v", res, err)
	}
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
}

// TestSendBatch421: a 421 in the middle ends the batch with that reply,
// whatever the writer was doing when the server hung up.
func TestSendBatch421(t *testing.T) {
	addr := secondBDAT(t, "421 4.3.2 going down\r\n")
	c := dialT(t, addr, nil)
	results, err := c.SendBatch(testCtx(t), simpleBatch(20))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 421 {
		t.Fatalf("error %v", err)
	}
	if got := statuses(results[0]) + " | " + statuses(results[1]); got != "b@y.test=accepted 250 | b@y.test=tempfailed 421" {
		t.Errorf("results: %s", got)
	}
	for _, res := range results[2:] {
		if r := res.Recipients[0]; r.Status != TempFailed || !strings.Contains(r.Reply.Message, "going down") {
			t.Errorf("later message: %s %+v", statuses(res), r.Reply)
		}
	}
	if results[1].Data == nil || results[1].Data.Code != 421 {
		t.Errorf("Data %+v", results[1].Data)
	}
}

// simpleBatch is n copies of a message to one recipient.
func simpleBatch(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg)}
	}
	return msgs
}

// secondBDAT is a server with PIPELINING and CHUNKING that answers the
// second BDAT with reply ("": hang up).
func secondBDAT(t *testing.T, reply string) string {
	n := 0
	addr, _ := loopServer(t, []string{"PIPELINING", "CHUNKING"}, func(cmd string) string {
		if strings.HasPrefix(cmd, "BDAT") {
			if n++; n == 2 {
				return reply
			}
		}
		return okReply(cmd)
	})
	return addr
}

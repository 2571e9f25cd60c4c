package client

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

const simpleMsg = "From: a@x.test\r\nSubject: hi\r\n\r\nhello\r\n"

// rejecting is a Sink that refuses addresses by prefix: "perm" 550 5.1.1,
// "temp" 451 4.2.1 at RCPT; a sender "nomail" 550 5.7.1 at MAIL; a message
// with "reject" in it 554 5.6.0 at DATA.
func rejecting() *smtptest.Sink {
	sink := &smtptest.Sink{}
	sink.Reject = func(stage, arg string) error {
		switch {
		case stage == "MAIL" && strings.HasPrefix(arg, "nomail"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender refused"}
		case stage == "RCPT" && strings.HasPrefix(arg, "perm"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case stage == "RCPT" && strings.HasPrefix(arg, "temp"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "try later"}
		}
		return nil
	}
	return sink
}

func TestSendModes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			sink := rejecting()
			dataReject := false
			inner := sink.Reject
			sink.Reject = func(stage, arg string) error {
				if stage == "DATA" && dataReject {
					return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content refused"}
				}
				return inner(stage, arg)
			}
			srv := smtptest.Start(t, sink)
			c := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore})

			// Mixed RCPT results.
			res := send(t, c, &Envelope{From: "a@x.test", To: []string{"ok1@y.test", "perm@y.test", "temp@y.test", "ok2@y.test"}}, simpleMsg)
			if got, want := statuses(res), "ok1@y.test=accepted 250,perm@y.test=permfailed 550,temp@y.test=tempfailed 451,ok2@y.test=accepted 250"; got != want {
				t.Errorf("mixed: got %s\nwant %s", got, want)
			}
			if r := res.Recipients[1].Reply; r.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) || r.Message != "no such user" {
				t.Errorf("RCPT reply %+v", r)
			}
			if res.Data == nil || res.Data.Code != 250 || res.Recipients[0].Reply != res.Data {
				t.Errorf("Data %+v", res.Data)
			}

			// MAIL refused: every recipient gets the MAIL reply.
			res = send(t, c, &Envelope{From: "nomail@x.test", To: []string{"ok1@y.test", "perm@y.test"}}, simpleMsg)
			if got, want := statuses(res), "ok1@y.test=permfailed 550,perm@y.test=permfailed 550"; got != want {
				t.Errorf("MAIL refused: got %s", got)
			}
			if res.Recipients[1].Reply.Message != "sender refused" || res.Data != nil {
				t.Errorf("MAIL refused: %+v, Data %v", res.Recipients[1].Reply, res.Data)
			}

			// All recipients refused: nothing sent, no error.
			res = send(t, c, &Envelope{From: "a@x.test", To: []string{"perm@y.test", "temp@y.test"}}, simpleMsg)
			if got, want := statuses(res), "perm@y.test=permfailed 550,temp@y.test=tempfailed 451"; got != want {
				t.Errorf("all refused: got %s", got)
			}

			// DATA (or end of data) refused: the accepted recipients get it.
			dataReject = true
			res = send(t, c, &Envelope{From: "a@x.test", To: []string{"ok1@y.test", "perm@y.test"}}, simpleMsg)
			dataReject = false
			if got, want := statuses(res), "ok1@y.test=permfailed 554,perm@y.test=permfailed 550"; got != want {
				t.Errorf("data refused: got %s", got)
			}
			if res.Data == nil || res.Data.Code != 554 || res.Data.EnhancedCode != (smtp.EnhancedCode{5, 6, 0}) {
				t.Errorf("data refused: Data %+v", res.Data)
			}

			// And the connection still carries mail.
			res = send(t, c, &Envelope{From: "a@x.test", To: []string{"ok3@y.test"}}, simpleMsg)
			if got := statuses(res); got != "ok3@y.test=accepted 250" {
				t.Errorf("after: got %s", got)
			}
			msgs := sink.Messages()
			if len(msgs) != 2 {
				t.Fatalf("sink has %d messages", len(msgs))
			}
			if strings.Join(msgs[0].To, ",") != "ok1@y.test,ok2@y.test" || string(msgs[0].Data) != simpleMsg {
				t.Errorf("first message %+v", msgs[0])
			}
			if msgs[1].From != "a@x.test" || strings.Join(msgs[1].To, ",") != "ok3@y.test" {
				t.Errorf("last message %+v", msgs[1])
			}
			if c.Messages() != 5 {
				t.Errorf("Messages() = %d, want 5", c.Messages())
			}
		})
	}
}

func TestReuse(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	c := dialT(t, srv.Addr, nil)
	for i := 0; i < 5; i++ {
		send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
	}
	if err := c.Reset(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Messages()); n != 5 || c.Messages() != 5 {
		t.Fatalf("sink %d, Messages %d", n, c.Messages())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if !errors.Is(err, ErrClosed) || res.Recipients[0].Status != TempFailed || res.Recipients[0].Reply.Code != 451 {
		t.Fatalf("Send after Close: %v %s", err, statuses(res))
	}
	if err := c.Reset(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset after Close: %v", err)
	}
}

// awkward has every line-end and dot case; want is what a receiver must
// get: CRLF everywhere, dots as sent.
const awkward = ".\r\n..two\r\n.one\nbare LF\nlone CR\rend. \r\n\r\n.\r\n..\r\nno final newline."

const awkwardWant = ".\r\n..two\r\n.one\r\nbare LF\r\nlone CR\r\nend. \r\n\r\n.\r\n..\r\nno final newline.\r\n"

func TestDotStuffingRoundTrip(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			sink := &smtptest.Sink{}
			srv := smtptest.Start(t, sink)
			c := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore})
			for _, msg := range []string{awkward, "", "."} {
				send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, msg)
			}
			got := sink.Messages()
			if len(got) != 3 {
				t.Fatalf("%d messages", len(got))
			}
			if string(got[0].Data) != awkwardWant {
				t.Errorf("got  %q\nwant %q", got[0].Data, awkwardWant)
			}
			if string(got[1].Data) != "" || string(got[2].Data) != ".\r\n" {
				t.Errorf("empty and dot: %q %q", got[1].Data, got[2].Data)
			}
		})
	}
}

// onlyReader hides io.Seeker and io.WriterTo.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodyAndSize(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink, func(s *smtp.Server) { s.MaxMessageBytes = 10 << 20 })
	c := dialT(t, srv.Addr, nil)
	if p, ok := c.Extension("size"); !ok || p != "10485760" {
		t.Fatalf("SIZE %q %v", p, ok)
	}
	eight := "Subject: caf\xc3\xa9\r\n\r\nbody\r\n"
	big7 := strings.Repeat("seven bits only\r\n", PeekSize/16+10)
	cases := []struct {
		name     string
		env      Envelope
		msg      io.Reader
		body     smtp.BodyType
		size     int64
		wantData string
	}{
		{"7bit seeker", Envelope{}, strings.NewReader(simpleMsg), "", int64(len(simpleMsg)), simpleMsg},
		{"8bit seeker", Envelope{}, bytes.NewReader([]byte(eight)), smtp.Body8BitMIME, int64(len(eight)), eight},
		{"7bit reader", Envelope{}, onlyReader{strings.NewReader(simpleMsg)}, "", int64(len(simpleMsg)), simpleMsg},
		{"8bit reader", Envelope{}, onlyReader{strings.NewReader(eight)}, smtp.Body8BitMIME, int64(len(eight)), eight},
		// Longer than PeekSize and not seekable: size unknown, 8BITMIME to be safe.
		{"long reader", Envelope{}, onlyReader{strings.NewReader(big7)}, smtp.Body8BitMIME, 0, big7},
		{"declared", Envelope{Body: Body8Bit, Size: 12345}, strings.NewReader(simpleMsg), smtp.Body8BitMIME, 12345, simpleMsg},
		{"declared 7bit", Envelope{Body: Body7Bit}, strings.NewReader(eight), "", int64(len(eight)), eight},
	}
	for _, tc := range cases {
		env := tc.env
		env.From, env.To = "a@x.test", []string{"b@y.test"}
		res, err := c.Send(testCtx(t), &env, tc.msg)
		if err != nil || res.Recipients[0].Status != Accepted {
			t.Fatalf("%s: %v %s", tc.name, err, statuses(res))
		}
		msgs := sink.Messages()
		m := msgs[len(msgs)-1]
		if m.MailOpts.Body != tc.body || m.MailOpts.Size != tc.size || string(m.Data) != tc.wantData {
			t.Errorf("%s: BODY=%q SIZE=%d data ok %v", tc.name, m.MailOpts.Body, m.MailOpts.Size, string(m.Data) == tc.wantData)
		}
	}
}

func TestSeekerRewound(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	c := dialT(t, srv.Addr, nil)
	// The message starts where the reader is, not at offset 0.
	r := strings.NewReader("SKIP" + simpleMsg)
	r.Seek(4, io.SeekStart)
	if _, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, r); err != nil {
		t.Fatal(err)
	}
	if m := sink.Messages()[0]; string(m.Data) != simpleMsg || m.MailOpts.Size != int64(len(simpleMsg)) {
		t.Fatalf("got %q size %d", m.Data, m.MailOpts.Size)
	}
}

func TestBinaryMIME(t *testing.T) {
	bin := "Content-Type: application/octet-stream\r\n\r\n\x00\x01bare\nLF\rCR\xff\r\n.\r\n"
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink, func(s *smtp.Server) { s.EnableBINARYMIME = true })
	c := dialT(t, srv.Addr, nil)
	res := send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}, Body: BodyBinary}, bin)
	if res.Recipients[0].Status != Accepted {
		t.Fatal(statuses(res))
	}
	m := sink.Messages()[0]
	if string(m.Data) != bin || m.MailOpts.Body != smtp.BodyBinaryMIME {
		t.Fatalf("BODY=%s data %q", m.MailOpts.Body, m.Data)
	}

	// Without BINARYMIME: refused before MAIL, connection usable.
	srv2 := smtptest.Start(t, sink)
	c2 := dialT(t, srv2.Addr, nil)
	res, err := c2.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}, Body: BodyBinary}, strings.NewReader(bin))
	var se *smtp.SMTPError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.EnhancedCode != (smtp.EnhancedCode{5, 6, 3}) {
		t.Fatalf("err %v", err)
	}
	if statuses(res) != "b@y.test=permfailed 554" || c2.Messages() != 0 {
		t.Fatalf("%s, %d messages", statuses(res), c2.Messages())
	}
	send(t, c2, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
}

func TestSMTPUTF8(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink, func(s *smtp.Server) { s.EnableSMTPUTF8 = true })
	c := dialT(t, srv.Addr, nil)
	res := send(t, c, &Envelope{From: "a@x.test", To: []string{"jösé@y.test"}}, simpleMsg)
	if res.Recipients[0].Status != Accepted || !sink.Messages()[0].MailOpts.UTF8 {
		t.Fatalf("%s %+v", statuses(res), sink.Messages()[0].MailOpts)
	}

	srv2 := smtptest.Start(t, sink)
	c2 := dialT(t, srv2.Addr, nil)
	res, err := c2.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}, UTF8: true}, strings.NewReader(simpleMsg))
	if !errors.Is(err, ErrRefused) || statuses(res) != "b@y.test=permfailed 553" {
		t.Fatalf("%v %s", err, statuses(res))
	}
}

func TestBadAddresses(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	c := dialT(t, srv.Addr, nil)
	res := send(t, c, &Envelope{From: "", To: []string{"b@y.test", "evil>\r\nRSET", "", "c@y.test"}}, simpleMsg)
	if got := statuses(res); got != "b@y.test=accepted 250,evil>\r\nRSET=permfailed 553,=permfailed 553,c@y.test=accepted 250" {
		t.Fatalf("got %s", got)
	}
	if m := sink.Messages()[0]; m.From != "" || strings.Join(m.To, ",") != "b@y.test,c@y.test" {
		t.Fatalf("got %+v", m)
	}
	res, err := c.Send(testCtx(t), &Envelope{From: "a>\r\n", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if !errors.Is(err, ErrRefused) || statuses(res) != "b@y.test=permfailed 553" {
		t.Fatalf("%v %s", err, statuses(res))
	}
	if _, err := c.Send(testCtx(t), nil, strings.NewReader("")); err == nil {
		t.Fatal("nil envelope accepted")
	}
}

func TestChunks(t *testing.T) {
	// Several chunks, pipelined and in lock step; then a message larger
	// than the async write threshold in one chunk.
	msg := strings.Repeat("0123456789abcdef\r\n", 2000) // 36000 bytes
	huge := strings.Repeat("x", 100) + "\r\n"
	huge = strings.Repeat(huge, (asyncWriteMin*3)/len(huge))
	for _, m := range []struct {
		name   string
		ignore []string
	}{{"pipelined", nil}, {"lockstep", []string{"PIPELINING"}}} {
		t.Run(m.name, func(t *testing.T) {
			sink := &smtptest.Sink{}
			srv := smtptest.Start(t, sink)
			c := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore, Limits: Limits{ChunkSize: 1000}})
			res := send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}}, msg)
			if statuses(res) != "b@y.test=accepted 250,c@y.test=accepted 250" {
				t.Fatal(statuses(res))
			}
			c2 := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore})
			send(t, c2, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, huge)
			got := sink.Messages()
			if len(got) != 2 || string(got[0].Data) != msg || string(got[1].Data) != huge {
				t.Fatalf("%d messages", len(got))
			}
		})
	}
}

func TestChunkRefused(t *testing.T) {
	// go-smtp refuses the chunk that crosses MaxMessageBytes with 552;
	// the declared size lies so that MAIL passes.
	msg := strings.Repeat("0123456789abcdef\r\n", 1000) // 18000 bytes
	for _, m := range []struct {
		name   string
		ignore []string
	}{{"pipelined", nil}, {"lockstep", []string{"PIPELINING"}}} {
		t.Run(m.name, func(t *testing.T) {
			sink := &smtptest.Sink{}
			srv := smtptest.Start(t, sink, func(s *smtp.Server) { s.MaxMessageBytes = 5000 })
			c := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore, Limits: Limits{ChunkSize: 1000}})
			res := send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}, Size: 100}, msg)
			if got := statuses(res); got != "b@y.test=permfailed 552" {
				t.Fatal(got)
			}
			// The session is still in step. (Another BDAT transaction
			// here would trip a data race inside go-smtp v0.25.1, between
			// the aborted transaction's Data goroutine and the next
			// BDAT; TestScriptChunkRefusedThenNext covers reuse.)
			if err := c.Reset(testCtx(t)); err != nil {
				t.Fatal("after:", err)
			}
			if len(sink.Messages()) != 0 {
				t.Fatal(len(sink.Messages()))
			}
		})
	}
}

// failingReader returns data, then an error.
type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestMessageReadErrorDATA: DATA cannot be aborted but by closing the
// connection. (BDAT aborts are tested against a scripted server: go-smtp
// v0.25.1 races between an aborted BDAT's Data goroutine and
// Session.Reset.)
func TestMessageReadErrorDATA(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, m := range modes {
		if strings.HasSuffix(m.name, "bdat") {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			sink := &smtptest.Sink{}
			srv := smtptest.Start(t, sink)
			c := dialT(t, srv.Addr, &Options{IgnoreKeywords: m.ignore, Limits: Limits{ChunkSize: 1000}})
			// Fails after PeekSize: past the read-ahead, during the data.
			r := &failingReader{data: strings.Repeat("a line of text\r\n", PeekSize/16+500), err: boom}
			res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, onlyReader{r})
			if !errors.Is(err, boom) || res.Recipients[0].Status != TempFailed || res.Recipients[0].Reply.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
				t.Fatalf("%v %s %+v", err, statuses(res), res.Recipients[0].Reply)
			}
			_, err = c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("after: %v", err)
			}
			if len(sink.Messages()) != 0 {
				t.Fatal("a truncated message was delivered")
			}
		})
	}
}

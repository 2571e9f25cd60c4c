package client

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func join(cmds []string) string { return strings.Join(cmds, "|") }

// splitLog separates a loopServer log into commands, with BDAT sizes
// removed, and the data sent, concatenated.
func splitLog(log []string) (cmds []string, data string) {
	for _, l := range log {
		if d, ok := strings.CutPrefix(l, "data:"); ok {
			data += d
			continue
		}
		if f := strings.Fields(l); len(f) > 1 && f[0] == "BDAT" {
			l = strings.Join(append(f[:1], f[2:]...), " ")
		}
		cmds = append(cmds, l)
	}
	return cmds, data
}

func TestScript421MidEnvelope(t *testing.T) {
	for _, kw := range [][]string{{"PIPELINING"}, nil} {
		name := "lockstep"
		if kw != nil {
			name = "pipelined"
		}
		t.Run(name, func(t *testing.T) {
			rcpts := 0
			addr, log := loopServer(t, kw, func(cmd string) string {
				if strings.HasPrefix(cmd, "RCPT") {
					if rcpts++; rcpts == 2 {
						return "421 4.3.2 shutting down\r\n"
					}
				}
				return okReply(cmd)
			})
			c := dialT(t, addr, nil)
			res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"a@y.test", "b@y.test", "c@y.test"}}, strings.NewReader(simpleMsg))
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != 421 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 2}) {
				t.Fatalf("err %v", err)
			}
			if got := statuses(res); got != "a@y.test=tempfailed 421,b@y.test=tempfailed 421,c@y.test=tempfailed 421" {
				t.Fatal(got)
			}
			if res.Data != nil {
				t.Fatal("Data", res.Data)
			}
			if _, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"a@y.test"}}, strings.NewReader("")); !errors.Is(err, ErrClosed) || !errors.As(err, &se) {
				t.Fatalf("after 421: %v", err)
			}
			c.Close()
			// (Pipelined, RCPT c and DATA came too, unread.)
			want := "MAIL FROM:<a@x.test> SIZE=38|RCPT TO:<a@y.test>|RCPT TO:<b@y.test>"
			if got := join(log()); got != want {
				t.Fatalf("server got %s", got)
			}
		})
	}
}

func TestScriptDropMidData(t *testing.T) {
	addr := serve(t, func(s *script) {
		s.greet("PIPELINING")
		s.expect("MAIL")
		s.expect("RCPT")
		s.expect("RCPT")
		s.expect("DATA")
		s.write("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n")
		s.br.ReadString('\n')
		// and hang up
	})
	c := dialT(t, addr, nil)
	big := strings.Repeat("a long line of message text, over and over\r\n", 50000)
	res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"a@y.test", "bad@y.test"}}, strings.NewReader(big))
	if err == nil {
		t.Fatal("no error")
	}
	if got := statuses(res); got != "a@y.test=tempfailed 451,bad@y.test=permfailed 550" {
		t.Fatal(got)
	}
	if r := res.Recipients[0].Reply; r.EnhancedCode != (smtp.EnhancedCode{4, 4, 2}) || !strings.Contains(r.Message, "client:") {
		t.Fatalf("synthesized reply %+v", r)
	}
}

func TestScriptMailRefusedPipelined(t *testing.T) {
	mails := 0
	addr, log := loopServer(t, []string{"PIPELINING"}, func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "MAIL"):
			if mails++; mails == 1 {
				return "550-5.7.1 sender\r\n550 5.7.1 refused\r\n"
			}
		case mails == 1 && cmd != "QUIT":
			return "503 5.5.1 need MAIL\r\n"
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, &Options{IgnoreKeywords: []string{"size"}})
	res := send(t, c, &Envelope{From: "bad@x.test", To: []string{"a@y.test", "b@y.test"}}, simpleMsg)
	if got := statuses(res); got != "a@y.test=permfailed 550,b@y.test=permfailed 550" {
		t.Fatal(got)
	}
	if r := res.Recipients[0].Reply; r.Message != "sender\nrefused" || r.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("reply %+v", r)
	}
	res = send(t, c, &Envelope{From: "a@x.test", To: []string{"a@y.test"}}, simpleMsg)
	if got := statuses(res); got != "a@y.test=accepted 250" {
		t.Fatal(got)
	}
	c.Close()
	want := "MAIL FROM:<bad@x.test>|RCPT TO:<a@y.test>|RCPT TO:<b@y.test>|DATA|" +
		"MAIL FROM:<a@x.test>|RCPT TO:<a@y.test>|DATA|data:" + simpleMsg + "|QUIT"
	if got := join(log()); got != want {
		t.Fatalf("server got %q", got)
	}
}

func TestScriptAllRecipientsRefused(t *testing.T) {
	for _, dataReply := range []string{"554 5.5.1 no valid recipients\r\n", "354 go ahead\r\n"} {
		t.Run(dataReply[:3], func(t *testing.T) {
			n := 0
			addr, log := loopServer(t, []string{"PIPELINING"}, func(cmd string) string {
				n++
				switch {
				case n == 2:
					return "550 5.1.1 no\r\n"
				case n == 3:
					return "450 4.2.1 later\r\n"
				case n == 4:
					return dataReply
				case cmd == ".":
					return "250 accepted nothing\r\n"
				}
				return okReply(cmd)
			})
			c := dialT(t, addr, &Options{IgnoreKeywords: []string{"size"}})
			res := send(t, c, &Envelope{From: "a@x.test", To: []string{"x@y.test", "y@y.test"}}, simpleMsg)
			if got := statuses(res); got != "x@y.test=permfailed 550,y@y.test=tempfailed 450" || res.Data != nil {
				t.Fatal(got, res.Data)
			}
			send(t, c, &Envelope{From: "a@x.test", To: []string{"z@y.test"}}, simpleMsg)
			c.Close()
			want := "MAIL FROM:<a@x.test>|RCPT TO:<x@y.test>|RCPT TO:<y@y.test>|DATA|"
			if dataReply[0] == '3' {
				// RFC 2920 section 3.1: a lone dot ends the empty message.
				want += "data:|MAIL FROM:<a@x.test>"
			} else {
				// The transaction stays open: RSET goes with the next MAIL.
				want += "RSET|MAIL FROM:<a@x.test>"
			}
			want += "|RCPT TO:<z@y.test>|DATA|data:" + simpleMsg + "|QUIT"
			if got := join(log()); got != want {
				t.Fatalf("server got %q\nwant %q", got, want)
			}
		})
	}
}

func TestScriptHELOFallback(t *testing.T) {
	var helo string
	addr := serve(t, func(s *script) {
		s.write("220 old.test SMTP\r\n")
		s.expect("EHLO client.test")
		s.write("502 5.5.2 what?\r\n")
		helo = s.expect("HELO ")
		s.write("250 old.test\r\n")
		s.expect("MAIL FROM:<a@x.test>") // no parameters without ESMTP
		s.write("250 ok\r\n")
		s.expect("RCPT")
		s.write("250 ok\r\n")
		s.expect("DATA")
		s.write("354 go\r\n")
		if d := s.data(); d != "x\r\n" {
			t.Errorf("data %q", d)
		}
		s.write("250 ok\r\n")
		s.quit()
	})
	c := dialT(t, addr, nil)
	if _, ok := c.Extension("PIPELINING"); ok {
		t.Error("extensions after HELO")
	}
	res := send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, "x\n")
	if res.Recipients[0].Status != Accepted {
		t.Fatal(statuses(res))
	}
	c.Close()
	if helo != "HELO client.test" {
		t.Fatal(helo)
	}
}

func TestScriptDialRefusals(t *testing.T) {
	cases := []struct {
		name   string
		script func(s *script)
		code   int
		is     error
	}{
		{"banner 554", func(s *script) {
			s.write("554 5.7.1 no service for you\r\n")
			s.quit()
		}, 554, nil},
		{"banner 421", func(s *script) {
			s.write("421 busy\r\n")
		}, 421, nil},
		{"EHLO 421", func(s *script) {
			s.write("220 hi\r\n")
			s.expect("EHLO")
			s.write("421 4.3.2 bye\r\n")
		}, 421, nil},
		{"EHLO and HELO refused", func(s *script) {
			s.write("220 hi\r\n")
			s.expect("EHLO")
			s.write("550 5.7.1 not you\r\n")
			s.expect("HELO")
			s.write("550 5.7.1 not you either\r\n")
			s.quit()
		}, 550, nil},
		{"STARTTLS required, not offered", func(s *script) {
			s.greet("PIPELINING")
			s.quit() // QUIT, and nothing else
		}, 0, ErrTLSRequired},
		{"STARTTLS required, refused", func(s *script) {
			s.greet("STARTTLS")
			s.expect("STARTTLS")
			s.write("454 4.7.0 TLS not available\r\n")
			s.quit()
		}, 454, nil},
		{"garbage banner", func(s *script) {
			s.write("hello there\r\n")
		}, 0, errProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, tc.script)
			_, err := Dial(testCtx(t), addr, &Options{TLSPolicy: TLSRequired})
			if err == nil {
				t.Fatal("no error")
			}
			var se *smtp.SMTPError
			if tc.code != 0 && (!errors.As(err, &se) || se.Code != tc.code) {
				t.Fatalf("err %v, want code %d", err, tc.code)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err %v, want %v", err, tc.is)
			}
		})
	}
}

func TestScriptSTARTTLSRefusedOpportunistic(t *testing.T) {
	addr, log := loopServer(t, []string{"STARTTLS"}, func(cmd string) string {
		if cmd == "STARTTLS" {
			return "454 4.7.0 no TLS today\r\n"
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, nil)
	if _, ok := c.TLS(); ok {
		t.Fatal("TLS")
	}
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
	c.Close()
	if got := log(); got[0] != "STARTTLS" || !strings.HasPrefix(got[1], "MAIL") {
		t.Fatal(got)
	}
}

func TestScriptInjectionAfterSTARTTLS(t *testing.T) {
	addr := serve(t, func(s *script) {
		s.greet("STARTTLS")
		s.expect("STARTTLS")
		// CVE-2011-0411: a reply sent before the handshake, hoping to be
		// read as if protected.
		s.write("220 go ahead\r\n250-injected\r\n250 PIPELINING\r\n")
		s.hang() // the client hangs up
	})
	_, err := Dial(testCtx(t), addr, nil)
	if !errors.Is(err, errProtocol) {
		t.Fatalf("err %v", err)
	}
}

func TestScriptGarbageReplies(t *testing.T) {
	cases := map[string]string{
		"text":        "hello world\r\n",
		"short":       "25\r\n",
		"bad code":    "650 what\r\n",
		"no space":    "250ok\r\n",
		"mixed codes": "250-first\r\n251 second\r\n",
		"long line":   "250 " + strings.Repeat("x", MaxReplyLineLength) + "\r\n",
		"many lines":  strings.Repeat("250-more\r\n", MaxReplyLines) + "250 end\r\n",
		"eof inside":  "250-first\r\n",
		"3xx to MAIL": "354 what\r\n",
	}
	for name, garbage := range cases {
		t.Run(name, func(t *testing.T) {
			addr, _ := loopServer(t, []string{"PIPELINING"}, func(cmd string) string {
				if strings.HasPrefix(cmd, "MAIL") {
					return garbage
				}
				if strings.HasPrefix(cmd, "RCPT") {
					return "" // hang up after the garbage
				}
				return okReply(cmd)
			})
			c := dialT(t, addr, nil)
			res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
			if err == nil {
				t.Fatal("no error")
			}
			if name != "eof inside" && !errors.Is(err, errProtocol) {
				t.Errorf("err %v", err)
			}
			if got := statuses(res); got != "b@y.test=tempfailed 451" {
				t.Fatal(got)
			}
		})
	}
}

// hang waits for the client to give up and close.
func (s *script) hang() {
	s.c.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		if _, err := s.br.ReadByte(); err != nil {
			return
		}
	}
}

func TestScriptTimeouts(t *testing.T) {
	silentEnd := func(s *script) {
		s.greet("PIPELINING")
		for i := 0; i < 3; i++ {
			s.line()
		}
		s.write("250 ok\r\n250 ok\r\n354 go\r\n")
		s.data()
		s.hang()
	}
	env := &Envelope{From: "a@x.test", To: []string{"b@y.test"}}

	t.Run("context deadline", func(t *testing.T) {
		c := dialT(t, serve(t, silentEnd), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		res, err := c.Send(ctx, env, strings.NewReader(simpleMsg))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		if got := statuses(res); got != "b@y.test=tempfailed 451" {
			t.Fatal(got)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		c := dialT(t, serve(t, silentEnd), nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := c.Send(ctx, env, strings.NewReader(simpleMsg))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("DataEnd timeout", func(t *testing.T) {
		c := dialT(t, serve(t, silentEnd), &Options{Timeouts: Timeouts{DataEnd: 100 * time.Millisecond}})
		_, err := c.Send(context.Background(), env, strings.NewReader(simpleMsg))
		if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("banner timeout", func(t *testing.T) {
		addr := serve(t, func(s *script) { s.hang() })
		start := time.Now()
		_, err := Dial(context.Background(), addr, &Options{Timeouts: Timeouts{Banner: 100 * time.Millisecond}})
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("dial context", func(t *testing.T) {
		addr := serve(t, func(s *script) { s.hang() })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, addr, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestScriptChunkRefusedThenNext(t *testing.T) {
	chunks := 0
	addr, log := loopServer(t, []string{"PIPELINING", "CHUNKING"}, func(cmd string) string {
		if strings.HasPrefix(cmd, "BDAT") {
			switch chunks++; {
			case chunks == 2:
				return "552 5.3.4 too big\r\n"
			case chunks > 2 && chunks < 6:
				return "503 5.5.1 no transaction\r\n"
			}
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, &Options{IgnoreKeywords: []string{"SIZE"}, Limits: Limits{ChunkSize: 1000}})
	msg := strings.Repeat("123456789\r\n", 400) // 4400 bytes: 5 chunks
	res := send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, msg)
	if got := statuses(res); got != "b@y.test=permfailed 552" {
		t.Fatal(got)
	}
	res = send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, "x\r\n")
	if got := statuses(res); got != "b@y.test=accepted 250" {
		t.Fatal(got)
	}
	c.Close()
	cmds, data := splitLog(log())
	want := "MAIL FROM:<a@x.test>|RCPT TO:<b@y.test>|BDAT|BDAT|BDAT|BDAT|BDAT LAST|" +
		"RSET|MAIL FROM:<a@x.test>|RCPT TO:<b@y.test>|BDAT LAST|QUIT"
	if data != msg+"x\r\n" {
		t.Errorf("chunks do not add up to the messages")
	}
	if got := join(cmds); got != want {
		t.Fatalf("server got %s\nwant       %s", got, want)
	}
}

func TestScriptBDATReadErrorThenNext(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, kw := range [][]string{{"CHUNKING"}, {"CHUNKING", "PIPELINING"}} {
		t.Run(strings.Join(kw, "+"), func(t *testing.T) {
			addr, log := loopServer(t, kw, okReply)
			c := dialT(t, addr, &Options{IgnoreKeywords: []string{"SIZE"}, Limits: Limits{ChunkSize: 1000}})
			r := &failingReader{data: strings.Repeat("123456789\r\n", 300), err: boom}
			res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}, Body: Body7Bit}, r)
			if !errors.Is(err, boom) || statuses(res) != "b@y.test=tempfailed 451" {
				t.Fatal(err, statuses(res))
			}
			send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, "x\r\n")
			c.Close()
			cmds, data := splitLog(log())
			want := "MAIL FROM:<a@x.test>|RCPT TO:<b@y.test>|BDAT|BDAT|BDAT|" +
				"RSET|MAIL FROM:<a@x.test>|RCPT TO:<b@y.test>|BDAT LAST|QUIT"
			if first, ok := strings.CutSuffix(data, "x\r\n"); !ok || len(first) < 3000 || !strings.HasPrefix(strings.Repeat("123456789\r\n", 300), first) {
				t.Errorf("chunks do not add up to the messages: %q", data)
			}
			if got := join(cmds); got != want {
				t.Fatalf("server got %s", got)
			}
		})
	}
}

func TestScriptQuitBounded(t *testing.T) {
	addr := serve(t, func(s *script) {
		s.greet()
		s.expect("QUIT")
		s.hang() // no reply
	})
	c := dialT(t, addr, &Options{Timeouts: Timeouts{Quit: 100 * time.Millisecond}})
	start := time.Now()
	if err := c.Close(); err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Close: %v after %v", err, time.Since(start))
	}
}

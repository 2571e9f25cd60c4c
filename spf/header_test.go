package spf

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

func TestReceivedSPF(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})

	o := check(t, c, "192.0.2.1", "mail.client.test", "user@example.test")
	want := "Received-SPF: pass (mx.example.org: domain of user@example.test designates\r\n" +
		"\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n" +
		"\tenvelope-from=\"user@example.test\"; helo=mail.client.test;\r\n" +
		"\treceiver=mx.example.org; identity=mailfrom; mechanism=\"ip4:192.0.2.1\";"
	if o.Received != want {
		t.Errorf("Received-SPF:\n%s\nwant\n%s", o.Received, want)
	}

	o = check(t, c, "192.0.2.99", "[192.0.2.99]", "we(i)rd\"\\@example.test")
	want = "Received-SPF: fail (mx.example.org: domain of we\\(i\\)rd\"\\\\@example.test does\r\n" +
		"\tnot designate 192.0.2.99 as permitted sender) client-ip=192.0.2.99;\r\n" +
		"\tenvelope-from=\"we(i)rd\\\"\\\\@example.test\"; helo=\"[192.0.2.99]\";\r\n" +
		"\treceiver=mx.example.org; identity=mailfrom; mechanism=-all;"
	if o.Received != want {
		t.Errorf("Received-SPF with specials:\n%s\nwant\n%s", o.Received, want)
	}

	c2 := checker(srv, Options{})
	c2.receiver = ""
	o = check(t, c2, "192.0.2.99", "client.test", "a@neutral.example.test")
	want = "Received-SPF: neutral (192.0.2.99 is neither permitted nor denied by domain of\r\n" +
		"\ta@neutral.example.test) client-ip=192.0.2.99;\r\n" +
		"\tenvelope-from=\"a@neutral.example.test\"; helo=client.test; identity=mailfrom;\r\n" +
		"\tmechanism=?all;"
	if o.Received != want {
		t.Errorf("Received-SPF without receiver:\n%s\nwant\n%s", o.Received, want)
	}
}

func TestReceivedSPFWellFormed(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{Guess: true})
	for _, sender := range []string{
		"a@example.test", "a@soft.example.test", "a@none.example.test", "a@perm.example.test",
		"a@guess.test", "a@explained.example.test", "", "x@" + strings.Repeat("long-label.", 20) + "example.test",
	} {
		for _, ip := range []string{"192.0.2.99", "2001:db8::1"} {
			o := check(t, c, ip, "mail.example.test", sender)
			lines := strings.Split(o.Received, "\r\n")
			for i, l := range lines {
				if len(l) > maxHeaderLine && !strings.Contains(l, "long-label") {
					t.Errorf("%s: line of %d characters: %q", sender, len(l), l)
				}
				if i > 0 && !strings.HasPrefix(l, "\t") {
					t.Errorf("%s: continuation without white space: %q", sender, l)
				}
				if strings.ContainsAny(l, "\r\n") {
					t.Errorf("%s: stray line break", sender)
				}
			}
			name := "Received-SPF: "
			if o.Guessed {
				name = "X-SPF-Guess: "
			}
			unfolded := strings.ReplaceAll(o.Received, "\r\n\t", " ")
			if !strings.HasPrefix(unfolded, name+string(o.Result)+" (") {
				t.Errorf("%s: %q", sender, unfolded)
			}
			for _, key := range []string{"client-ip=", "helo=", "identity=mailfrom;"} {
				if !strings.Contains(unfolded, key) {
					t.Errorf("%s: no %s in %q", sender, key, unfolded)
				}
			}
		}
	}
}

func TestHeaderComments(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	for sender, want := range map[string]string{
		"a@example.test":      "mx.example.org: domain of a@example.test designates 192.0.2.1 as permitted sender",
		"a@none.example.test": "mx.example.org: domain of a@none.example.test does not designate permitted sender hosts",
	} {
		if o := check(t, c, "192.0.2.1", "client.test", sender); o.HeaderComment != want {
			t.Errorf("%s: %q\nwant %q", sender, o.HeaderComment, want)
		}
	}
	for sender, want := range map[string]string{
		"a@example.test":         "mx.example.org: domain of a@example.test does not designate 192.0.2.99 as permitted sender",
		"a@soft.example.test":    "mx.example.org: domain of transitioning a@soft.example.test does not designate 192.0.2.99 as permitted sender",
		"a@neutral.example.test": "mx.example.org: 192.0.2.99 is neither permitted nor denied by domain of a@neutral.example.test",
		"a@perm.example.test":    "mx.example.org: permanent error in processing domain of a@perm.example.test: syntax error in SPF record",
		"a@lookups.example.test": "mx.example.org: permanent error in processing domain of a@lookups.example.test: lookup limit reached",
	} {
		o := check(t, c, "192.0.2.99", "client.test", sender)
		if o.HeaderComment != want {
			t.Errorf("%s: %q\nwant %q", sender, o.HeaderComment, want)
		}
	}
	srv.SetMode("broken.test", dnstest.ServFail(2, ""))
	o := check(t, c, "192.0.2.99", "client.test", "a@broken.test")
	if want := "mx.example.org: error in processing during lookup of domain of a@broken.test: DNS server failure"; o.HeaderComment != want {
		t.Errorf("temperror: %q", o.HeaderComment)
	}
}

func TestAuthResult(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	srv.SetMode("broken.test", dnstest.ServFail(2, ""))
	tests := []struct {
		ip, helo, sender string
		want             string
	}{
		{"192.0.2.1", "mail.client.test", "user@example.test",
			"mx.example.org; spf=pass smtp.helo=mail.client.test smtp.mailfrom=user@example.test"},
		{"192.0.2.99", "mail.client.test", "user@example.test",
			"mx.example.org; spf=fail smtp.helo=mail.client.test smtp.mailfrom=user@example.test"},
		{"192.0.2.99", "mail.client.test", "user@soft.example.test",
			"mx.example.org; spf=softfail smtp.helo=mail.client.test smtp.mailfrom=user@soft.example.test"},
		{"192.0.2.10", "mail.example.test", "",
			"mx.example.org; spf=pass smtp.helo=mail.example.test smtp.mailfrom=postmaster@mail.example.test"},
		{"192.0.2.99", "mail.client.test", "user@broken.test",
			`mx.example.org; spf=temperror reason="DNS server failure" smtp.helo=mail.client.test smtp.mailfrom=user@broken.test`},
	}
	for _, tt := range tests {
		o := check(t, c, tt.ip, tt.helo, tt.sender)
		got := authres.Format("mx.example.org", []authres.Result{o.AuthResult()})
		if got != tt.want {
			t.Errorf("%s from %s:\n%s\nwant\n%s", tt.sender, tt.ip, got, tt.want)
			continue
		}
		// And it reads back.
		id, res, err := authres.Parse(got)
		if err != nil || id != "mx.example.org" || len(res) != 1 {
			t.Errorf("parse %q: %v", got, err)
			continue
		}
		if r, ok := res[0].(*authres.SPFResult); !ok || r.Value != o.AuthResult().Value || r.From != o.AuthResult().From {
			t.Errorf("parsed back as %#v", res[0])
		}
	}
}

func TestHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":     "192.0.2.1",
		"2001:db8::1":   `"2001:db8::1"`,
		"a@example.com": `"a@example.com"`,
		"mx.example":    "mx.example",
		"-all":          "-all",
		"":              `""`,
		"a..b":          `"a..b"`,
		"x\r\ny":        `"x??y"`,
		`q"\`:           `"q\"\\"`,
	} {
		if got := headerValue(in); got != want {
			t.Errorf("headerValue(%q) = %s, want %s", in, got, want)
		}
	}
}

package client

import (
	"bytes"
	"strings"
	"testing"
)

// TestTextWriter checks line-end normalisation and dot-stuffing with the
// input split at every position, so that a CR at the end of a write and
// a dot at the start of one are seen.
func TestTextWriter(t *testing.T) {
	cases := []struct{ in, data, bdat string }{
		{"", "", ""},
		{"a", "a\r\n", "a\r\n"},
		{"a\r\n", "a\r\n", "a\r\n"},
		{"a\nb\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\r\r\nb", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
		{".", "..\r\n", ".\r\n"},
		{".\r\n", "..\r\n", ".\r\n"},
		{"x\r\n.\r\n", "x\r\n..\r\n", "x\r\n.\r\n"},
		{"x\n.y\n..z", "x\r\n..y\r\n...z\r\n", "x\r\n.y\r\n..z\r\n"},
		{"x\r.", "x\r\n..\r\n", "x\r\n.\r\n"},
		{"a.b\r\n .c", "a.b\r\n .c\r\n", "a.b\r\n .c\r\n"},
		{"\n\n", "\r\n\r\n", "\r\n\r\n"},
		{"\r\n.\r\n\r\n", "\r\n..\r\n\r\n", "\r\n.\r\n\r\n"},
	}
	for _, tc := range cases {
		for split := 0; split <= len(tc.in); split++ {
			for _, stuff := range []bool{true, false} {
				var out bytes.Buffer
				tw := newTextWriter(&out, stuff)
				if n, err := tw.Write([]byte(tc.in[:split])); err != nil || n != split {
					t.Fatal(n, err)
				}
				tw.Write([]byte(tc.in[split:]))
				tw.end()
				want := tc.bdat
				if stuff {
					want = tc.data
				}
				if out.String() != want {
					t.Errorf("%q split at %d, stuff %v: got %q, want %q", tc.in, split, stuff, out.String(), want)
				}
			}
		}
	}
}

func TestHas8Bit(t *testing.T) {
	for i := 0; i < 20; i++ {
		b := []byte(strings.Repeat("a", 20))
		if has8Bit(b) {
			t.Fatal("7-bit seen as 8-bit")
		}
		b[i] = 0x80
		if !has8Bit(b) {
			t.Fatalf("8-bit byte at %d missed", i)
		}
	}
}

func TestChunker(t *testing.T) {
	c := &Conn{opts: (&Options{Limits: Limits{ChunkSize: 10}}).withDefaults()}
	msg := strings.Repeat("abc\n", 12)
	k := c.newChunker(strings.NewReader(msg), false)
	var all []string
	for {
		chunk, last, err := k.next()
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk) > 10 || (!last && len(chunk) != 10) {
			t.Fatalf("chunk of %d", len(chunk))
		}
		all = append(all, string(chunk))
		if last {
			break
		}
	}
	if got := strings.Join(all, ""); got != strings.ReplaceAll(msg, "\n", "\r\n") {
		t.Fatalf("%q", got)
	}
	// Binary: bytes as they are.
	k = c.newChunker(strings.NewReader("a\nb\x00"), true)
	chunk, last, err := k.next()
	if err != nil || !last || string(chunk) != "a\nb\x00" {
		t.Fatalf("%q %v %v", chunk, last, err)
	}
}

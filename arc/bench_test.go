package arc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// The benchmarks compare Verify and Seal with their raw cost: SHA-256
// over the same bytes plus the RSA operations the operation needs (two
// verifications, the newest AMS and its AS; two signatures, AMS and AS).
// Key lookups go to an in-memory table, so that the figures are the
// package's own work; the unit tests do lookups over DNS on loopback.
//
//	go test -run '^$' -bench . -benchmem ./arc/

var benchSizes = []struct {
	name string
	size int
}{{"10KiB", 10 << 10}, {"1MiB", 1 << 20}}

// benchMessage is a plain text message with a body of about size bytes
// and an Authentication-Results field of authserv-id mx.example.org.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=sender.example\r\n" +
		"From: Sender <s@sender.example>\r\nTo: r@example.org\r\nSubject: benchmark\r\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <bench@sender.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n")
	line := "The quick brown fox jumps over the lazy dog, again and again, and then.\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

type benchWorld struct {
	key    *rsa.PrivateKey
	opts   *SealOptions
	vopts  *VerifyOptions
	plain  map[int][]byte // by size
	sealed map[int][]byte
}

func newBenchWorld(b *testing.B) *benchWorld {
	key := rsaKey(b, 2048)
	records := map[string][]string{"bench._domainkey.example.org.": {keyRecord(b, key.Public())}}
	w := &benchWorld{
		key: key,
		opts: &SealOptions{
			Domain: "example.org", Selector: "bench", Signer: key,
			AuthServID: "mx.example.org", Timestamps: true,
			Now: func() time.Time { return time.Unix(1700000000, 0) },
		},
		vopts: &VerifyOptions{LookupTXT: func(_ context.Context, name string) ([]string, error) {
			if r, ok := records[name]; ok {
				return r, nil
			}
			return nil, fmt.Errorf("no record %s", name)
		}},
		plain:  map[int][]byte{},
		sealed: map[int][]byte{},
	}
	for _, s := range benchSizes {
		msg := benchMessage(s.size)
		res, err := Seal(bytes.NewReader(msg), w.opts)
		if err != nil || res.Header == "" {
			b.Fatalf("Seal: %v %+v", err, res)
		}
		w.plain[s.size] = msg
		w.sealed[s.size] = append([]byte(res.Header), msg...)
		v, err := Verify(context.Background(), bytes.NewReader(w.sealed[s.size]), w.vopts)
		if err != nil || v.State != StatePass {
			b.Fatalf("Verify: %v %+v", err, v)
		}
	}
	return w
}

func BenchmarkVerify(b *testing.B) {
	w := newBenchWorld(b)
	for _, s := range benchSizes {
		msg := w.sealed[s.size]
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := Verify(context.Background(), bytes.NewReader(msg), w.vopts)
				if err != nil || res.State != StatePass {
					b.Fatal(err, res)
				}
			}
			reportSHAFraction(b, msg)
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	w := newBenchWorld(b)
	for _, s := range benchSizes {
		msg := w.plain[s.size]
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := Seal(bytes.NewReader(msg), w.opts)
				if err != nil || res.Header == "" {
					b.Fatal(err, res)
				}
			}
		})
	}
}

// BenchmarkRawVerify is SHA-256 over the message plus two RSA-2048
// verifications: the floor under BenchmarkVerify.
func BenchmarkRawVerify(b *testing.B) {
	w := newBenchWorld(b)
	digest := sha256.Sum256([]byte("x"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, w.key, crypto.SHA256, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range benchSizes {
		msg := w.sealed[s.size]
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				sha256.Sum256(msg)
				for range 2 {
					if err := rsa.VerifyPKCS1v15(&w.key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRawSeal is SHA-256 over the message plus two RSA-2048
// signatures: the floor under BenchmarkSeal.
func BenchmarkRawSeal(b *testing.B) {
	w := newBenchWorld(b)
	digest := sha256.Sum256([]byte("x"))
	for _, s := range benchSizes {
		msg := w.plain[s.size]
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				sha256.Sum256(msg)
				for range 2 {
					if _, err := rsa.SignPKCS1v15(rand.Reader, w.key, crypto.SHA256, digest[:]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// reportSHAFraction reports the benchmark's throughput as a fraction of
// SHA-256's over the same bytes, measured right after it (the target for
// Verify of 1 MiB is 0.6 or more).
func reportSHAFraction(b *testing.B, msg []byte) {
	if b.N < 10 {
		return // the calibration runs
	}
	op := b.Elapsed() / time.Duration(b.N)
	start := time.Now()
	for range b.N {
		sha256.Sum256(msg)
	}
	sha := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(sha)/float64(op), "sha256-fraction")
}

// BenchmarkRawSHA256 is SHA-256 alone over the sealed message, the
// throughput the verification target is stated against.
func BenchmarkRawSHA256(b *testing.B) {
	w := newBenchWorld(b)
	for _, s := range benchSizes {
		msg := w.sealed[s.size]
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				sha256.Sum256(msg)
			}
		})
	}
}

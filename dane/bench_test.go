package dane

import (
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

func BenchmarkVerifyEE(b *testing.B) {
	leaf := pkitest.NewCA(b, pkitest.ECDSA).Issue(b, pkitest.Leaf{Names: []string{"mx.example.test"}})
	recs := Usable([]Record{rec(b, leaf.Certificate, 3, 1, 1)})
	chain := leaf.Chain()
	now := time.Now()
	for b.Loop() {
		if _, err := verifyChain(chain, recs, []string{"mx.example.test"}, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyTA(b *testing.B) {
	in := pkitest.NewCA(b, pkitest.ECDSA).NewIntermediate(b, pkitest.ECDSA)
	leaf := in.Issue(b, pkitest.Leaf{Names: []string{"mx.example.test"}})
	recs := Usable([]Record{rec(b, in.Certificate, 2, 1, 1)})
	chain := leaf.Chain()
	now := time.Now()
	for b.Loop() {
		if _, err := verifyChain(chain, recs, []string{"mx.example.test"}, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUsable(b *testing.B) {
	d32, d64 := make([]byte, 32), make([]byte, 64)
	recs := []Record{{3, 1, 1, d32}, {3, 1, 2, d64}, {2, 1, 1, d32}, {1, 1, 1, d32}}
	for b.Loop() {
		Usable(recs)
	}
}

package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
)

// KeyType chooses the key algorithm of one certificate. The zero value is
// [ECDSA]; any other value is an RSA modulus size in bits, so [RSA] is 2048
// and RSABits(1024) gives a weak key for negative tests.
type KeyType int

const (
	// ECDSA is an ECDSA key on NIST P-256, freshly generated for every
	// certificate.
	ECDSA KeyType = 0
	// RSA is a 2048-bit RSA key taken from the package's key pool.
	RSA KeyType = 2048
)

// RSABits returns the KeyType of an RSA key with a modulus of bits bits.
// crypto/rsa refuses to generate keys below 1024 bits.
func RSABits(bits int) KeyType { return KeyType(bits) }

// String returns "ECDSA-P256" or "RSA-<bits>", handy as a subtest name.
func (k KeyType) String() string {
	if k == ECDSA {
		return "ECDSA-P256"
	}
	return fmt.Sprintf("RSA-%d", int(k))
}

// rsaSlot is one pooled RSA key, generated on first use.
type rsaSlot struct {
	once sync.Once
	key  *rsa.PrivateKey
	err  error
}

// rsaPool keeps the RSA keys of this process, per modulus size. RSA key
// generation takes tens of milliseconds (more under -race), so keys are
// reused across tests; a key is never handed out twice within one scope (one
// hierarchy of certificates, one top-level test), so certificates that a test
// compares always have distinct keys.
var rsaPool struct {
	mu    sync.Mutex
	slots map[int][]*rsaSlot
	used  map[string]map[*rsaSlot]bool
}

// newKey returns a private key of type k that none of scopes has had yet.
func newKey(k KeyType, scopes []string) (crypto.Signer, error) {
	if k == ECDSA {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("pkitest: generating ECDSA key: %w", err)
		}
		return key, nil
	}
	if k < 0 {
		return nil, fmt.Errorf("pkitest: invalid key type %d", int(k))
	}
	slot := takeRSASlot(int(k), scopes)
	slot.once.Do(func() {
		slot.key, slot.err = rsa.GenerateKey(rand.Reader, int(k))
	})
	if slot.err != nil {
		return nil, fmt.Errorf("pkitest: generating %v key: %w", k, slot.err)
	}
	return slot.key, nil
}

// takeRSASlot picks the first pooled key of size bits unused in all of
// scopes, adding a new slot when there is none, and marks it used.
func takeRSASlot(bits int, scopes []string) *rsaSlot {
	p := &rsaPool
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slots == nil {
		p.slots = make(map[int][]*rsaSlot)
		p.used = make(map[string]map[*rsaSlot]bool)
	}
	var slot *rsaSlot
	for _, s := range p.slots[bits] {
		free := true
		for _, sc := range scopes {
			if p.used[sc][s] {
				free = false
				break
			}
		}
		if free {
			slot = s
			break
		}
	}
	if slot == nil {
		slot = new(rsaSlot)
		p.slots[bits] = append(p.slots[bits], slot)
	}
	for _, sc := range scopes {
		if p.used[sc] == nil {
			p.used[sc] = make(map[*rsaSlot]bool)
		}
		p.used[sc][slot] = true
	}
	return slot
}

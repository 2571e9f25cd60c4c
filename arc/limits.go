package arc

import "time"

// Limits. Those with a field in VerifyOptions can be changed there; the
// zero value of the field means the constant.
const (
	// MaxInstances is the highest ARC instance number (RFC 8617 section
	// 4.2.1). A message with more ARC sets fails validation (section
	// 5.2 step 1) and gets no new seal (section 5.1).
	MaxInstances = 50

	// MaxHeaderFields is how many header fields Verify and Seal read
	// before giving up on a message (VerifyOptions.MaxHeaderFields).
	// RFC 5321 section 6.3 lets relays treat 100 Received fields as a
	// loop; ten times that leaves room for every other field.
	MaxHeaderFields = 1000

	// MaxHeaderBytes is the largest header section Verify and Seal read,
	// continuation lines included (VerifyOptions.MaxHeaderBytes). Exim's
	// header_maxsize defaults to the same 1 MiB. Memory use does not
	// depend on the body, which is hashed as it streams.
	MaxHeaderBytes = 1 << 20

	// MinRSAKeyBits is the smallest RSA key whose signatures verify (RFC
	// 8301 section 3.2: keys under 1024 bits are not valid), and the
	// smallest Seal signs with (VerifyOptions.MinRSAKeyBits).
	MinRSAKeyBits = 1024

	// MaxRSAKeyBits is the largest RSA key accepted, to verify or to
	// seal: RFC 8301 section 3.2 asks verifiers to handle keys up to
	// 4096 bits, and larger ones only cost the verifier time.
	MaxRSAKeyBits = 4096

	// DefaultExpire is the lifetime Exim's arc_sign gives a seal with
	// its bare "expire" option: the AMS x= tag lies one month (30 days)
	// after t= (RFC 6376 section 3.5).
	DefaultExpire = 30 * 24 * time.Hour
)

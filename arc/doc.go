// Package arc verifies and adds Authenticated Received Chain sets (ARC,
// RFC 8617), what Exim offers as its experimental "verify = arc" and
// "arc_sign".
//
// A go-smtp server verifies in its session's Data, and a mailing list
// seals what it sends on:
//
//	res, err := arc.Verify(ctx, msg, &arc.VerifyOptions{TrustedSealers: []string{"lists.example.org"}})
//	// res.State, res.AuthResult(); res.Trusted for a DMARC override
//	set, err := arc.Seal(msg, &arc.SealOptions{Domain: "example.org", Selector: "arc", Signer: key})
//	// send set.Header followed by the message
//
// An ARC set is three header fields that an intermediary (a mailing
// list, a forwarder) adds when it passes a message on: an
// ARC-Authentication-Results copy of its own authentication results, an
// ARC-Message-Signature over the message as it sends it, and an ARC-Seal
// over all the ARC fields so far. A receiver that validates the chain
// and trusts the sealers can use the results they recorded where its own
// checks fail because of their changes, as DMARC does after a mailing
// list rewrote the body.
//
// # Verifying
//
// Verify reads a message once, hashing the body as it streams, and runs
// the validator of RFC 8617 section 5.2. Its Result carries what Exim's
// variables hold:
//
//	Exim                          arc.Result
//	verify = arc                  Verify, then test Result.State
//	verify = arc/pass:none        Result.State == StatePass || Result.State == StateNone
//	$arc_state                    State: "none", "pass" or "fail"
//	$arc_state_reason             Reason
//	$arc_domains                  strings.Join(Domains, ":"), "" for a set without a usable seal
//	$arc_oldest_pass              OldestPass
//	${authresults {admd}}         authres.Format(admd, []authres.Result{res.AuthResult()})
//
// Key records come from DNS through VerifyOptions.LookupTXT, which a
// *net.Resolver's LookupTXT method fits. RSA keys of MinRSAKeyBits to
// MaxRSAKeyBits bits with rsa-sha256 and Ed25519 keys with
// ed25519-sha256 (RFC 8463) are accepted; rsa-sha1 and smaller keys fail
// (RFC 8301). A chain that fails only because a key lookup failed for
// now (timeout, SERVFAIL) has Result.Temporary set.
//
// A valid chain says who handled the message, not whether to believe
// them. VerifyOptions.TrustedSealers names the sealers this receiver
// believes; Result.Trusted is then the oldest set they vouch for, with
// the results it recorded (RFC 8617 section 7.2), for a DMARC policy
// override.
//
// # Sealing
//
// Seal adds a set, after Exim's arc_sign = admd : selector : key [:
// options]:
//
//	Exim                          arc.SealOptions
//	admd                          Domain (d=), and AuthServID unless set
//	selector                      Selector (s=)
//	key                           Signer: *rsa.PrivateKey or ed25519.PrivateKey
//	option timestamps             Timestamps (t=)
//	option expire                 Expire: DefaultExpire (x=, one month)
//	option expire+N               Expire: N seconds
//	option expire=N               ExpireAt: time.Unix(N, 0)
//
// As in Exim and dkimpy, the new ARC-Authentication-Results copies the
// Authentication-Results fields this ADMD added on entry (the ones whose
// authserv-id is AuthServID above the newest ARC set, raw, merged in
// order when there are several); a message without one gets no set. The new cv= is none for
// the first set, else the arc= result recorded there (or
// SealOptions.Chain, the result of an earlier Verify); a message whose
// newest seal says cv=fail, or that carries MaxInstances sets, or ARC
// sets without an arc= result, gets no set; a cv=fail seal covers its own
// set only (RFC 8617 section 5.1.2). The signatures use relaxed/relaxed
// canonicalisation, i= comes first, and no ARC field is ever signed by
// the ARC-Message-Signature.
//
// # With go-smtp
//
// On receipt, in a Session's Data, verify while spooling and record the
// result in the Authentication-Results field the server adds:
//
//	func (s *session) Data(r io.Reader) error {
//		var msg bytes.Buffer
//		res, err := arc.Verify(s.ctx, io.TeeReader(r, &msg), &arc.VerifyOptions{
//			LookupTXT:      resolver.LookupTXT,
//			TrustedSealers: []string{"lists.example.org"},
//		})
//		if err != nil {
//			return err
//		}
//		if res.State == arc.StateFail && res.Temporary {
//			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 5}, Message: "ARC key lookup failed, try later"}
//		}
//		ar := "Authentication-Results: " + authres.Format(hostname, []authres.Result{res.AuthResult()}) + "\r\n"
//		return s.store(io.MultiReader(strings.NewReader(ar), &msg))
//	}
//
// When relaying a message that carries that field, seal it and prepend
// the set:
//
//	set, err := arc.Seal(bytes.NewReader(msg), &arc.SealOptions{
//		Domain: "example.org", Selector: "arc2024", Signer: key, AuthServID: hostname,
//	})
//	if err != nil {
//		return err
//	}
//	body := io.MultiReader(strings.NewReader(set.Header), bytes.NewReader(msg))
//
// # RFC 8617, section by section
//
//   - 4.1.1 ARC-Authentication-Results: parsed for its instance (i= first,
//     then ";"); written by Seal from this ADMD's Authentication-Results.
//   - 4.1.2 ARC-Message-Signature: DKIM-Signature syntax and semantics (RFC
//     6376 sections 3.5 and 3.7) with i= and no v=; an AMS whose h= lists
//     ARC-Seal is invalid.
//   - 4.1.3 ARC-Seal: cv= none/pass/fail, no h=; signs the sets in the
//     order of section 5.1.1, relaxed header canonicalisation.
//   - 4.2.1 instances 1 to 50 (MaxInstances).
//   - 5.1 sealing, 5.1.2 a cv=fail seal covers its own set only.
//   - 5.2 validation: steps 1 (collect, none, over 50 fail), 2 (newest seal
//     cv=fail), 3 (structure and cv= of each seal), 4 (newest AMS), 5
//     (oldest-pass), 6 (every seal, newest first), 7 (pass).
//   - 7.2 use of the chain by a receiver: TrustedSealers.
//   - 10.1 the arc= result and header.oldest-pass of Authentication-Results.
//
// # The conformance suite
//
// The tests run the ARC test suite of ValiMail (testdata, see its
// PROVENANCE.md): all 171 validation cases (175 in the original YAML,
// four names repeated) and all 17 signing cases. Where the suite
// disagrees with RFC 8617, this package follows the RFC, and the test
// checks the RFC's answer:
//
//	case                     suite  here  why
//	cv_fail_i1_as_cv_fail    ""     fail  RFC 8617 section 5.2 step 2: newest seal says cv=fail
//	cv_fail_i2_as2_fail      ""     fail  the same
//	cv_fail_i2_as1_fail      ""     fail  section 5.2 step 3.3: cv=fail on an older seal
//	ams_fields_c_na          pass   fail  a missing c= is simple/simple (RFC 6376 section 3.5,
//	                                      imported by RFC 8617 section 4.1.2); the AMS was
//	                                      signed relaxed
//
// Other decisions the suite leaves open: tags are accepted in any order
// (the suite writes a= first; Seal writes i= first, as RFC 8617's
// grammar does); an AMS may list ARC-Authentication-Results and
// ARC-Message-Signature in h= (the suite's messages do) but not
// ARC-Seal, and Seal never lists any ARC field; t= is optional and never
// compared with the clock (the suite signs in 1970), while an AMS x=
// already past fails (RFC 6376 section 3.5). The signing cases' expected
// ARC-Seal b= values were computed by the suite's reference signer over
// its new ARC-Message-Signature with the b= value on one line, which it
// then folded, so that as published they do not verify (dkimpy 1.1.4
// agrees); a test-only layout of Seal (tags in alphabetical order, b=
// unfolded) reproduces every expected b= byte for byte, and the sets so
// made verify.
package arc

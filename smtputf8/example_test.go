package smtputf8_test

import (
	"fmt"

	"github.com/smtpkit/smtpkit/smtputf8"
)

// Exim's conversions.
func Example() {
	a, _ := smtputf8.LocalPartToALabel("ل")
	u, _ := smtputf8.LocalPartFromALabel("xn--Jrg.Mller-07a4e")
	d, _ := smtputf8.DomainToALabel("Bücher.EXAMPLE")
	b, _ := smtputf8.DomainFromALabel("xn--strae-oqa.de")
	_, err := smtputf8.DomainToALabel("☃.net")
	fmt.Println(a, u, d, b)
	fmt.Println(err != nil)
	// Output:
	// xn--ghb Jörg.Müller xn--bcher-kva.example straße.de
	// true
}

func ExampleCheckAddress() {
	fmt.Println(smtputf8.CheckAddress("jörg@bücher.example", true))
	fmt.Println(smtputf8.CheckAddress("jörg@bücher.example", false))
	fmt.Println(smtputf8.CheckAddress("jörg..x@bücher.example", true))
	// Output:
	// <nil>
	// smtputf8: non-ASCII address without SMTPUTF8: "jörg@bücher.example"
	// smtputf8: bad address syntax: "jörg..x@bücher.example": empty atom in local part
}

func ExampleEqual() {
	// NFD and NFC local parts, U-label and A-label domains.
	fmt.Println(smtputf8.Equal("Jo\u0308rg@Bücher.example", "J\u00f6rg@xn--bcher-kva.example"))
	fmt.Println(smtputf8.Key("Jo\u0308rg@Bücher.example"))
	// Output:
	// true
	// Jörg@xn--bcher-kva.example
}

func ExampleDSNAddress() {
	fmt.Println(smtputf8.DSNAddress("用户@例子.广告", false))
	fmt.Println(smtputf8.DSNAddress("用户@例子.广告", true))
	fmt.Println(smtputf8.DSNAddress("user@example.com", false))
	// Output:
	// utf-8;\x{7528}\x{6237}@\x{4F8B}\x{5B50}.\x{5E7F}\x{544A}
	// utf-8;用户@例子.广告
	// rfc822;user@example.com
}

func ExampleReceivedWith() {
	fmt.Println(smtputf8.ReceivedWith(true, true, false))
	// Output: UTF8SMTPS
}

// Package smtptest runs go-smtp servers on loopback ports for tests, records
// what they receive, and talks raw SMTP to them.
//
// Start and Serve bind 127.0.0.1:0 and stop the server when the test ends.
// Sink is a Backend that keeps every message it is given. Client is a
// line-level SMTP client for scripted dialogues, including the malformed
// ones that a well-behaved client library refuses to send.
package smtptest

// Package keyringtest has test helpers for code that talks to the Secret
// Service. It builds on every platform, so that the tests importing it
// compile everywhere; outside Linux its helpers skip the test.
package keyringtest

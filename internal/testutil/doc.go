// Package testutil holds scaffolding shared by the module's tests: a
// goroutine-safe buffer, a fake token provider, a process killer, and
// listeners that record what reaches them (one on an outside address, one
// run as another user).
//
// Only _test.go files may import it; TestOnlyTestsImport enforces that.
package testutil

// Package testutil holds scaffolding shared by the module's tests: a
// goroutine-safe buffer, a fake token provider and a process killer.
//
// Only _test.go files may import it; TestOnlyTestsImport enforces that.
package testutil

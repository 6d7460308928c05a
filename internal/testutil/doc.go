// Package testutil holds scaffolding shared by the module's tests: the
// private environment every test package runs in (RunIsolated, from each
// package's TestMain), the skip that fails in CI (SkipOutsideCI), a
// goroutine-safe buffer, a process killer, signal dispositions for
// children, and listeners that record what reaches them (one on an outside
// address, one run as another user).
//
// Only _test.go files may import it; TestOnlyTestsImport enforces that.
package testutil

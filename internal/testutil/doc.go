// Package testutil holds scaffolding shared by the module's tests: the
// private environment every test package runs in (RunIsolated, from each
// package's TestMain), a goroutine-safe buffer, a fake token provider, a
// process killer and signal dispositions for children.
//
// Only _test.go files may import it; TestOnlyTestsImport enforces that.
package testutil

//go:build !unix

package plugin

// testChild reports that this is no child process of a test: the tests
// that start one are Unix-only.
func testChild() (code int, ok bool) { return 0, false }

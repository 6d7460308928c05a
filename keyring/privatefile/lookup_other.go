//go:build !unix

package privatefile

// CheckLookup checks nothing here: there are no Unix owners or mode bits,
// and a directory under the user profile is private by its ACL.
func CheckLookup(dir, trusted string) error { return nil }

//go:build !unix

package dockerconfig

import "io/fs"

// linkOwner knows no owner where there are no uids; the directory's ACL is
// what guards the link.
func linkOwner(fs.FileInfo) (uid int, ok bool) { return 0, false }

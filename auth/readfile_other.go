//go:build !unix

package auth

import "os"

// openInput opens a file the user named as input. There is no no-follow
// open here; the caller still refuses anything but a regular file.
func openInput(path string) (*os.File, error) { return os.Open(path) }

//go:build unix

package vaultenv

import "syscall"

// openNonBlocking keeps a FIFO planted as a JWT or token file from blocking
// the open; on a regular file it has no effect.
const openNonBlocking = syscall.O_NONBLOCK

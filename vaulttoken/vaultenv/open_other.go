//go:build !unix

package vaultenv

// openNonBlocking is nothing here: there are no FIFOs in the file system.
const openNonBlocking = 0

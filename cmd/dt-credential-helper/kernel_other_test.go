//go:build !linux

package main

import (
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// needKernelKeyring skips: only Linux has a kernel keyring.
func needKernelKeyring(t *testing.T) {
	t.Helper()
	t.Skip("the kernel keyring is Linux's")
}

// kernelEntry finds nothing: only Linux has a kernel keyring.
func kernelEntry(t *testing.T, key string) (keyring.Entry, bool) { return keyring.Entry{}, false }

// forgetKernelToken does nothing: only Linux has a kernel keyring.
func forgetKernelToken(key string) {}

// kernelStoreOrSkip skips: only Linux has a kernel keyring.
func kernelStoreOrSkip(t *testing.T) keyring.Store {
	t.Helper()
	t.Skip("the kernel keyring is Linux's")
	return nil
}

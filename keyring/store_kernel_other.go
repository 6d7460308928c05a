//go:build !linux

package keyring

// kernelTier is nil: the kernel key retention service is Linux's, so the auto
// mode starts with the OS keyring.
func kernelTier() Store { return nil }

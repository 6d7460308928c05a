//go:build !linux

package main

import (
	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// checkKernelKeyring: the kernel keyring is Linux's.
func (d *doctorRun) checkKernelKeyring(mode keyring.Mode) {
	if mode == keyring.ModeKernel {
		d.add("kernel-keyring", "", doctor.Fail, "--cache kernel: the kernel keyring is Linux only", "use --cache auto")
		return
	}
	d.add("kernel-keyring", "", doctor.Skip, "the kernel keyring is Linux only", "")
}

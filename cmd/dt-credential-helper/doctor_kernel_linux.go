package main

import (
	"errors"

	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// checkKernelKeyring checks the kernel keyring when the cache mode keeps
// tokens there: one lookup of a key no account has, which a kernel (or a
// container's seccomp profile) that refuses keyctl fails.
func (d *doctorRun) checkKernelKeyring(mode keyring.Mode) {
	const id = "kernel-keyring"
	if mode != keyring.ModeAuto && mode != keyring.ModeKernel {
		d.add(id, "", doctor.Skip, "--cache "+string(mode)+": not used", "")
		return
	}
	_, err := keyring.NewKernelStore().Get(probeKey)
	switch {
	case err == nil || errors.Is(err, keyring.ErrNotFound):
		d.add(id, "", doctor.Pass, "usable: tokens are kept in the kernel's memory, expire there, and no other user can read them", "")
	case mode == keyring.ModeKernel:
		d.add(id, "", doctor.Fail, oneLine(err), "use --cache auto, which falls back to the Secret Service or files where the kernel keyring is refused")
	default:
		d.add(id, "", doctor.Skip, oneLine(err)+": under --cache auto, tokens go to the Secret Service or files", "")
	}
}

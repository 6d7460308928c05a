package keyringtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DenyKeyctlEnv, in a command's environment, asks [DenyKeyctl] to run it as
// a container does whose seccomp profile blocks the kernel keyring.
const DenyKeyctlEnv = "DT_KEYRINGTEST_DENY_KEYCTL=1"

// envDenyKeyctlTarget carries the real command to the re-run test binary.
const envDenyKeyctlTarget = "DT_KEYRINGTEST_DENY_KEYCTL_EXEC"

// DenyKeyctl makes cmd run with keyctl(2), add_key(2) and request_key(2)
// failing with EPERM, as under Docker's default seccomp profile: the real
// refusal, for the tests of the fallback, on a machine that allows keyctl.
// cmd is rewritten to run the current test binary, whose TestMain must call
// [ExecDenyingKeyctl] first; that installs the filter and executes the real
// command, which inherits it.
func DenyKeyctl(cmd *exec.Cmd) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clone(env), envDenyKeyctlTarget+"="+cmd.Path)
	cmd.Path = exe
	return nil
}

// ExecDenyingKeyctl returns at once unless this process was started by
// [DenyKeyctl]; then it installs the seccomp filter and replaces the process
// with the real command, exiting 111 if it cannot.
func ExecDenyingKeyctl() {
	target := os.Getenv(envDenyKeyctlTarget)
	if target == "" {
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, envDenyKeyctlTarget+"=") || kv == DenyKeyctlEnv
	})
	if err := denyKeyctl(); err != nil {
		fmt.Fprintln(os.Stderr, "keyringtest: installing the seccomp filter:", err)
		os.Exit(111)
	}
	err := syscall.Exec(target, append([]string{target}, os.Args[1:]...), env)
	fmt.Fprintln(os.Stderr, "keyringtest: exec:", err)
	os.Exit(111)
}

// auditArch is the AUDIT_ARCH_* value of the syscall numbers below.
func auditArch() (uint32, error) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, nil
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, nil
	}
	return 0, fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
}

// denyKeyctl installs, for every thread of the process, a seccomp filter
// that fails the three key management system calls with EPERM and allows
// everything else.
func denyKeyctl() error {
	arch, err := auditArch()
	if err != nil {
		return err
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
		// Offsets in struct seccomp_data.
		offNr   = 0
		offArch = 4
	)
	allow := unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW}
	deny := unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	filter := []unix.SockFilter{
		{Code: ld, K: offArch},
		{Code: jeq, K: arch, Jt: 1}, // another ABI: allow
		allow,
		{Code: ld, K: offNr},
		{Code: jeq, K: unix.SYS_KEYCTL, Jt: 3},
		{Code: jeq, K: unix.SYS_ADD_KEY, Jt: 2},
		{Code: jeq, K: unix.SYS_REQUEST_KEY, Jt: 1},
		allow,
		deny,
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return errno
	}
	return nil
}

//go:build linux

package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// KernelStore keeps entries in the Linux kernel's key retention service
// (keyrings(7)): each entry is a "user" key in the calling user's user
// keyring, described as [KernelDescription] of its key. A read is two system
// calls (search, read): no D-Bus, no file, and the entry never touches disk.
//
// Why the user keyring (user-keyring(7)): it is shared by every process of
// the uid, in every terminal and session, which is what a cache for kubectl,
// git and docker needs, and it lives as long as the user has processes, so
// tokens go when the user's last process does. The session keyring
// (session-keyring(7)) is per login session: a token fetched in one terminal
// would not be seen in another. The persistent keyring
// (persistent-keyring(7)) outlives the user's processes by days, longer than
// a token lives and longer than needed. Keys of other uids are out of reach:
// each key's permissions give group and others nothing.
//
// Caveat: the user keyring belongs to the uid within its user namespace, so
// processes of the same uid in containers that share the host's user
// namespace (the usual case without userns remapping) share it, as they
// would share the Secret Service's socket or a file in the same home.
//
// The kernel drops each key at the token's expiry (its timeout is set from
// the entry's "expiry"). A container whose seccomp profile blocks keyctl,
// or a kernel without keys, fails with an error wrapping [ErrUnreachable];
// a full per-user quota (/proc/sys/kernel/keys/maxkeys, maxbytes) with one
// wrapping [ErrTooBig], so the auto mode keeps that entry in its next store.
type KernelStore struct {
	sys keyctl
	now func() time.Time
}

var _ Store = (*KernelStore)(nil)

// keyctl is the system calls the store makes; tests put refusals in their
// place to check the fallback where the kernel allows everything.
type keyctl struct {
	addKey  func(keyType, description string, payload []byte, ringid int) (int, error)
	search  func(ringid int, keyType, description string, destRingid int) (int, error)
	read    func(id int, buf []byte) (int, error)
	setperm func(id int, perm uint32) error
	// ctl runs a keyctl command with integer arguments (timeout, revoke,
	// unlink, link).
	ctl func(cmd, arg2, arg3, arg4, arg5 int) (int, error)
}

func sysKeyctl() keyctl {
	return keyctl{
		addKey: unix.AddKey,
		search: unix.KeyctlSearch,
		read: func(id int, buf []byte) (int, error) {
			return unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		},
		setperm: unix.KeyctlSetperm,
		ctl:     unix.KeyctlInt,
	}
}

// NewKernelStore returns the kernel keyring store. It makes no system call
// until the first Get, Set or Delete.
func NewKernelStore() *KernelStore {
	return &KernelStore{sys: sysKeyctl(), now: time.Now}
}

// kernelTier is the first store of the auto mode: the kernel keyring on
// Linux.
func kernelTier() Store { return NewKernelStore() }

// KernelDescription is the description of key's entry in the user keyring,
// as `keyctl search @u user <description>` finds it.
func KernelDescription(key string) string { return Service + ":" + key }

// Key permissions (keyctl_setperm(3)): the possessor's byte, then the user's;
// the group and other bytes stay zero.
const (
	keyPosView    = 0x01000000
	keyPosRead    = 0x02000000
	keyPosWrite   = 0x04000000
	keyPosSearch  = 0x08000000
	keyPosSetattr = 0x20000000
	keyUsrView    = 0x00010000
	keyUsrRead    = 0x00020000
	keyUsrWrite   = 0x00040000
	keyUsrSearch  = 0x00080000
	keyUsrSetattr = 0x00200000

	// kernelKeyPerm: what the helper's own later calls need, as possessor
	// (the user keyring is linked from a login session's keyring) or as
	// the owning user (a session keyring that does not link it): view and
	// search to find the key, read, write to update it, setattr for its
	// timeout. No link: the key is never linked elsewhere. Nothing for
	// group or other: no other uid may even see it.
	kernelKeyPerm = keyPosView | keyPosRead | keyPosWrite | keyPosSearch | keyPosSetattr |
		keyUsrView | keyUsrRead | keyUsrWrite | keyUsrSearch | keyUsrSetattr
)

// kernelMaxPayload is the largest "user" key payload (user-keyring(7) says
// 32767 bytes).
const kernelMaxPayload = 32767

// kernelDefaultTTL is the lifetime of an entry with no readable expiry (not
// one of ours): the kernel must drop every key some time.
const kernelDefaultTTL = 24 * time.Hour

// Name implements [Store].
func (s *KernelStore) Name() string { return "kernel" }

// Get implements [Store]: a search of the user keyring, then a read.
func (s *KernelStore) Get(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	id, err := s.sys.search(unix.KEY_SPEC_USER_KEYRING, "user", KernelDescription(key), 0)
	if err != nil {
		return nil, kernelError("search", err)
	}
	buf := make([]byte, 4096)
	// The read says the payload's size; a payload that grew between the two
	// calls (another process's update) is read again.
	for range 3 {
		n, err := s.sys.read(id, buf)
		if err != nil {
			return nil, kernelError("read", err)
		}
		if n <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
	return nil, fmt.Errorf("%w: kernel keyring read: the key kept changing size", ErrUnreachable)
}

// Set implements [Store]: adds or updates the key, limits its permissions,
// and sets its timeout to the entry's expiry. Until the timeout is set
// (microseconds later) the key has none; a process killed in between leaves
// a key that the kernel keeps until the user's last process ends, and the
// entry's own expiry still stops it from being served after that.
func (s *KernelStore) Set(key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(data) > kernelMaxPayload {
		return fmt.Errorf("kernel keyring write: %d bytes: %w", len(data), ErrTooBig)
	}
	id, err := s.sys.addKey("user", KernelDescription(key), data, unix.KEY_SPEC_USER_KEYRING)
	if err != nil {
		return kernelError("write", err)
	}
	if err := s.finishSet(id, data); err != nil {
		// A key with the default permissions and no timeout must not stay.
		s.sys.ctl(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
		return err
	}
	return nil
}

func (s *KernelStore) finishSet(id int, data []byte) error {
	// A process keyring hangs off the credentials of the thread that
	// installs it, and Linux credentials are per thread: the link below and
	// the retry after it must run on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := s.sys.setperm(id, kernelKeyPerm)
	if errors.Is(err, unix.EACCES) {
		// The new key's default permissions give setattr only to its
		// possessor, and this process does not possess the user keyring's
		// keys: its session keyring does not link the user keyring (`keyctl
		// new_session`, some service managers). Linking the user keyring
		// into the process keyring, which ends with the process, makes it
		// possess them.
		if _, lerr := s.sys.ctl(unix.KEYCTL_LINK, unix.KEY_SPEC_USER_KEYRING, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0); lerr == nil {
			err = s.sys.setperm(id, kernelKeyPerm)
		}
	}
	if err != nil {
		return kernelError("setting permissions", err)
	}
	ttl := kernelTTL(data, s.now())
	if _, err := s.sys.ctl(unix.KEYCTL_SET_TIMEOUT, id, ttl, 0, 0); err != nil {
		return kernelError("setting the timeout", err)
	}
	return nil
}

// kernelTTL is the key timeout in whole seconds for an entry: until its
// "expiry" (only that field is read; the entry format is the Cache's
// business), rounded up, at least one second (zero would mean never).
func kernelTTL(data []byte, now time.Time) int {
	var e struct {
		Expiry time.Time `json:"expiry"`
	}
	d := kernelDefaultTTL
	if json.Unmarshal(data, &e) == nil && !e.Expiry.IsZero() {
		d = e.Expiry.Sub(now)
	}
	secs := math.Ceil(d.Seconds())
	switch {
	case secs < 1:
		return 1
	case secs > math.MaxInt32:
		return math.MaxInt32
	}
	return int(secs)
}

// Delete implements [Store]: the key is revoked, so a process that already
// found it can no longer read it, and unlinked from the user keyring, so no
// search finds it and the kernel frees it.
func (s *KernelStore) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	id, err := s.sys.search(unix.KEY_SPEC_USER_KEYRING, "user", KernelDescription(key), 0)
	if err != nil {
		if err := kernelError("search", err); !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	}
	if _, err := s.sys.ctl(unix.KEYCTL_REVOKE, id, 0, 0, 0); err != nil && !kernelGone(err) {
		return kernelError("revoke", err)
	}
	if _, err := s.sys.ctl(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0); err != nil && !kernelGone(err) && !errors.Is(err, unix.ENOENT) {
		return kernelError("unlink", err)
	}
	return nil
}

// kernelGone says err means the key is not there any more: never was, timed
// out, or revoked.
func kernelGone(err error) bool {
	return errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED)
}

// kernelError maps a keyctl failure. A missing, expired or revoked key is a
// miss. A full quota is ErrTooBig: the auto mode keeps this entry in its
// next store, and the kernel keyring stays in use for the others. Anything
// else means the kernel keyring cannot be used here: ENOSYS (no keys in
// this kernel) and EPERM (a seccomp profile: Docker's default blocks
// keyctl) are the usual ones.
func kernelError(op string, err error) error {
	var errno syscall.Errno
	switch {
	case kernelGone(err):
		return fmt.Errorf("kernel keyring %s: %w", op, ErrNotFound)
	case errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("kernel keyring %s: the user's key quota is full (/proc/sys/kernel/keys/maxkeys, maxbytes): %w", op, ErrTooBig)
	case errors.As(err, &errno) && (errno == unix.ENOSYS || errno == unix.EPERM):
		return fmt.Errorf("%w: kernel keyring %s refused: %w (a seccomp profile blocking keyctl?)", ErrUnreachable, op, err)
	}
	return fmt.Errorf("%w: kernel keyring %s: %w", ErrUnreachable, op, err)
}

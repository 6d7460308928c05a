// Package dockerconfig edits the credHelpers of docker's client
// configuration file (config.json), which docker, crane, oras and the
// other docker-style tools read to find the credential helper of each
// registry host.
//
// An edit keeps the file as it was in everything but the entries it sets:
// every other field, known to this package or not, is written back as the
// same JSON value (only white space changes: the file is indented with
// tabs, as docker itself writes it), in its place; credHelpers keeps its
// entries in order and gets new ones at its end. A file that is not a JSON
// object, has a duplicate key, or a credHelpers that is not an object of
// strings, is refused ([ErrInvalid]) and nothing is written. credsStore is
// never set: it would send every registry's logins to one helper.
//
// The file is trusted, read and replaced on the rules of every file the
// program trusts (keyring/privatefile): looked up through directories only
// this user or root can write (or sticky ones), a regular file of this
// user's that group and others cannot write, read without following a
// symbolic link or blocking on a FIFO. Reading ([Load], for a dry run or
// doctor) creates and locks nothing. An edit ([Edit]) holds this
// program's lock from the read to the write, so concurrent runs of ours
// take turns and none loses another's entries. The write is atomic (a
// temporary file in the same directory, synced, given the old file's mode,
// renamed over it), and is abandoned if the file changed since it was
// read. That check is for docker and other tools, which take no lock: made
// just before the rename, it narrows the window in which their write is
// lost to the instant between the check and the rename, but cannot close
// it.
// Temporary files a run killed before its rename left behind are removed
// by the next edit.
//
// A config.json that is a symbolic link (a dotfiles manager's) is followed
// one link at a time, each only when it is this user's own (or root's) and
// found through trusted directories, and then its target is held to the same
// rules and replaced in its own directory, leaving the links in place, as
// docker itself writes through the link. A link of someone else's
// anywhere along the chain (planted in a shared DOCKER_CONFIG or /tmp), a
// chain of more than eight links, or one whose target is missing is
// refused.
package dockerconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/keyring/privatefile"
)

// EnvConfig is docker's variable naming its configuration directory.
const EnvConfig = "DOCKER_CONFIG"

// ErrInvalid is wrapped by errors for a file this package will not edit
// because it cannot read it as docker's configuration.
var ErrInvalid = errors.New("not a docker configuration file this program can edit")

// maxFile bounds the file read: docker's configuration is small, but holds
// every registry login (auths), so leave room.
const maxFile = 4 << 20

// Path returns the configuration file docker reads: config.json in
// $DOCKER_CONFIG, else in .docker under the home directory.
func Path(getenv func(string) string) (string, error) {
	dir := getenv(EnvConfig)
	if dir == "" {
		home := getenv("HOME")
		if runtime.GOOS == "windows" {
			home = getenv("USERPROFILE")
		}
		if home == "" {
			return "", errors.New("no home directory (HOME) to find docker's configuration in: set " + EnvConfig)
		}
		dir = filepath.Join(home, ".docker")
	}
	abs, err := filepath.Abs(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("docker configuration: %w", err)
	}
	return abs, nil
}

// member is one key of a JSON object and its value as written.
type member struct {
	key   string
	value json.RawMessage
}

// File is a docker configuration file read for an edit.
type File struct {
	// Path is the file as named; Target the file written: Path, or where
	// the symbolic link at Path leads.
	Path, Target string
	// CredsStore is the file's credsStore, "" when none.
	CredsStore string

	read    []byte      // the content read, to tell whether it changed since
	exists  bool        // whether there was a file
	mode    fs.FileMode // its permission bits, kept by Save
	members []member    // the top level, in order
	at      int         // index of credHelpers in members, -1 when absent
	helpers []member    // credHelpers' entries, in order
}

// Load reads the file at path (see [Path]), creating and locking
// nothing. A missing file, or a missing directory, is an empty
// configuration, which [Edit] creates.
func Load(path string) (*File, error) {
	f := &File{Path: path, Target: path, mode: 0o600, at: -1}
	data, err := f.readTarget()
	var perr *privatefile.PermissionError
	if errors.As(err, &perr) && perr.Path == path && perr.Mode&fs.ModeSymlink != 0 {
		if f.Target, err = followLink(path); err != nil {
			return nil, fmt.Errorf("docker configuration: %w", err)
		}
		data, err = f.readTarget()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is a symbolic link to %s, which is missing: create that file, or remove the link", path, f.Target)
		}
	}
	if errors.Is(err, fs.ErrNotExist) && f.Target == path {
		data, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("docker configuration: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("docker configuration %s is larger than %d MiB: %w", f.Target, maxFile>>20, ErrInvalid)
	}
	if err := f.parse(data); err != nil {
		return nil, fmt.Errorf("docker configuration %s: %w: %w", f.Target, err, ErrInvalid)
	}
	return f, nil
}

// readTarget reads f.Target on the trusted-file rules, recording whether
// it exists and its mode.
func (f *File) readTarget() ([]byte, error) {
	f.exists = false
	data, err := privatefile.ReadFile(f.Target, maxFile, func(path string, mode fs.FileMode, uid int) error {
		f.mode = mode.Perm()
		return privatefile.CheckOwned(path, mode, uid)
	})
	if err == nil {
		f.exists, f.read = true, data
	}
	return data, err
}

// maxLinks bounds the links followed from config.json: a dotfiles
// manager's link, perhaps another behind it; a longer chain, or a loop, is
// refused.
const maxLinks = 8

// followLink returns the file the symbolic link at path leads to, followed
// one link at a time, each held to the same rules: the link must be this
// user's own (or root's), in a directory looked up as a trusted file's is
// (privatefile.CheckLookup): in a directory others may write to (sticky,
// as a shared DOCKER_CONFIG or /tmp could be) a link of theirs could send
// the write anywhere. A chain longer than maxLinks is refused; the file it
// ends in is then read without following a link (privatefile.ReadFile),
// so a link put in its place meanwhile is refused too.
func followLink(path string) (string, error) {
	at := path
	for range maxLinks {
		fi, err := os.Lstat(at)
		if errors.Is(err, fs.ErrNotExist) && at != path {
			return "", fmt.Errorf("%s is a symbolic link leading to %s, which is missing: create that file, or remove the link", path, at)
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return at, nil
		}
		if at, err = readLink(at, fi, path); err != nil {
			return "", err
		}
	}
	return "", &privatefile.PermissionError{Path: path, Mode: fs.ModeSymlink,
		Why: fmt.Sprintf("more than %d symbolic links in a row, which are not followed: name the file itself", maxLinks)}
}

// readLink returns the absolute target of the link at, whose lstat is fi,
// once the link and the directories it is found through are trusted; path
// is the configuration file, named in errors.
func readLink(at string, fi fs.FileInfo, path string) (string, error) {
	dir := filepath.Dir(at)
	if err := privatefile.CheckLookup(dir, path); err != nil {
		return "", err
	}
	if uid := privatefile.Owner(fi); uid != os.Geteuid() && uid != 0 {
		return "", &privatefile.PermissionError{Path: at, Mode: fi.Mode(),
			Why: fmt.Sprintf("a symbolic link owned by uid %d, not by this user (uid %d), which is not followed", uid, os.Geteuid())}
	}
	dest, err := os.Readlink(at)
	if err != nil || filepath.IsAbs(dest) {
		return dest, err
	}
	// Relative to the directory the link is in, as the kernel reads it:
	// its real path (its links were just checked), since ".." in dest
	// leaves that, not the name it was reached by.
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(resolved, dest), nil
}

// lockWait bounds how long [Edit] waits for another run's edit: a read,
// a change and a small write take milliseconds.
const lockWait = 10 * time.Second

// staleAge is how old a temporary file of ours must be for [Edit] to take
// it for a killed run's: a run writing now, which the lock keeps out
// unless it reached the same file by another name, writes for
// milliseconds.
const staleAge = time.Minute

// lockPath returns the lock file of this program's edits of the
// configuration at path: hidden, beside it, in docker's configuration
// directory. It is there, not beside a symbolic link's target, so that
// none is left in a dotfiles repository; runs that reach one target
// through two configuration directories do not share it, and rely on the
// check that the file did not change.
func lockPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
}

// Edit changes the configuration at path: it creates docker's
// configuration directory when it is missing (only it, 0700, as docker
// does; its parent must exist), takes this program's lock (lockPath, a
// file held to the rules of every trusted file), reads the file ([Load]),
// calls edit, and writes the file when edit says so, all under the lock.
// The lock is waited for at most ten seconds, or until ctx ends.
func Edit(ctx context.Context, path string, edit func(*File) (save bool, err error)) error {
	lock := lockPath(path)
	if err := makeDir(filepath.Dir(path), lock); err != nil {
		return fmt.Errorf("docker configuration: %w", err)
	}
	unlock, err := privatefile.LockWithin(ctx, lock, lockWait)
	if err != nil {
		return fmt.Errorf("locking docker configuration %s: %w", path, err)
	}
	defer unlock()
	f, err := Load(path)
	if err != nil {
		return err
	}
	save, err := edit(f)
	if err != nil || !save {
		return err
	}
	return f.save()
}

// makeDir makes sure dir, the directory of lock, can be trusted with it,
// creating it when it is missing (only it, 0700, as docker does) under a
// parent that passed the same checks.
func makeDir(dir, lock string) error {
	err := privatefile.CheckLookup(dir, lock)
	if errors.Is(err, fs.ErrNotExist) {
		// Everything above what is missing passed: what is made is ours.
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		err = privatefile.CheckLookup(dir, lock)
	}
	return err
}

// parse reads data as a JSON object, keeping its members in order, and its
// credHelpers and credsStore. An empty file is an empty object, as docker
// reads it.
func (f *File) parse(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	members, err := parseObject(data)
	if err != nil {
		return err
	}
	f.members = members
	for i, m := range members {
		switch m.key {
		case "credHelpers":
			f.at = i
			if string(m.value) == "null" {
				continue
			}
			if f.helpers, err = parseObject(m.value); err != nil {
				return fmt.Errorf("credHelpers: %w", err)
			}
			for _, h := range f.helpers {
				var s string
				if err := json.Unmarshal(h.value, &s); err != nil {
					return fmt.Errorf("credHelpers: the helper of %q is not a string", h.key)
				}
			}
		case "credsStore":
			// Not a string: docker would refuse the file, but this
			// edit does not touch it; only a string is reported.
			_ = json.Unmarshal(m.value, &f.CredsStore)
		}
	}
	return nil
}

// parseObject splits a JSON object into its members, in order, refusing
// anything else, a duplicate key (which one a reader takes depends on the
// reader) and anything after the object.
func parseObject(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // the decoder allows only a string here
		if seen[key] {
			return nil, fmt.Errorf("the key %q appears twice", key)
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		members = append(members, member{key, value})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more after the JSON object")
	}
	return members, nil
}

// Helper returns the credential helper credHelpers names for host, and
// whether it names one.
func (f *File) Helper(host string) (string, bool) {
	for _, h := range f.helpers {
		if h.key == host {
			var s string
			_ = json.Unmarshal(h.value, &s) // parse checked it is a string
			return s, true
		}
	}
	return "", false
}

// Change is one credHelpers entry an edit sets: Host's helper becomes New;
// Old is the one it replaces, when HadOld.
type Change struct {
	Host, Old, New string
	HadOld         bool
}

// Set makes credHelpers name helper for each of hosts, in memory ([Edit]
// writes the file when its edit says so), and returns what changed: nothing for a host that already
// has it. A host new to credHelpers is added at its end.
func (f *File) Set(hosts []string, helper string) []Change {
	var changes []Change
	value := encode(helper)
	for _, host := range hosts {
		old, had := f.Helper(host)
		if had && old == helper {
			continue
		}
		changes = append(changes, Change{Host: host, Old: old, New: helper, HadOld: had})
		if had {
			for i := range f.helpers {
				if f.helpers[i].key == host {
					f.helpers[i].value = value
				}
			}
			continue
		}
		f.helpers = append(f.helpers, member{host, value})
	}
	return changes
}

// encoded returns the file's content as save writes it.
func (f *File) encoded() ([]byte, error) {
	members := append([]member(nil), f.members...)
	if helpers := object(f.helpers); f.at >= 0 {
		members[f.at].value = helpers
	} else if len(f.helpers) > 0 {
		members = append(members, member{"credHelpers", helpers})
	}
	// Indent changes only white space.
	var out bytes.Buffer
	if err := json.Indent(&out, object(members), "", "\t"); err != nil {
		return nil, fmt.Errorf("docker configuration %s: %w", f.Target, err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// object writes members as a JSON object.
func object(members []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(encode(m.key))
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// encode is s as a JSON string, without the HTML escapes encoding/json
// adds by default (a key such as "a&b" stays as written).
func encode(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// save writes the file atomically (privatefile.Replace): a temporary file
// next to the target, with the old file's mode (0600 for a new one),
// synced, then renamed over the target. It writes nothing, and says so,
// when the target changed since [Load] read it: an edit by docker or
// another program that lands before that check is not lost. Once written,
// temporary files killed runs left beside the target are removed.
func (f *File) save() error {
	data, err := f.encoded()
	if err != nil {
		return err
	}
	var changed error
	err = privatefile.Replace(f.Target, data, f.mode, func() error {
		changed = f.unchanged()
		return changed
	})
	if changed != nil {
		return changed
	}
	if err != nil {
		return fmt.Errorf("writing docker configuration: %w", err)
	}
	// A leftover holds a copy of the file, logins and all; one that
	// cannot be removed leaves the edit done all the same.
	_ = privatefile.RemoveStale(f.Target, staleAge)
	return nil
}

// unchanged reports an error when the target is not what Load read.
func (f *File) unchanged() error {
	was, read := f.exists, f.read
	data, err := f.readTarget()
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("docker configuration: %w", err)
	}
	if was != f.exists || !bytes.Equal(read, data) {
		return fmt.Errorf("docker configuration %s changed while it was being edited; nothing was written: run again", f.Target)
	}
	return nil
}

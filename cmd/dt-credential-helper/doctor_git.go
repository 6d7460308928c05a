package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dt-credential-helper/dt-credential-helper/internal/doctor"
	"github.com/dt-credential-helper/dt-credential-helper/internal/hosts"
	"github.com/dt-credential-helper/dt-credential-helper/internal/sibling"
)

// gitEntry is one credential helper setting of git's configuration, in
// the order git reads them.
type gitEntry struct{ key, value string }

// checkGit checks, for each host the helper serves, the list of helpers
// git runs for https://HOST, as git builds it: every credential.helper and
// credential.<url>.helper whose URL matches, in configuration order, an
// empty value clearing the list so far. The host is wired when the list
// holds this helper; another helper in it is warned about, since git asks
// every helper to store the token it got.
func (d *doctorRun) checkGit(ctx context.Context, routes []hosts.Route) {
	git, err := lookPath("git", d.e.getenv("PATH"))
	if err != nil {
		d.add("git", "", doctor.Skip, "git is not on PATH", "")
		return
	}
	entries, err := gitHelperEntries(ctx, d.e, git)
	if err != nil {
		d.add("git", "", doctor.Fail, "reading git's configuration: "+oneLine(err), "correct git's configuration (git config --list shows what git reads)")
		return
	}
	var wired, unwired, problems []string
	status := doctor.Pass
	for _, r := range routes {
		host := r.String()
		list := gitHelpersFor(entries, r.Host, r.Port)
		i := slices.IndexFunc(list, func(h string) bool { ok, _ := gitHelperIsOurs(h); return ok })
		if i < 0 {
			unwired = append(unwired, host)
			continue
		}
		wired = append(wired, fmt.Sprintf("%s (%q)", host, list[i]))
		if others := slices.DeleteFunc(slices.Clone(list), func(h string) bool { ok, _ := gitHelperIsOurs(h); return ok }); len(others) > 0 {
			problems = append(problems, fmt.Sprintf("%s also runs %q, which git hands the token to keep", host, others))
			status = doctor.Worse(status, doctor.Warn)
		}
		if msg := d.helperBroken(list[i]); msg != "" {
			problems = append(problems, host+": "+msg)
			status = doctor.Fail
		}
	}
	d.reportWiring("git", status, wired, unwired, problems, "run '"+prog+" configure git' (it also clears the helpers set for every host)")
}

// helperBroken says why git's helper setting h of this helper cannot work:
// a program not on PATH, a profile that does not exist; "" when it can.
func (d *doctorRun) helperBroken(h string) string {
	_, profileName := gitHelperIsOurs(h)
	fields := strings.Fields(strings.TrimPrefix(h, "!"))
	program := fields[0]
	if !strings.HasPrefix(h, "!") && program == "dt" {
		program = gitHelperName
	}
	if msg := d.programProblem("git", program); msg != "" {
		return msg
	}
	if profileName != "" {
		if _, err := d.profiles.Account(profileName); err != nil {
			return oneLine(err)
		}
	}
	return ""
}

// programProblem says why the program tool runs (a name looked up on PATH,
// or a path) cannot be trusted with a token: not there, or one that others
// could replace (sibling.Program); "" when it can.
func (d *doctorRun) programProblem(tool, program string) string {
	path, err := lookPath(program, d.e.getenv("PATH"))
	if err != nil {
		return tool + " runs " + program + ", which is not on PATH"
	}
	if err := sibling.Program(path); err != nil {
		return tool + " runs " + path + ", which others could replace: " + oneLine(err)
	}
	return ""
}

// reportWiring adds tool's wiring check: status, with the hosts wired and
// not, and the problems found; fix is how to wire it.
func (d *doctorRun) reportWiring(tool string, status doctor.Status, wired, unwired, problems []string, fix string) {
	var parts []string
	if len(wired) > 0 {
		parts = append(parts, "wired for "+strings.Join(wired, ", "))
	}
	if len(unwired) > 0 {
		parts = append(parts, "not wired for "+strings.Join(unwired, ", "))
		status = doctor.Worse(status, doctor.Warn)
	}
	parts = append(parts, problems...)
	if status == doctor.Pass {
		fix = ""
	}
	d.add(tool, "", status, strings.Join(parts, "; "), fix)
}

// gitHelperEntries reads every credential helper setting of git's
// configuration (system, global, local: what git reads where doctor runs),
// in order.
func gitHelperEntries(ctx context.Context, e env, git string) ([]gitEntry, error) {
	out, err := runTool(ctx, e, git, []string{"config", "--null", "--get-regexp", `^credential\..*helper$`})
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && len(out) == 0 {
		return nil, nil // none set
	}
	if err != nil {
		return nil, err
	}
	var entries []gitEntry
	for _, rec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		key, value, _ := strings.Cut(rec, "\n")
		if key == "credential.helper" || strings.HasSuffix(key, ".helper") {
			entries = append(entries, gitEntry{key, value})
		}
	}
	return entries, nil
}

// gitHelpersFor is the list of helpers git runs for https://host[:port].
func gitHelpersFor(entries []gitEntry, host, port string) []string {
	var list []string
	for _, en := range entries {
		if !gitKeyMatches(en.key, host, port) {
			continue
		}
		if en.value == "" {
			list = nil // git's reset
			continue
		}
		list = append(list, en.value)
	}
	return list
}

// gitKeyMatches reports whether git applies the helper setting key to
// https://host[:port] with no path (git sends none for https unless
// credential.useHttpPath): credential.helper, or credential.<url>.helper
// whose URL has the scheme, the host (a "*" in a label matches within it,
// as in git), the port, no user and no path beyond "/".
func gitKeyMatches(key, host, port string) bool {
	if key == "credential.helper" {
		return true
	}
	pattern := strings.TrimSuffix(strings.TrimPrefix(key, "credential."), ".helper")
	scheme, rest, ok := strings.Cut(pattern, "://")
	if !ok || !strings.EqualFold(scheme, "https") {
		return false
	}
	hostport, p, _ := strings.Cut(rest, "/")
	if p != "" || strings.Contains(hostport, "@") {
		return false
	}
	h, pp := hostport, ""
	if i := strings.LastIndex(hostport, ":"); i >= 0 && !strings.HasSuffix(hostport, "]") {
		h, pp = hostport[:i], hostport[i+1:]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if pp == "" {
		pp = "443"
	}
	if port == "" {
		port = "443"
	}
	if pp != port {
		return false
	}
	want := strings.Split(strings.ToLower(host), ".")
	got := strings.Split(strings.ToLower(h), ".")
	if len(want) != len(got) {
		return false
	}
	for i := range got {
		if ok, _ := path.Match(got[i], want[i]); !ok {
			return false
		}
	}
	return true
}

// gitHelperIsOurs reports whether git's helper setting h runs this
// helper (as "dt", git-credential-dt by path, or dt-credential-helper
// git), and the profile it names, if any.
func gitHelperIsOurs(h string) (ours bool, profileName string) {
	fields := strings.Fields(strings.TrimPrefix(h, "!"))
	profileName = profileArg(fields)
	if len(fields) == 0 {
		return false, ""
	}
	if strings.HasPrefix(h, "!") {
		return strings.Contains(h, gitHelperName) || strings.Contains(h, prog+" git"), profileName
	}
	base := filepath.Base(fields[0])
	return fields[0] == "dt" || base == gitHelperName || (base == prog && len(fields) > 1 && fields[1] == "git"), profileName
}

// profileArg is the profile a command line of this helper names with
// --profile, or "".
func profileArg(args []string) string {
	name := ""
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--profile="); ok {
			name = v
		} else if a == "--profile" && i+1 < len(args) {
			name = args[i+1]
		}
	}
	return name
}

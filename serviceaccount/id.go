package serviceaccount

import (
	"errors"
	"fmt"
	"strings"
)

// EmailDomain is the domain of every DT service account's email, under its
// project: <service-account-id>@<project-id>.serviceaccount.d21s.com.
const EmailDomain = "serviceaccount.d21s.com"

// maxID bounds an id: DT's are 20 characters.
const maxID = 64

// ErrOtherEmail is wrapped by [FromEmail]'s error for an email that is not
// of DT's form, whose project and service account must then be named.
var ErrOtherEmail = errors.New("not of the form <service-account>@<project>." + EmailDomain)

// ErrHalfNamed is Resolve's error for a project without a service account
// or a service account without a project.
var ErrHalfNamed = errors.New("project and service account go together")

// ID names a service account in the key API: its project and its own id.
type ID struct {
	Project        string
	ServiceAccount string
}

// String is the account's resource name, projects/P/serviceaccounts/S.
func (id ID) String() string {
	return "projects/" + id.Project + "/serviceaccounts/" + id.ServiceAccount
}

// FromEmail is the service account an email of DT's form names:
// <service-account-id>@<project-id>.serviceaccount.d21s.com. Any other form
// is an error wrapping [ErrOtherEmail].
func FromEmail(email string) (ID, error) {
	sa, domain, ok := strings.Cut(email, "@")
	project, isDT := strings.CutSuffix(strings.ToLower(domain), "."+EmailDomain)
	if !ok || !isDT {
		return ID{}, fmt.Errorf("service account email %.100q is %w", email, ErrOtherEmail)
	}
	id := ID{Project: project, ServiceAccount: sa}
	if err := id.Check(); err != nil {
		return ID{}, fmt.Errorf("service account email %.100q: %w", email, err)
	}
	return id, nil
}

// Resolve is the service account a key belongs to: the project and
// service account named, both or neither; neither means the one email
// names ([FromEmail]). Naming one alone is [ErrHalfNamed]; named ids are
// checked ([ID.Check]).
func Resolve(project, serviceAccount, email string) (ID, error) {
	if project == "" && serviceAccount == "" {
		return FromEmail(email)
	}
	id := ID{Project: project, ServiceAccount: serviceAccount}
	if project == "" || serviceAccount == "" {
		return ID{}, ErrHalfNamed
	}
	if err := id.Check(); err != nil {
		return ID{}, err
	}
	return id, nil
}

// Check reports whether id's parts can be ids in DT's API: each 1 to 64
// letters, digits, '-' or '_', so that none can step out of its place in a
// URL path.
func (id ID) Check() error {
	if err := CheckID("project", id.Project); err != nil {
		return err
	}
	return CheckID("service account", id.ServiceAccount)
}

// CheckID reports whether s can be an id (a project's, a service
// account's, a key's) in DT's API; what names the id in the error. A key id
// is used in the names of the entries that hold its secret too.
func CheckID(what, s string) error {
	ok := len(s) >= 1 && len(s) <= maxID
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return fmt.Errorf("%s id %.70q is not an id: want 1-%d letters, digits, '-' or '_'", what, s, maxID)
	}
	return nil
}

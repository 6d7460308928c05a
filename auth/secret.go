package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrNoSecret is returned by [CleanSecret] for a secret that is empty or
// blank; callers say where a secret should have come from.
var ErrNoSecret = errors.New("no secret given")

// CleanSecret applies the rule for a secret typed, piped or read from a
// file: one line end ("\n" or "\r\n") at its end is removed, since files and
// echo leave one; whitespace left at either end, or a control character
// anywhere, is refused with a *ConfigError, since a DT secret has neither
// and such a secret would fail only later, at every token request, as
// invalid_grant. The error never quotes the secret. The CLI's login and the
// Vault engine's account writes both apply it.
func CleanSecret(s string) (string, error) {
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if strings.TrimSpace(s) == "" {
		return "", ErrNoSecret
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "", &ConfigError{Msg: "the secret starts or ends with whitespace (only one line end at its end is removed)"}
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return "", &ConfigError{Msg: fmt.Sprintf("the secret holds a control character (%U at byte %d): it must be one line of printable text", r, i)}
	}
	return s, nil
}

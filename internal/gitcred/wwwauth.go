package gitcred

import "strings"

// takesBearer reports whether a server takes a bearer credential, judged by
// the WWW-Authenticate headers git passed on as wwwauth[] (git 2.41+): it
// offered the Bearer scheme, or offered no challenge at all (git sends none
// when it asks before any request, or the server named no scheme), in which
// case the token is tried as git 2.46+ asked for it.
func takesBearer(challenges []string) bool {
	if len(challenges) == 0 {
		return true
	}
	for _, h := range challenges {
		for _, s := range schemes(h) {
			if strings.EqualFold(s, "Bearer") {
				return true
			}
		}
	}
	return false
}

// schemes returns the auth-schemes of one WWW-Authenticate value (RFC 9110,
// section 11.6.1). A value may hold several challenges, comma separated, and
// a challenge's own parameters are comma separated too: a list element that
// starts with a token not followed by "=" starts a challenge, any other
// element (name=value) continues the one before. Commas and scheme names
// inside quoted strings are not looked at.
func schemes(value string) []string {
	var out []string
	for _, elem := range splitList(value) {
		elem = strings.TrimLeft(elem, " \t")
		n := tokenLen(elem)
		if n == 0 {
			continue
		}
		if rest := strings.TrimLeft(elem[n:], " \t"); strings.HasPrefix(rest, "=") {
			continue // an auth-param of the challenge before
		}
		out = append(out, elem[:n])
	}
	return out
}

// splitList splits s at the commas outside quoted strings; a backslash in a
// quoted string escapes the next character.
func splitList(s string) []string {
	var (
		out     []string
		start   int
		quoted  bool
		escaped bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// tokenLen is the length of the token (RFC 9110 tchar) s starts with.
func tokenLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return i
		}
	}
	return len(s)
}

package vaultenv

import (
	"strings"
	"testing"
)

// TestReferenceEnviron: what the helper hands its child in the DT_VAULT_*
// variables is what the child reads back, and nothing of a field not set.
func TestReferenceEnviron(t *testing.T) {
	for _, r := range []Reference{
		{Path: "dt/token/prod"},
		{Path: "dt/token/prod", Role: "fleet", JWTFile: "/var/run/token", AuthMount: "k8s"},
		{Path: "dt/token/prod", AuthMount: "k8s"},
		{},
	} {
		env := r.Environ()
		getenv := func(name string) string {
			v := ""
			for _, kv := range env {
				if k, val, _ := strings.Cut(kv, "="); k == name {
					v = val
				}
			}
			return v
		}
		if got := FromEnv(getenv); got != r {
			t.Errorf("FromEnv(%q) = %+v, want %+v", env, got, r)
		}
		for _, kv := range env {
			if name, val, _ := strings.Cut(kv, "="); val == "" && name != EnvPath {
				t.Errorf("%+v: Environ sets %s to nothing", r, name)
			}
		}
	}
}

func TestAuthMount(t *testing.T) {
	for in, want := range map[string]string{"": DefaultAuthMount, "/": DefaultAuthMount, "k8s": "k8s", "/k8s/": "k8s", "jwt/ci": "jwt/ci"} {
		if got := AuthMount(in); got != want {
			t.Errorf("AuthMount(%q) = %q, want %q", in, got, want)
		}
	}
}

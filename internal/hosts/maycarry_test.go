package hosts

import "testing"

func TestMayCarry(t *testing.T) {
	for _, tt := range []struct {
		scheme, host string
		want         bool
	}{
		{"https", "api.d21s.com", true},
		{"https", "127.0.0.1", true},
		{"http", "127.0.0.1", true},
		{"http", "[::1]", true},
		{"http", "::1", true},
		{"http", "LocalHost", true},
		{"http", "api.d21s.com", false},
		{"http", "127.0.0.1.evil.example", false},
		{"http", "10.0.0.1", false},
		{"HTTPS", "api.d21s.com", false}, // callers pass the scheme lower-case, as url.Parse and git do
		{"ftp", "127.0.0.1", false},
		{"", "127.0.0.1", false},
	} {
		if got := MayCarry(tt.scheme, tt.host); got != tt.want {
			t.Errorf("MayCarry(%q, %q) = %v, want %v", tt.scheme, tt.host, got, tt.want)
		}
	}
}

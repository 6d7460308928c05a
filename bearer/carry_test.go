package bearer

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

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true,
		"localhost.evil.example": false, "10.0.0.1": false, "api.d21s.com": false, "": false, "[::2]": false, "0.0.0.0": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

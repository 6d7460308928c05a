package serviceaccount

import (
	"errors"
	"testing"
)

func TestFromEmail(t *testing.T) {
	tests := []struct {
		email string
		want  ID
		other bool // ErrOtherEmail
	}{
		{"c17m9hn915gg00c8levg@c14u9p094l47cdv1o3pg.serviceaccount.d21s.com", ID{"c14u9p094l47cdv1o3pg", "c17m9hn915gg00c8levg"}, false},
		{"sa@Project.ServiceAccount.D21S.com", ID{"project", "sa"}, false},
		{"sa@example.com", ID{}, true},
		{"sa@serviceaccount.d21s.com", ID{}, true},
		{"no-at-sign.serviceaccount.d21s.com", ID{}, true},
		{"sa@p.serviceaccount.d21s.com.evil.example", ID{}, true},
		{"a/b@p.serviceaccount.d21s.com", ID{}, false},
		{"sa@a.b.serviceaccount.d21s.com", ID{}, false},
		{"@p.serviceaccount.d21s.com", ID{}, false},
		{"sa@..serviceaccount.d21s.com", ID{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.email, func(t *testing.T) {
			got, err := FromEmail(tc.email)
			switch {
			case tc.want != (ID{}):
				if err != nil || got != tc.want {
					t.Errorf("FromEmail = %+v, %v; want %+v", got, err, tc.want)
				}
			case err == nil:
				t.Errorf("FromEmail = %+v, want an error", got)
			case errors.Is(err, ErrOtherEmail) != tc.other:
				t.Errorf("FromEmail error %v: wraps ErrOtherEmail %v, want %v", err, !tc.other, tc.other)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	const dtEmail = "sa@p.serviceaccount.d21s.com"
	tests := []struct {
		name               string
		project, sa, email string
		want               ID
		half, other        bool
	}{
		{"both named", "p2", "sa2", "x@example.com", ID{"p2", "sa2"}, false, false},
		{"both named over the email's", "p2", "sa2", dtEmail, ID{"p2", "sa2"}, false, false},
		{"neither: from the email", "", "", dtEmail, ID{"p", "sa"}, false, false},
		{"neither, email of another form", "", "", "x@example.com", ID{}, false, true},
		{"project alone", "p2", "", dtEmail, ID{}, true, false},
		{"service account alone", "", "sa2", dtEmail, ID{}, true, false},
		{"named, not an id", "p/2", "sa2", dtEmail, ID{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.project, tc.sa, tc.email)
			switch {
			case tc.want != (ID{}):
				if err != nil || got != tc.want {
					t.Errorf("Resolve = %+v, %v; want %+v", got, err, tc.want)
				}
			case err == nil:
				t.Errorf("Resolve = %+v, want an error", got)
			case errors.Is(err, ErrHalfNamed) != tc.half || errors.Is(err, ErrOtherEmail) != tc.other:
				t.Errorf("Resolve error %v: ErrHalfNamed %v, ErrOtherEmail %v", err, errors.Is(err, ErrHalfNamed), errors.Is(err, ErrOtherEmail))
			case got != (ID{}):
				t.Errorf("Resolve = %+v with error %v, want the zero ID", got, err)
			}
		})
	}
}

func TestCheckID(t *testing.T) {
	for _, bad := range []string{"", "a/b", "..", "a%2f", "a b", "ключ", string(make([]byte, 65))} {
		if CheckID("key", bad) == nil {
			t.Errorf("CheckID(%q) = nil", bad)
		}
	}
	for _, good := range []string{"c19tg0eoiv9008epsv50", "key-1", "A_b-9"} {
		if err := CheckID("key", good); err != nil {
			t.Errorf("CheckID(%q) = %v", good, err)
		}
	}
	if got := (ID{"p", "s"}).String(); got != "projects/p/serviceaccounts/s" {
		t.Errorf("String = %q", got)
	}
}

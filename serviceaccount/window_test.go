package serviceaccount_test

import (
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

func TestCreateWindow(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w := serviceaccount.CreateWindowOf(start.Add(300*time.Microsecond+7), 30*time.Second)
	for _, tc := range []struct {
		name    string
		w       serviceaccount.CreateWindow
		created time.Time
		want    bool
	}{
		{"at its start, as DT shows it to the second", w, start, true},
		{"at its start, as DT shows it to the microsecond", w, start.Add(300 * time.Microsecond), true},
		{"during the create", w, start.Add(10 * time.Second), true},
		{"after the client gave up, while DT may still act", w, start.Add(50 * time.Second), true},
		{"at its end", w, start.Add(time.Minute + 300*time.Microsecond), true},
		{"after it", w, start.Add(time.Minute + time.Millisecond), false},
		{"before it", w, start.Add(-time.Second), false},
		{"no creation time", w, time.Time{}, false},
		{"a record without a window", serviceaccount.CreateWindow{}, start.Add(time.Hour), true},
		{"a record without a window, no creation time", serviceaccount.CreateWindow{}, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.Holds(serviceaccount.Key{ID: "k", CreateTime: tc.created}); got != tc.want {
				t.Errorf("Holds(created %v) = %v, want %v", tc.created, got, tc.want)
			}
		})
	}
}

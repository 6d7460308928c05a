package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
)

// hungEndpoint is a token endpoint that accepts the request and never
// answers: the emulator holds each request until the client gives up (a
// Fault's Delay ends with the request's context).
var hungEndpoint = authtest.Fault{Delay: time.Hour}

// hangTimeout is the --timeout of the hung-endpoint crowd: longer than
// keyring.DefaultLockWait, so that a waiter which gave up on the lock then
// would have time to make an attempt of its own before its deadline, as the
// crowd a reviewer ran with the default 30s did (65 requests from 32
// processes).
const hangTimeout = keyring.DefaultLockWait + 3*time.Second

// hungAttempts is how many requests one call makes to a hung endpoint
// within timeout: an attempt every auth.DefaultAttemptTimeout, the waits
// between them too short to count.
func hungAttempts(timeout time.Duration) int {
	return int((timeout + auth.DefaultAttemptTimeout - 1) / auth.DefaultAttemptTimeout)
}

// TestOutageHungEndpointCrowd: no valid token is cached (it expired) and
// the token endpoint hangs. 16 processes ask at once; one holds the lock
// and makes its full attempt, which takes the whole --timeout. The others
// see it is alive (its heartbeat on the lock file) and wait for it rather
// than give up on the lock after keyring.DefaultLockWait and try
// themselves; when it fails they read its back-off record and fail at once
// with its error (or, the few whose deadline comes with the holder's, since
// they started first but lost the race for the lock, say that another call
// was still refreshing). All exit 1 and make no request: the endpoint sees
// the attempts of one call, where it used to see one more per process.
func TestOutageHungEndpointCrowd(t *testing.T) {
	for _, cache := range []string{"file", "kernel"} {
		t.Run(cache, func(t *testing.T) {
			t.Parallel()
			const procs = 16
			f := newOutageFixture(t, cache)
			f.seed(t, -time.Minute)
			f.srv.InjectAlways(hungEndpoint)
			results := make([]result, procs)
			errs := make([]error, procs)
			var wg sync.WaitGroup
			for i := range procs {
				wg.Go(func() {
					results[i], errs[i] = execBounded(f.env, "", runLimit, "token", "-o", "token", "--timeout", hangTimeout.String())
				})
			}
			wg.Wait()
			var first, same, late int
			for i, r := range results {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				checkNoLeak(t, r)
				if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("process %d: exit %d, stdout %q, stderr %q; want exit 1 and one line on stderr", i, r.code, r.stdout, r.stderr)
				}
				switch {
				case strings.Contains(r.stderr, "not tried again before"):
					same++
				case strings.HasPrefix(r.stderr, prog+": token request to ") && strings.Contains(r.stderr, "no token within the deadline"):
					first++
				case strings.HasPrefix(r.stderr, prog+": no token within the deadline: another caller was still refreshing it: "):
					// Its deadline came with the holder's: it started
					// first, but the holder took the lock first.
					late++
				default:
					t.Errorf("process %d: stderr %q; want the attempt's error, or after it the same with when the next attempt is made, "+
						"or that the deadline came while another was refreshing", i, r.stderr)
				}
			}
			got, limit := f.srv.Requests(), hungAttempts(hangTimeout)
			t.Logf("%s store: %d processes, --timeout %v, the endpoint hung: %d token requests (one call's attempts: %d); "+
				"%d printed the attempt's error, %d the same error after it, %d that their deadline came while it was still refreshing",
				cache, procs, hangTimeout, got, hungAttempts(hangTimeout), first, same, late)
			if got > limit {
				t.Errorf("%d token requests from %d processes, want at most %d: the attempts of the one call that held the lock",
					got, procs, limit)
			}
			if first != 1 {
				t.Errorf("%d processes made their own attempt and printed its error, want 1: the others wait for it and fail with its error", first)
			}
		})
	}
}

package authtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name        string
		fault       Fault
		wantErr     bool // the client sees a transport or body-read error
		status      int
		body        string // exact body, or "" to expect a real token
		contentType string
		retryAfter  string
	}{
		{
			name:        "DT-style 400",
			fault:       ErrorFault(400, "invalid_grant", "bad signature"),
			status:      400,
			body:        `{"error":"invalid_grant","error_description":"bad signature"}`,
			contentType: "application/json",
		},
		{
			name:        "503 with Retry-After seconds",
			fault:       Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`, RetryAfter: "7"},
			status:      503,
			body:        `{"error":"temporarily_unavailable"}`,
			contentType: "application/json",
			retryAfter:  "7",
		},
		{
			name:        "429 with Retry-After date",
			fault:       Fault{Status: 429, Body: "{}", RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"},
			status:      429,
			body:        "{}",
			contentType: "application/json",
			retryAfter:  "Wed, 21 Oct 2015 07:28:00 GMT",
		},
		{
			name:        "HTML 502 from a proxy",
			fault:       Fault{Status: 502, Body: "<html><body>Bad Gateway</body></html>", ContentType: "text/html"},
			status:      502,
			body:        "<html><body>Bad Gateway</body></html>",
			contentType: "text/html",
		},
		{
			name:        "malformed JSON 200",
			fault:       Fault{Status: 200, Body: `{"access_token":`},
			status:      200,
			body:        `{"access_token":`,
			contentType: "application/json",
		},
		{
			name:        "200 without access_token",
			fault:       Fault{Body: `{"token_type":"bearer","expires_in":3600}`},
			status:      200,
			body:        `{"token_type":"bearer","expires_in":3600}`,
			contentType: "application/json",
		},
		{
			name:        "200 with token_type mac and expires_in 0",
			fault:       Fault{Status: 200, Body: `{"access_token":"x","token_type":"mac","expires_in":0}`},
			status:      200,
			body:        `{"access_token":"x","token_type":"mac","expires_in":0}`,
			contentType: "application/json",
		},
		{
			name:        "500 empty body",
			fault:       Fault{Status: 500},
			status:      500,
			body:        "",
			contentType: "application/json",
		},
		{name: "dropped connection", fault: Fault{Drop: true}, wantErr: true},
		{name: "truncated body", fault: Fault{Truncate: true}, wantErr: true},
		{name: "truncated error body", fault: Fault{Status: 500, Body: `{"error":"server_error"}`, Truncate: true}, wantErr: true},
		{name: "short delay, then a real token", fault: Fault{Delay: 20 * time.Millisecond}, status: 200, contentType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			s.Inject(tt.fault)
			a := validAssertion(t, testAccount, s.TokenURL(), testNow)
			resp, body, err := postToken(t, s.Client(), s.TokenURL(), a)
			if s.Requests() != 1 {
				t.Errorf("Requests() = %d, want 1", s.Requests())
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got status %d body %q, want a client error", resp.StatusCode, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if tt.body != "" || tt.status != 200 {
				if body != tt.body {
					t.Errorf("body = %q, want %q", body, tt.body)
				}
			} else if tok := decodeReply(t, body).AccessToken; !s.Valid(tok) {
				t.Errorf("body %q has no valid token", body)
			}

			// The fault is used up: the next request is served normally.
			resp, body, err = postToken(t, s.Client(), s.TokenURL(), a)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request after the fault: %v %v %s", err, resp, body)
			}
			if s.Requests() != 2 {
				t.Errorf("Requests() = %d, want 2", s.Requests())
			}
		})
	}
}

func TestFaultQueueOrderAndPersistence(t *testing.T) {
	s := newTestServer(t)
	a := validAssertion(t, testAccount, s.TokenURL(), testNow)
	statusOf := func() int {
		t.Helper()
		resp, _, err := postToken(t, s.Client(), s.TokenURL(), a)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	s.Inject(Fault{Status: 500}, Fault{Status: 502})
	s.Inject(Fault{Status: 503})
	s.InjectAlways(Fault{Status: 429})
	var got []int
	for range 6 {
		got = append(got, statusOf())
	}
	want := []int{500, 502, 503, 429, 429, 429}
	if !equalInts(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	s.ClearFaults()
	if st := statusOf(); st != 200 {
		t.Errorf("after ClearFaults: status %d, want 200", st)
	}
	s.Inject(Fault{Status: 500})
	s.ClearFaults()
	if st := statusOf(); st != 200 {
		t.Errorf("ClearFaults left a queued fault: status %d", st)
	}
	if s.Requests() != 8 {
		t.Errorf("Requests() = %d, want 8", s.Requests())
	}
	s.ResetRequests()
	if s.Requests() != 0 {
		t.Errorf("after ResetRequests: %d", s.Requests())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDelayHonoursClientCancellation(t *testing.T) {
	s := newTestServer(t)
	s.Inject(Fault{Delay: time.Minute, Status: 200, Body: "{}"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL(), strings.NewReader("grant_type=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	_, _, err := do(s.Client(), req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("request took %s", d)
	}
	// Close must not wait for the abandoned delay either (checked by the
	// cleanup's duration in TestCloseAbandonsDelays).
}

func TestCloseAbandonsDelays(t *testing.T) {
	s := NewServer(testAccount)
	s.InjectAlways(Fault{Delay: time.Minute})
	errc := make(chan error, 1)
	go func() {
		_, _, err := postToken(t, s.Client(), s.TokenURL(), "x")
		errc <- err
	}()
	for s.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	s.Close()
	if err := <-errc; err == nil {
		t.Error("delayed request succeeded after Close")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
}

func TestDroppedConnectionBody(t *testing.T) {
	s := newTestServer(t)
	s.Inject(Fault{Truncate: true, Status: 200, Body: `{"access_token":"abc","token_type":"bearer","expires_in":3600}`})
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(""))
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading truncated body: err = %v, want unexpected EOF", err)
	}
}

func TestConcurrentClients(t *testing.T) {
	s := newTestServer(t)
	a := validAssertion(t, testAccount, s.TokenURL(), testNow)
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var tokens []string
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				s.Inject(Fault{Status: 503})
			}
			resp, body, err := postToken(t, s.Client(), s.TokenURL(), a)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 200 {
				tokens = append(tokens, decodeReply(t, body).AccessToken)
			}
		}()
	}
	wg.Wait()
	if s.Requests() != n {
		t.Errorf("Requests() = %d, want %d", s.Requests(), n)
	}
	if statuses[503] != n/4 || statuses[200] != n-n/4 {
		t.Errorf("statuses = %v, want %d×503 and %d×200", statuses, n/4, n-n/4)
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		if seen[tok] || !s.Valid(tok) {
			t.Errorf("token duplicated or invalid")
		}
		seen[tok] = true
	}
}

// TestHoldUntilReleased: a held request is answered, normally, only once
// its Hold is closed.
func TestHoldUntilReleased(t *testing.T) {
	s := newTestServer(t)
	release := make(chan struct{})
	s.Inject(Fault{Hold: release})
	a := validAssertion(t, testAccount, s.TokenURL(), testNow)
	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, body, err := postToken(t, s.Client(), s.TokenURL(), a)
		if err != nil {
			done <- answer{err: err}
			return
		}
		done <- answer{status: resp.StatusCode, body: body}
	}()
	for s.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case got := <-done:
		t.Fatalf("a held request was answered: %+v", got)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	got := <-done
	if got.err != nil || got.status != http.StatusOK || !strings.Contains(got.body, "access_token") {
		t.Errorf("released: %+v, want a token", got)
	}
}

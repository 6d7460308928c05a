package authtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// keyClient speaks the key API to a Server, as the tests' own minimal
// client: the real one (package serviceaccount) is tested against this.
type keyClient struct {
	t     *testing.T
	s     *Server
	token string
}

// tokenFor exchanges a valid assertion of a at s for a token.
func tokenFor(t *testing.T, s *Server, a Account) (string, int) {
	t.Helper()
	resp, body, err := postToken(t, s.Client(), s.TokenURL(), validAssertion(t, a, s.TokenURL(), s.now()))
	if err != nil {
		t.Fatal(err)
	}
	return decodeReply(t, body).AccessToken, resp.StatusCode
}

func (c keyClient) call(method, path string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, body, err := do(c.s.Client(), req)
	if err != nil {
		c.t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		c.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, body)
	}
	return resp.StatusCode, v
}

const testKeys = "/v2/projects/project/serviceaccounts/sa-1/keys"

// newKeyServer is a Server knowing testAccount, created at testNow, with
// a clock fixed at testNow, and a client with a token of testAccount.
func newKeyServer(t *testing.T) (*Server, keyClient) {
	t.Helper()
	a := testAccount
	a.CreateTime = testNow
	s := NewServer(a)
	t.Cleanup(s.Close)
	s.SetClock(func() time.Time { return testNow })
	tok, status := tokenFor(t, s, testAccount)
	if status != http.StatusOK {
		t.Fatalf("token status %d", status)
	}
	return s, keyClient{t: t, s: s, token: tok}
}

func TestKeyLifecycle(t *testing.T) {
	s, c := newKeyServer(t)
	later := testNow.Add(time.Minute)
	s.SetClock(func() time.Time { return later })
	status, created := c.call(http.MethodPost, testKeys)
	if status != http.StatusOK {
		t.Fatalf("create: %d %v", status, created)
	}
	key, _ := created["key"].(map[string]any)
	secret, _ := created["secret"].(string)
	id, _ := key["id"].(string)
	if len(id) != 20 || len(secret) != 32 || key["name"] != "projects/project/serviceaccounts/sa-1/keys/"+id ||
		key["createTime"] != later.UTC().Format("2006-01-02T15:04:05.000000Z") {
		t.Fatalf("create answered %v", created)
	}
	fresh := Account{KeyID: id, Email: testAccount.Email, Secret: secret}
	if _, status := tokenFor(t, s, fresh); status != http.StatusOK {
		t.Fatalf("the new key does not exchange: %d", status)
	}

	// Two keys, one per page: the second page is reached by its token.
	s.SetKeyPageSize(1)
	var ids []string
	path := testKeys + "?pageSize=5"
	for range 3 {
		status, page := c.call(http.MethodGet, path)
		keys, _ := page["keys"].([]any)
		if status != http.StatusOK || len(keys) != 1 {
			t.Fatalf("list %s: %d %v", path, status, page)
		}
		ids = append(ids, keys[0].(map[string]any)["id"].(string))
		next, _ := page["nextPageToken"].(string)
		if next == "" {
			break
		}
		path = testKeys + "?pageSize=5&pageToken=" + url.QueryEscape(next)
	}
	if len(ids) != 2 || ids[0] != testAccount.KeyID || ids[1] != id {
		t.Errorf("listed %v, want [%s %s]", ids, testAccount.KeyID, id)
	}
	if status, got := c.call(http.MethodGet, testKeys+"/"+id); status != http.StatusOK || got["id"] != id {
		t.Errorf("get: %d %v", status, got)
	}

	// The old key deleted, with its own token: it exchanges no more, its
	// token stays valid.
	if status, got := c.call(http.MethodDelete, testKeys+"/"+testAccount.KeyID); status != http.StatusOK || len(got) != 0 {
		t.Fatalf("delete: %d %v", status, got)
	}
	if _, status := tokenFor(t, s, testAccount); status != http.StatusUnauthorized {
		t.Errorf("the deleted key exchanged: status %d, want 401", status)
	}
	if !s.Valid(c.token) {
		t.Error("a token of the deleted key is no longer valid")
	}
	if status, _ := c.call(http.MethodDelete, testKeys+"/"+testAccount.KeyID); status != http.StatusNotFound {
		t.Errorf("deleting it again: %d, want 404", status)
	}
	if got := s.KeysOf(testAccount.Email); len(got) != 1 || got[0].KeyID != id {
		t.Errorf("KeysOf = %v, want the new key only", got)
	}
	if got := s.KeyRequests(OpDeleteKey); got != 2 {
		t.Errorf("KeyRequests(delete) = %d, want 2", got)
	}
	if got := s.KeyRequests(""); got != 6 {
		t.Errorf("KeyRequests() = %d, want 6", got)
	}
}

func TestKeyAPIRefusals(t *testing.T) {
	other := Account{KeyID: "key-9", Email: "sa-9@elsewhere.serviceaccount.d21s.com", Secret: "other-secret"}
	odd := Account{KeyID: "key-odd", Email: "odd@example.com", Secret: "odd-secret"}
	s, c := newKeyServer(t)
	s.AddAccount(other)
	s.AddAccount(odd)
	otherTok, _ := tokenFor(t, s, other)
	oddTok, status := tokenFor(t, s, odd)
	if status != http.StatusOK {
		t.Fatalf("an account with an email of another form does not exchange: %d", status)
	}
	tests := []struct {
		name, token, method, path string
		want                      int
	}{
		{"no token", "", http.MethodGet, testKeys, http.StatusUnauthorized},
		{"a token not issued", "made-up", http.MethodGet, testKeys, http.StatusUnauthorized},
		{"another project's account", otherTok, http.MethodGet, testKeys, http.StatusForbidden},
		{"an email of another form", oddTok, http.MethodPost, testKeys, http.StatusForbidden},
		{"no such service account", c.token, http.MethodGet, "/v2/projects/project/serviceaccounts/nobody/keys", http.StatusNotFound},
		{"no such key", c.token, http.MethodDelete, testKeys + "/nokey", http.StatusNotFound},
		{"method", c.token, http.MethodPut, testKeys, http.StatusMethodNotAllowed},
		{"bad page size", c.token, http.MethodGet, testKeys + "?pageSize=x", http.StatusBadRequest},
		{"bad page token", c.token, http.MethodGet, testKeys + "?pageToken=%25%25", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kc := keyClient{t: t, s: s, token: tc.token}
			status, body := kc.call(tc.method, tc.path)
			if status != tc.want || body["code"] != float64(tc.want) || body["error"] == "" {
				t.Errorf("%s %s: %d %v, want %d in DT's error shape", tc.method, tc.path, status, body, tc.want)
			}
		})
	}

	// Without the right: create and delete refused, list allowed.
	s.SetKeyRight(testAccount.Email, false)
	for method, want := range map[string]int{http.MethodPost: 403, http.MethodGet: 200} {
		if status, body := c.call(method, testKeys); status != want {
			t.Errorf("without the right, %s keys: %d %v, want %d", method, status, body, want)
		}
	}
	if status, body := c.call(http.MethodDelete, testKeys+"/"+testAccount.KeyID); status != 403 ||
		!strings.Contains(body["error"].(string), "serviceaccount.key.delete") {
		t.Errorf("without the right, delete: %d %v", status, body)
	}
	if n := len(s.KeysOf(testAccount.Email)); n != 1 {
		t.Errorf("the refused requests left %d keys, want 1", n)
	}
	s.SetKeyRight(testAccount.Email, true)
	if status, _ := c.call(http.MethodPost, testKeys); status != 200 {
		t.Errorf("with the right back, create: %d", status)
	}
}

func TestKeyAPIExplicitIDs(t *testing.T) {
	odd := Account{KeyID: "key-odd", Email: "odd@example.com", Secret: "odd-secret", Project: "p2", ServiceAccount: "sa2"}
	s := newTestServer(t)
	s.AddAccount(odd)
	tok, _ := tokenFor(t, s, odd)
	c := keyClient{t: t, s: s, token: tok}
	status, created := c.call(http.MethodPost, "/v2/projects/p2/serviceaccounts/sa2/keys")
	if status != http.StatusOK {
		t.Fatalf("create: %d %v", status, created)
	}
	keys := s.KeysOf(odd.Email)
	if len(keys) != 2 || keys[1].Project != "p2" || keys[1].ServiceAccount != "sa2" {
		t.Errorf("KeysOf = %+v", keys)
	}
}

func TestKeyFaults(t *testing.T) {
	s, c := newKeyServer(t)
	// A create that took effect, and whose answer was lost.
	s.InjectKeys(OpCreateKey, Fault{Late: true, Status: 503, Body: `{"error":"lost","code":503}`})
	// A delete refused before it took effect.
	s.InjectKeys(OpDeleteKey, ErrorFault(500, "x", "y"))
	if status, _ := c.call(http.MethodPost, testKeys); status != 503 {
		t.Errorf("create answered %d, want the injected 503", status)
	}
	if n := len(s.KeysOf(testAccount.Email)); n != 2 {
		t.Errorf("after a late fault there are %d keys, want 2: the create took effect", n)
	}
	if status, _ := c.call(http.MethodDelete, testKeys+"/"+testAccount.KeyID); status != 500 {
		t.Errorf("delete answered %d, want the injected 500", status)
	}
	if n := len(s.KeysOf(testAccount.Email)); n != 2 {
		t.Errorf("after an early fault there are %d keys, want 2: the delete did not happen", n)
	}
	// A stalled answer ends when the client gives up.
	s.InjectKeys(OpListKeys, Fault{Delay: time.Hour})
	hc := *s.Client()
	hc.Timeout = 100 * time.Millisecond
	req, _ := http.NewRequest(http.MethodGet, s.URL+testKeys, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if _, _, err := do(&hc, req); err == nil {
		t.Error("a stalled list answered")
	}
	if got := s.KeyRequests(OpListKeys); got != 1 {
		t.Errorf("KeyRequests(list) = %d, want 1", got)
	}
}

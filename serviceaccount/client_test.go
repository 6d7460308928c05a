package serviceaccount_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// The DT API cannot be reached from here: the emulator (auth/authtest)
// stands in for it.

var owner = authtest.Account{KeyID: "key-1", Email: "sa1@proj1.serviceaccount.d21s.com", Secret: "first-secret-4kq8"}

var ownerID = serviceaccount.ID{Project: "proj1", ServiceAccount: "sa1"}

// newClient is an emulator knowing owner and a client of its API with
// owner's tokens.
func newClient(t *testing.T) (*authtest.Server, *serviceaccount.Client) {
	t.Helper()
	srv := authtest.NewServer(owner)
	t.Cleanup(srv.Close)
	return srv, clientOf(t, srv, owner)
}

func clientOf(t *testing.T, srv *authtest.Server, a authtest.Account) *serviceaccount.Client {
	t.Helper()
	src, err := auth.NewSource(auth.Credentials{KeyID: a.KeyID, Email: a.Email, Secret: a.Secret, TokenEndpoint: srv.TokenURL()},
		auth.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := serviceaccount.NewClient(srv.URL+"/v2", auth.NewReuseSource(src, 0), serviceaccount.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ids(keys []serviceaccount.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func TestClientRoundTrip(t *testing.T) {
	srv, c := newClient(t)
	ctx := context.Background()
	nk, err := c.CreateKey(ctx, ownerID)
	if err != nil {
		t.Fatal(err)
	}
	if nk.Name != ownerID.String()+"/keys/"+nk.ID || nk.CreateTime.IsZero() || len(nk.Secret) != 32 {
		t.Fatalf("created %+v", nk.Key)
	}
	for _, shown := range []string{fmt.Sprint(nk), fmt.Sprintf("%+v", nk), fmt.Sprintf("%#v", nk), fmt.Sprintf("%v", &nk)} {
		if strings.Contains(shown, nk.Secret) || !strings.Contains(shown, nk.ID) {
			t.Errorf("a NewKey printed shows %q", shown)
		}
	}
	// The new key works at once, and can manage keys itself.
	fresh := authtest.Account{KeyID: nk.ID, Email: owner.Email, Secret: nk.Secret}
	c2 := clientOf(t, srv, fresh)

	srv.SetKeyPageSize(1)
	keys, err := c2.ListKeys(ctx, ownerID)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(keys); len(got) != 2 || got[0] != owner.KeyID || got[1] != nk.ID {
		t.Errorf("listed %v, want [%s %s]", got, owner.KeyID, nk.ID)
	}
	if n := srv.KeyRequests(authtest.OpListKeys); n != 2 {
		t.Errorf("the listing took %d requests, want 2 pages", n)
	}
	if err := c2.DeleteKey(ctx, ownerID, owner.KeyID); err != nil {
		t.Fatal(err)
	}
	err = c2.DeleteKey(ctx, ownerID, owner.KeyID)
	var e *serviceaccount.Error
	if !errors.Is(err, serviceaccount.ErrNotFound) || !errors.As(err, &e) || !e.Refused() || e.Temporary() {
		t.Errorf("deleting it again: %v, want a refused 404", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("no right", func(t *testing.T) {
		srv, c := newClient(t)
		srv.SetKeyRight(owner.Email, false)
		_, err := c.CreateKey(ctx, ownerID)
		var e *serviceaccount.Error
		if !errors.Is(err, serviceaccount.ErrNoRight) || !errors.As(err, &e) || !e.Refused() ||
			!strings.Contains(err.Error(), "serviceaccount.key.create") {
			t.Errorf("create without the right: %v", err)
		}
	})
	t.Run("transient", func(t *testing.T) {
		srv, c := newClient(t)
		srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Late: true, Status: 503, Body: `{"error":"overloaded","code":503}`})
		_, err := c.CreateKey(ctx, ownerID)
		var e *serviceaccount.Error
		if !errors.As(err, &e) || e.Refused() || !e.Temporary() || !strings.Contains(err.Error(), "overloaded") {
			t.Errorf("a 503: %v, want a temporary error that may have acted", err)
		}
		if n := len(srv.KeysOf(owner.Email)); n != 2 {
			t.Errorf("%d keys, want 2: the late fault let the create happen", n)
		}
	})
	t.Run("dropped", func(t *testing.T) {
		srv, c := newClient(t)
		srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Drop: true})
		err := c.DeleteKey(ctx, ownerID, owner.KeyID)
		var e *serviceaccount.Error
		if !errors.As(err, &e) || e.Status != 0 || !e.Temporary() || strings.Contains(err.Error(), srv.URL) {
			t.Errorf("a dropped connection: %v", err)
		}
	})
	t.Run("secret in a bad answer", func(t *testing.T) {
		srv, c := newClient(t)
		const leaked = "0123456789abcdef0123456789abcdef"
		srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Status: 200, Body: `{"key":{"id":"a/b"},"secret":"` + leaked + `"}`})
		_, err := c.CreateKey(ctx, ownerID)
		if err == nil || strings.Contains(err.Error(), leaked) {
			t.Errorf("a create answer with a bad key id: %v", err)
		}
		srv.InjectKeys(authtest.OpCreateKey, authtest.Fault{Status: 200, Body: `{"key":{"id":"k"},"secret":"` + leaked + `"`})
		_, err = c.CreateKey(ctx, ownerID)
		var e *serviceaccount.Error
		if !errors.As(err, &e) || e.Refused() || strings.Contains(err.Error(), leaked) {
			t.Errorf("a cut-off create answer: %v, want an error that may have acted, without the secret", err)
		}
	})
	t.Run("bad ids", func(t *testing.T) {
		_, c := newClient(t)
		if _, err := c.ListKeys(ctx, serviceaccount.ID{Project: "..", ServiceAccount: "x"}); err == nil {
			t.Error("a project id '..' was sent")
		}
		if err := c.DeleteKey(ctx, ownerID, "../../x"); err == nil {
			t.Error("a key id '../../x' was sent")
		}
	})
}

// TestMayHaveCreated: each way a create fails, as the client reports it,
// either surely created nothing (DT refused it) or may have created a key.
func TestMayHaveCreated(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		fault *authtest.Fault // nil: no fault
		right bool
		ctx   context.Context
		want  bool
	}{
		{"refused: no right (403)", nil, false, context.Background(), false},
		{"refused: too many requests (429)", &authtest.Fault{Status: 429, RetryAfter: "1", Body: `{"error":"slow down"}`}, true, context.Background(), false},
		{"refused: bad request (400)", &authtest.Fault{Status: 400, Body: `{"error":"no"}`}, true, context.Background(), false},
		{"a 503 after acting", &authtest.Fault{Late: true, Status: 503, Body: `{"error":"overloaded"}`}, true, context.Background(), true},
		{"a 500", &authtest.Fault{Status: 500, Body: `{"error":"oops"}`}, true, context.Background(), true},
		{"no answer", &authtest.Fault{Late: true, Drop: true}, true, context.Background(), true},
		{"a cut-off success", &authtest.Fault{Status: 200, Body: `{"key":{"id":"k"`}, true, context.Background(), true},
		{"another kind of error (a context's)", nil, true, canceled, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newClient(t)
			srv.SetKeyRight(owner.Email, tc.right)
			if tc.fault != nil {
				srv.InjectKeys(authtest.OpCreateKey, *tc.fault)
			}
			_, err := c.CreateKey(tc.ctx, ownerID)
			if err == nil {
				t.Fatal("the create succeeded")
			}
			if got := serviceaccount.MayHaveCreated(err); got != tc.want {
				t.Errorf("MayHaveCreated(%v) = %v, want %v", err, got, tc.want)
			}
			if got := serviceaccount.MayHaveCreated(fmt.Errorf("wrapped: %w", err)); got != tc.want {
				t.Errorf("MayHaveCreated of it wrapped = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeyIDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []serviceaccount.Key
		want []string
	}{
		{"none", nil, []string{}},
		{"in order", []serviceaccount.Key{{ID: "k2", Name: "n2"}, {ID: "k1"}, {ID: "k3"}}, []string{"k2", "k1", "k3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := serviceaccount.KeyIDs(tc.keys)
			if got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("KeyIDs = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestClientURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"https://api.d21s.com/v2", true},
		{"http://127.0.0.1:8080/v2", true},
		{"http://[::1]/v2", true},
		{"http://api.d21s.com/v2", false},
		{"https://user:pw@api.d21s.com/v2", false},
		{"https://api.d21s.com/v2?x=1", false},
		{"/v2", false},
		{"ftp://api.d21s.com/v2", false},
	} {
		_, err := serviceaccount.NewClient(tc.url, nil)
		var ce *auth.ConfigError
		if (err == nil) != tc.ok || (err != nil && !errors.As(err, &ce)) {
			t.Errorf("NewClient(%q): %v, want ok %v", tc.url, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("the error shows the URL's password: %v", err)
		}
	}
}

// TestClientFollowsNoRedirect: a token never goes where a redirect points.
func TestClientFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer target.Close()
	srv := authtest.NewServer(owner)
	defer srv.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	src, err := auth.NewSource(auth.Credentials{KeyID: owner.KeyID, Email: owner.Email, Secret: owner.Secret, TokenEndpoint: srv.TokenURL()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := serviceaccount.NewClient(redirect.URL+"/v2", src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListKeys(context.Background(), ownerID)
	var e *serviceaccount.Error
	if !errors.As(err, &e) || e.Status != http.StatusTemporaryRedirect {
		t.Errorf("a redirect: %v", err)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

func TestClientBoundsAnswers(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("pageToken") != "" || r.Method != http.MethodGet {
			fmt.Fprint(w, `{"keys":[],"nextPageToken":"same"}`)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/sa1/keys") {
			fmt.Fprint(w, `{"keys":[],"nextPageToken":"same"}`)
			return
		}
		w.Write([]byte(strings.Repeat("x", 2<<20)))
	}))
	defer big.Close()
	srv := authtest.NewServer(owner)
	defer srv.Close()
	src, _ := auth.NewSource(auth.Credentials{KeyID: owner.KeyID, Email: owner.Email, Secret: owner.Secret, TokenEndpoint: srv.TokenURL()})
	c, err := serviceaccount.NewClient(big.URL+"/v2", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListKeys(context.Background(), ownerID); err == nil || !strings.Contains(err.Error(), "same page token") {
		t.Errorf("a page token repeated: %v", err)
	}
	if _, err := c.ListKeys(context.Background(), serviceaccount.ID{Project: "proj1", ServiceAccount: "big"}); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("a 2 MiB answer: %v", err)
	}
}

func TestProve(t *testing.T) {
	srv := authtest.NewServer(owner)
	defer srv.Close()
	late := authtest.Account{KeyID: "key-late", Email: owner.Email, Secret: "late-secret-77"}
	creds := auth.Credentials{KeyID: late.KeyID, Email: late.Email, Secret: late.Secret, TokenEndpoint: srv.TokenURL()}

	// Not accepted yet: refused within the context's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if _, err := serviceaccount.Prove(ctx, creds); !auth.IsRejected(err) {
		t.Fatalf("a key never accepted: %v, want the rejection", err)
	}
	if n := srv.Requests(); n < 2 {
		t.Errorf("%d token requests: the rejection was not tried again", n)
	}

	// Accepted after a moment, as a new key may be.
	go func() {
		time.Sleep(400 * time.Millisecond)
		srv.AddAccount(late)
	}()
	tok, err := serviceaccount.Prove(context.Background(), creds)
	if err != nil || !srv.Valid(tok.AccessToken) {
		t.Fatalf("a key accepted late: %v", err)
	}
}

// TestClientChecksListedKeys: a listing is the ids a rotation records and
// prints, so a page holding one that is not an id, or more keys than a
// service account has, fails the whole listing.
func TestClientChecksListedKeys(t *testing.T) {
	validKeys := func(page, n int) string {
		var ks []string
		for i := range n {
			ks = append(ks, fmt.Sprintf(`{"id":"key-%d-%d"}`, page, i))
		}
		return strings.Join(ks, ",")
	}
	for _, tc := range []struct {
		name  string
		pages []string // the keys member of each page, in order
		says  string
	}{
		{"an escape sequence", []string{`{"id":"key-0"},{"id":"k\u001b[2Jx"}`}, "not an id"},
		{"a long id", []string{`{"id":"key-0"}`, `{"id":"` + strings.Repeat("k", 600_000) + `"}`}, "not an id"},
		{"no id", []string{`{"name":"projects/proj1/serviceaccounts/sa1/keys/"}`}, "not an id"},
		{"too many keys", []string{validKeys(0, 60), validKeys(1, 60)}, "more than 100 keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := 0
				fmt.Sscan(r.URL.Query().Get("pageToken"), &i)
				next := ""
				if i+1 < len(tc.pages) {
					next = fmt.Sprint(i + 1)
				}
				fmt.Fprintf(w, `{"keys":[%s],"nextPageToken":%q}`, tc.pages[i], next)
			}))
			defer api.Close()
			srv := authtest.NewServer(owner)
			defer srv.Close()
			src, _ := auth.NewSource(auth.Credentials{KeyID: owner.KeyID, Email: owner.Email, Secret: owner.Secret, TokenEndpoint: srv.TokenURL()})
			c, err := serviceaccount.NewClient(api.URL+"/v2", src)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := c.ListKeys(context.Background(), ownerID)
			if err == nil || !strings.Contains(err.Error(), tc.says) || keys != nil {
				t.Fatalf("ListKeys: %d keys, %v; want an error saying %q", len(keys), err, tc.says)
			}
			if msg := err.Error(); strings.ContainsRune(msg, 0x1b) || len(msg) > 500 {
				t.Errorf("the error (%d bytes) shows the id raw: %.200q", len(msg), msg)
			}
		})
	}
}

// TestDeleteKeyGone: a key deleted, or not found where a listing confirms
// it is not, is gone; a "not found" while the account still lists the key
// (it was asked for under another account, or DT erred) is an error.
func TestDeleteKeyGone(t *testing.T) {
	ctx := context.Background()
	srv, c := newClient(t)
	nk, err := c.CreateKey(ctx, ownerID)
	if err != nil {
		t.Fatal(err)
	}
	srv.InjectKeys(authtest.OpDeleteKey, authtest.Fault{Status: 404, Body: `{"error":"not found","code":404}`})
	if err := c.DeleteKeyGone(ctx, ownerID, nk.ID); err == nil || !strings.Contains(err.Error(), "lists it") {
		t.Errorf("a 404 for a key the account lists: %v, want an error", err)
	}
	if err := c.DeleteKeyGone(ctx, ownerID, nk.ID); err != nil {
		t.Errorf("deleting the key: %v", err)
	}
	if err := c.DeleteKeyGone(ctx, ownerID, nk.ID); err != nil {
		t.Errorf("deleting it again, gone: %v", err)
	}
	if got := ids(mustList(t, c)); len(got) != 1 || got[0] != owner.KeyID {
		t.Errorf("DT has keys %v", got)
	}
}

func mustList(t *testing.T, c *serviceaccount.Client) []serviceaccount.Key {
	t.Helper()
	keys, err := c.ListKeys(context.Background(), ownerID)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

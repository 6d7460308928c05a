package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dt-credential-helper/dt-credential-helper/auth/authtest"
	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

const (
	testKeyID  = "key-1"
	testEmail  = "sa@example.com"
	testSecret = "not:a:real:secret"
)

func assertion(t *testing.T, tokenURL string) string {
	t.Helper()
	now := time.Now().Add(-5 * time.Second)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": testEmail,
		"aud": tokenURL,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = testKeyID
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exchange gets a token from tokenURL and checks it on the emulator's API.
func exchange(t *testing.T, tokenURL string, wantTTL int64) string {
	t.Helper()
	resp, err := http.PostForm(tokenURL, url.Values{
		"grant_type": {authtest.GrantType},
		"assertion":  {assertion(t, tokenURL)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token exchange: status %d, decode error %v", resp.StatusCode, err)
	}
	if r.AccessToken == "" || r.TokenType != "bearer" || r.ExpiresIn != wantTTL {
		t.Fatalf("token reply = %+v, want a bearer token for %ds", r, wantTTL)
	}

	api := strings.TrimSuffix(tokenURL, authtest.TokenPath) + "/v2/projects"
	for _, tc := range []struct {
		token string
		want  int
	}{{r.AccessToken, 200}, {"wrong", 401}} {
		req, _ := http.NewRequest(http.MethodGet, api, nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v2/projects: status %d, want %d", resp.StatusCode, tc.want)
		}
	}
	return r.AccessToken
}

func TestBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the emulator with SIGINT, which Windows cannot send")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "dt-identity-emulator")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--token-ttl", "10m",
		"--account", testKeyID+":"+testEmail+":"+testSecret,
		"--account", "key-2:two@example.com:two")
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	lines := make(chan string, 1)
	rest := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		b, _ := io.ReadAll(br)
		rest <- string(b)
	}()
	var tokenURL string
	select {
	case line := <-lines:
		tokenURL = strings.TrimSpace(line)
	case <-time.After(30 * time.Second):
		t.Fatalf("no token URL on stdout within 30s; stderr:\n%s", stderr.String())
	}
	if !strings.HasPrefix(tokenURL, "http://127.0.0.1:") || !strings.HasSuffix(tokenURL, "/oauth2/token") || strings.HasSuffix(tokenURL, ":0/oauth2/token") {
		t.Fatalf("first stdout line = %q, want http://127.0.0.1:PORT/oauth2/token", tokenURL)
	}

	token := exchange(t, tokenURL, 600)

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		killed = true
		if err != nil {
			t.Errorf("exit after SIGINT: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not exit within 10s of SIGINT")
	}
	if r := <-rest; r != "" {
		t.Errorf("stdout after the token URL: %q", r)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "POST") || !strings.Contains(logs, "/oauth2/token") {
		t.Errorf("stderr lacks the request log:\n%s", logs)
	}
	for _, secret := range []string{testSecret, token} {
		if strings.Contains(logs, secret) {
			t.Errorf("stderr leaks a secret or token:\n%s", logs)
		}
	}
}

func TestRunInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr testutil.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--account", testKeyID + ":" + testEmail + ":" + testSecret,
			"--account", dtKeyID + ":" + dtEmail + ":" + testSecret}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the token URL: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	tokenURL := strings.TrimSpace(line)
	exchange(t, tokenURL, 3600)
	keyRoundTrip(t, tokenURL)
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}

// An account whose email has DT's form, which the key API addresses.
const (
	dtKeyID = "key-dt"
	dtEmail = "sa1@proj1.serviceaccount.d21s.com"
)

// keyRoundTrip creates a key of dtEmail's account with the key API, proves
// it exchanges, deletes the first key, and sees that one refused.
func keyRoundTrip(t *testing.T, tokenURL string) {
	t.Helper()
	keys := strings.TrimSuffix(tokenURL, authtest.TokenPath) + "/v2/projects/proj1/serviceaccounts/sa1/keys"
	token := exchangeAs(t, tokenURL, dtKeyID, testSecret, http.StatusOK)
	call := func(method, url string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d, decode error %v", method, url, resp.StatusCode, err)
		}
	}
	var created struct {
		Key    struct{ ID string }
		Secret string
	}
	call(http.MethodPost, keys, &created)
	exchangeAs(t, tokenURL, created.Key.ID, created.Secret, http.StatusOK)
	var list struct {
		Keys []struct{ ID string }
	}
	call(http.MethodGet, keys, &list)
	if len(list.Keys) != 2 {
		t.Errorf("listed %+v, want two keys", list.Keys)
	}
	call(http.MethodDelete, keys+"/"+dtKeyID, &struct{}{})
	exchangeAs(t, tokenURL, dtKeyID, testSecret, http.StatusUnauthorized)
}

// exchangeAs asks tokenURL for a token of key id kid with secret and
// wants status; it returns the token.
func exchangeAs(t *testing.T, tokenURL, kid, secret string, want int) string {
	t.Helper()
	now := time.Now().Add(-5 * time.Second)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": dtEmail, "aud": tokenURL, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	assertion, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {authtest.GrantType}, "assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != want {
		t.Fatalf("exchange of key %s: status %d, want %d", kid, resp.StatusCode, want)
	}
	return r.AccessToken
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		mustNotLog string
	}{
		{name: "help", args: []string{"--help"}, code: 0, stdoutHas: "never use it with real"},
		{name: "no account", args: nil, code: 2, stderrHas: "--account"},
		{name: "account without secret", args: []string{"--account", "k:e@x:"}, code: 2, stderrHas: "KEYID:EMAIL:SECRET"},
		{name: "account with two fields", args: []string{"--account", "k:topsecretvalue"}, code: 2, stderrHas: "KEYID:EMAIL:SECRET", mustNotLog: "topsecretvalue"},
		{name: "duplicate key id", args: []string{"--account", "k:a@x:s1", "--account", "k:b@x:s2"}, code: 2, stderrHas: "twice"},
		{name: "unknown flag", args: []string{"--nope"}, code: 2, stderrHas: "nope"},
		{name: "positional argument", args: []string{"--account", "k:e@x:s", "extra"}, code: 2, stderrHas: "extra"},
		{name: "zero ttl", args: []string{"--account", "k:e@x:s", "--token-ttl", "0s"}, code: 2, stderrHas: "token-ttl"},
		{name: "bad listen address", args: []string{"--account", "k:e@x:s", "--listen", "256.0.0.1:0"}, code: 1, stderrHas: "listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(strings.ToLower(stdout.String()), strings.ToLower(tt.stdoutHas)) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdoutHas, stdout.String())
			}
			if tt.stdoutHas == "" && stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderrHas, stderr.String())
			}
			if tt.mustNotLog != "" && strings.Contains(stderr.String()+stdout.String(), tt.mustNotLog) {
				t.Errorf("output echoes the secret %q", tt.mustNotLog)
			}
		})
	}
}

func TestParseAccount(t *testing.T) {
	tests := []struct {
		in      string
		want    authtest.Account
		wantErr bool
	}{
		{in: "k:e@x:s", want: authtest.Account{KeyID: "k", Email: "e@x", Secret: "s"}},
		{in: "k:e@x:s:with:colons", want: authtest.Account{KeyID: "k", Email: "e@x", Secret: "s:with:colons"}},
		{in: "k:e@x", wantErr: true},
		{in: ":e@x:s", wantErr: true},
		{in: "k::s", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseAccount(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseAccount(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

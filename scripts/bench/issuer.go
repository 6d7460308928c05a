//go:build linux

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuerClientID is the OIDC client kubelogin is configured with.
const issuerClientID = "dt-bench"

// issuer is a fake OpenID Connect provider on loopback: discovery, a
// password-grant token endpoint and its signing keys, enough for kubelogin
// to log in once without a browser and fill its cache. It counts every
// request, so a cached call that reached it is seen.
type issuer struct {
	srv     *httptest.Server
	url     string
	idToken string // the one ID token it issues: what kubelogin must print
	count   atomic.Int64
}

func newIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	is := &issuer{}
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                is.url,
			"authorization_endpoint":                is.url + "/auth",
			"token_endpoint":                        is.url + "/token",
			"jwks_uri":                              is.url + "/keys",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"grant_types_supported":                 []string{"password"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "password" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "unsupported_grant_type"})
			return
		}
		writeJSON(w, map[string]any{
			"access_token": "bench-access-token", "token_type": "Bearer", "expires_in": 7200,
			"id_token": is.idToken,
		})
	})
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.count.Add(1)
		mux.ServeHTTP(w, r)
	}))
	is.url = is.srv.URL
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": is.url, "sub": "bench", "aud": issuerClientID,
		"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench"
	if is.idToken, err = tok.SignedString(key); err != nil {
		is.srv.Close()
		return nil, err
	}
	return is, nil
}

func (is *issuer) requests() int64 { return is.count.Load() }
func (is *issuer) close()          { is.srv.Close() }

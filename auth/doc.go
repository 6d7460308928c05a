// Package auth turns a Disruptive Technologies service account into OAuth2
// access tokens for the DT REST API.
//
// A service account (key id, email, secret) signs a short-lived JWT, the
// assertion, which is exchanged at DT's token endpoint for an access token
// valid about an hour (the JWT-bearer grant of RFC 7523). [Source] performs
// that exchange with retries and a deadline; [ReuseSource] keeps a token in
// memory and refreshes it when less than a buffer of its lifetime is left
// (the rule of package bearer, which also holds what a token may be), which
// is what a long-running Go program wants:
//
//	creds, err := auth.Resolve(auth.Settings{}, os.Getenv)
//	...
//	src, err := auth.NewSource(creds)
//	...
//	ts := auth.NewReuseSource(src, 0) // 0: bearer.DefaultRefreshBuffer
//	client := oauth2.NewClient(ctx, ts)
//
// Every source here is an oauth2.TokenSource; the keyring package wraps a
// [Source] with a cache shared between processes.
package auth

package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"

	"github.com/dt-credential-helper/dt-credential-helper/auth"
)

// On a Vault cluster every node runs its own instance of the engine, and
// OpenBao's standbys (Vault Enterprise's performance standbys likewise)
// answer reads themselves. So that the cluster costs DT one token request
// per token lifetime per account, as one node does, only the active node
// asks DT, and it shares each token it gets through the engine's storage,
// which Vault replicates: a standby serves the stored token while it is
// fresh and forwards the read to the active node otherwise, and a node that
// becomes active after a failover starts from the stored token rather than
// from empty memory. Vault's invalidation of a tokens/ key needs no action:
// a node reads the stored token whenever its memory copy is due, and a
// changed account (whose invalidation drops the memory copy) no longer
// matches the stored token's digest.

// tokenPrefix is the storage prefix of the shared tokens. It is seal-wrapped
// like the accounts: an access token is a credential for up to an hour.
const tokenPrefix = "tokens/"

func tokenKey(name string) string { return tokenPrefix + name }

// errForward makes Vault forward a request to the active node: OpenBao's
// standby forwards a request whose handler answers an error containing
// logical.ErrPerfStandbyPleaseForward's text (logical.ShouldForward matches
// the text, which crosses the plugin's gRPC boundary unchanged).
var errForward = logical.ErrPerfStandbyPleaseForward

// sharedToken is a stored token with the account it was obtained for.
type sharedToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	Expiry      time.Time `json:"expiry"`
	// ExpiresIn is the lifetime DT granted, which sets the refresh buffer.
	ExpiresIn int64 `json:"expires_in"`
	// Account is accountDigest of the credentials that obtained it: a node
	// whose copy of the account is older or newer than the token's does not
	// serve it.
	Account string `json:"account"`
}

// accountDigest identifies the exact credentials (the secret included, so
// that a new secret under the same key id is a new account) without
// holding them.
func accountDigest(c auth.Credentials) string {
	h := sha256.New()
	for _, f := range []string{c.TokenEndpoint, c.KeyID, c.Email, c.Secret} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// standby reports whether this engine instance runs on a standby node, which
// can read the replicated storage but not write it.
func (b *Backend) standby() bool {
	return b.System().ReplicationState().HasState(consts.ReplicationPerformanceStandby)
}

// loadShared returns the stored token of account name if it was obtained
// for creds; nil when there is none (or none usable: a storage error is
// logged, and the caller goes on as without a stored token).
func (b *Backend) loadShared(ctx context.Context, s logical.Storage, name string, creds auth.Credentials) *oauth2.Token {
	st, err := getEntry[sharedToken](ctx, s, tokenKey(name), name, "shared token")
	if err != nil {
		b.Logger().Warn("reading the shared token failed", "account", name, "error", err.Error())
		return nil
	}
	if st == nil || st.Account != accountDigest(creds) || st.AccessToken == "" {
		return nil
	}
	return &oauth2.Token{AccessToken: st.AccessToken, TokenType: st.TokenType, Expiry: st.Expiry, ExpiresIn: st.ExpiresIn}
}

// share stores tok for the other nodes. A failure costs only sharing (each
// node would then ask DT once), so it is logged, not returned; a node that
// has just lost the active role cannot write, which is expected.
func (b *Backend) share(ctx context.Context, s logical.Storage, name string, creds auth.Credentials, tok *oauth2.Token) {
	err := putEntry(ctx, s, tokenKey(name), sharedToken{
		AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn,
		Account: accountDigest(creds),
	})
	switch {
	case err != nil && strings.Contains(err.Error(), logical.ErrReadOnly.Error()):
		// (by its text: a storage error from Vault crosses gRPC as text)
		b.Logger().Debug("not sharing the token: this node is no longer active", "account", name)
	case err != nil:
		b.Logger().Warn("sharing the token with the other nodes failed", "account", name, "error", err.Error())
	}
}

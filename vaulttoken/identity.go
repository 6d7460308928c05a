package vaulttoken

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// Identity is what Vault says of the identity a [Source] reads with
// (vaultenv.Identity: the helper decodes it from the reader it runs as a
// child, which links this package).
type Identity = vaultenv.Identity

// Identity asks Vault who this Source reads as, logging in first when it
// logs in with a JWT, as a read would; it reads no DT token. A Vault that
// is not initialized or is sealed is reported in the Identity, without an
// error; a failure to ask is an [*Error], as a read's would be.
func (s *Source) Identity(ctx context.Context) (Identity, error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return Identity{}, &Error{Kind: Transient, Path: s.path, Addr: s.addr, Msg: "vault: waiting to ask who this identity is", Err: ctx.Err()}
	}
	if err := s.setup(); err != nil {
		return Identity{}, err
	}
	id := Identity{Addr: s.addr, Path: s.path}
	h, err := s.client.Sys().HealthWithContext(ctx)
	if err != nil {
		return id, s.classify(ctx, "asking sys/health", err)
	}
	id.Initialized, id.Sealed, id.Standby, id.Version = h.Initialized, h.Sealed, h.Standby, h.Version
	if !h.Initialized || h.Sealed {
		return id, nil
	}
	if s.jwtFile != "" && s.loginDue() {
		if err := s.login(ctx); err != nil {
			return id, err
		}
	}
	id.LoggedIn = s.loginToken
	if err := s.lookupSelf(ctx, &id); err != nil {
		return id, err
	}
	caps, err := s.client.Sys().CapabilitiesSelfWithContext(ctx, s.path)
	if err != nil {
		return id, s.classify(ctx, "asking what the token may do on "+s.path+" (sys/capabilities-self)", err)
	}
	id.Capabilities = caps
	return id, nil
}

// lookupSelf fills id from the token's own lookup. A 403 there means Vault
// does not know the token (expired, revoked, another Vault's), not a
// policy: every token may look itself up unless its policies say not.
func (s *Source) lookupSelf(ctx context.Context, id *Identity) error {
	secret, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if statusOf(err) == http.StatusForbidden {
		return &Error{Kind: Denied, Path: s.path, Addr: s.addr, Status: http.StatusForbidden,
			Msg: fmt.Sprintf("vault: %s refuses this Vault token (auth/token/lookup-self: permission denied): it has expired or been revoked, "+
				"is another Vault's, or its policies deny looking itself up", s.addr)}
	}
	if err != nil {
		return s.classify(ctx, "looking up its own token (auth/token/lookup-self)", err)
	}
	if secret == nil || secret.Data == nil {
		return &Error{Kind: BadResponse, Path: s.path, Addr: s.addr, Msg: "vault: auth/token/lookup-self answered nothing"}
	}
	id.DisplayName, _ = secret.Data["display_name"].(string)
	id.EntityID, _ = secret.Data["entity_id"].(string)
	id.Policies, _ = secret.TokenPolicies()
	if ttl, err := secret.TokenTTL(); err == nil {
		id.TTLSeconds = int64(ttl.Seconds())
	}
	id.Renewable, _ = secret.TokenIsRenewable()
	return nil
}

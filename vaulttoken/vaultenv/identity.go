package vaultenv

import "slices"

// Identity is what Vault says of the identity a vaulttoken.Source reads
// with: the server's health, the Vault token's own lookup
// (auth/token/lookup-self) and what its policies allow on the token path
// (sys/capabilities-self).
// It never holds the Vault token, its accessor or a JWT. The doctor
// command shows it, to explain why a read would fail before it does; it is
// here, with the reference, because both programs use it: the reader that
// asks Vault (vaulttoken) and the helper that runs that reader as a child.
type Identity struct {
	// Addr is the Vault address, Path the token path.
	Addr string `json:"addr"`
	Path string `json:"path"`
	// Initialized, Sealed and Standby are sys/health's; Version the
	// server's. A server that is not initialized or is sealed answers
	// nothing else: the fields below are then empty.
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Standby     bool   `json:"standby"`
	Version     string `json:"version,omitempty"`
	// LoggedIn says the token came from a JWT login made for this lookup;
	// otherwise it is the environment's (VAULT_TOKEN, ~/.vault-token).
	LoggedIn bool `json:"logged_in"`
	// DisplayName, Policies and EntityID are the token's lookup.
	DisplayName string   `json:"display_name,omitempty"`
	Policies    []string `json:"policies,omitempty"`
	EntityID    string   `json:"entity_id,omitempty"`
	// TTLSeconds is what is left of the token; 0 for one that never
	// expires.
	TTLSeconds int64 `json:"ttl_seconds"`
	Renewable  bool  `json:"renewable"`
	// Capabilities are the token's on Path ("read", "deny", ...).
	Capabilities []string `json:"capabilities,omitempty"`
}

// CanRead reports whether the capabilities allow reading the token path.
func (id Identity) CanRead() bool {
	return !slices.Contains(id.Capabilities, "deny") &&
		(slices.Contains(id.Capabilities, "read") || slices.Contains(id.Capabilities, "root"))
}

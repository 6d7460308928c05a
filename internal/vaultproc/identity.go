package vaultproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken/vaultenv"
)

// IdentitySubcommand is the child's argument that asks it who the
// reference reads as (vaulttoken.Source.Identity) instead of reading a
// token: the doctor command's question. The reference and the environment
// reach the child as for a read; its one JSON line is an [IdentityReply].
const IdentitySubcommand = "vault-identity"

// IdentityReply is the child's answer to IdentitySubcommand: what Vault
// said of the identity, as far as it got (health alone when the lookup
// failed), and the failure, if any. It never holds a Vault token or a JWT.
type IdentityReply struct {
	Identity *vaultenv.Identity `json:"identity,omitempty"`
	Error    *ReplyError        `json:"error,omitempty"`
}

// Identity runs the child once, bounded by ctx, to ask Vault who the
// reference reads as. It returns what the child learnt even with an error
// (Vault's health, say, when the token's lookup was refused).
func (s *Source) Identity(ctx context.Context) (vaultenv.Identity, error) {
	var r IdentityReply
	if _, err := s.call(ctx, IdentitySubcommand, "asking who reads "+s.path, &r); err != nil {
		return vaultenv.Identity{}, err
	}
	var id vaultenv.Identity
	if r.Identity != nil {
		id = *r.Identity
	}
	if r.Error != nil {
		return id, replyError(r.Error, fmt.Sprintf("vault: asking who reads %s failed", s.path))
	}
	if r.Identity == nil {
		return id, &Error{Kind: Other, Msg: fmt.Sprintf("vault: asking who reads %s: the answer has no identity", s.path)}
	}
	return id, nil
}

// WriteIdentityReply writes the child's answer to IdentitySubcommand: id,
// and err as the child sorted it.
func WriteIdentityReply(w io.Writer, id vaultenv.Identity, kind Kind, err error) error {
	r := IdentityReply{Identity: &id}
	if err != nil {
		r.Error = &ReplyError{Message: err.Error(), Kind: kind}
	}
	data, merr := json.Marshal(r)
	if merr != nil {
		return merr
	}
	_, werr := w.Write(append(data, '\n'))
	return werr
}

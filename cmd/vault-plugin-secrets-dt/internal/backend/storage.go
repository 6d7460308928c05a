package backend

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// getEntry reads the JSON entry at key of account name; nil when there is
// none. An entry that does not decode is "account NAME: the stored WHAT is
// not valid", without the decoder's words, which could quote the entry,
// secret and all.
func getEntry[T any](ctx context.Context, s logical.Storage, key, name, what string) (*T, error) {
	e, err := s.Get(ctx, key)
	if err != nil || e == nil {
		return nil, err
	}
	v := new(T)
	if err := e.DecodeJSON(v); err != nil {
		return nil, fmt.Errorf("account %s: the stored %s is not valid", name, what)
	}
	return v, nil
}

// putEntry stores v as the JSON entry at key.
func putEntry(ctx context.Context, s logical.Storage, key string, v any) error {
	e, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return err
	}
	return s.Put(ctx, e)
}

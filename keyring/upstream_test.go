package keyring_test

import (
	"github.com/dt-credential-helper/dt-credential-helper/auth"
	"github.com/dt-credential-helper/dt-credential-helper/keyring"
	"github.com/dt-credential-helper/dt-credential-helper/vaulttoken"
)

// The sources this module caches are upstreams of the cache as they are:
// keyring defines the interface, they need not know it. (That the cache
// rides out exactly their transient failures is tested with their own
// errors in cache_test.go and by each source's tests of Temporary.)
var (
	_ keyring.Upstream = (*auth.Source)(nil)
	_ keyring.Upstream = (*auth.ReuseSource)(nil)
	_ keyring.Upstream = (*vaulttoken.Source)(nil)
)

// Package bearer holds the rules of an access token as this module hands
// one out, each in one place, for every package that mints, caches, reads
// or serves tokens: the DT exchange (auth), the token cache (keyring), the
// Vault reader (vaulttoken), the go-plugin glue (plugin) and the Vault
// engine. They are:
//
//   - what a token may be ([Check], [MaxSize]): RFC 6750 b64token
//     characters, so that it cannot break or inject into a header or the
//     git and docker protocols it is printed into;
//   - how long a token may be believed ([MaxLifetime], [MaxClockStep]);
//   - when a token is due for refresh ([Fresh], [DueAt], [Buffer],
//     [DefaultRefreshBuffer], [NoBuffer]): one rule, so that the command,
//     the cache, an in-memory reuse, a plugin host and the plugin's watch
//     all refresh at the same moment;
//   - when a refresh that failed may be tried again ([Backoff],
//     [BackoffSpan], [BackoffCap], [RetryAfter]), and how hard a refresh
//     covered by a still-valid token tries ([CoveredBudget],
//     [WithSingleAttempt]): one schedule, so that every process sharing a
//     cache, the plugin's watch and the Vault engine back off alike;
//   - where a bearer credential may be sent ([MayCarry]): https, or plain
//     http only to this machine.
//
// A refresh buffer is configured with one convention everywhere: zero
// means [DefaultRefreshBuffer], [NoBuffer] (any negative value) means
// none, serving a token until it expires; anything else is the buffer.
// Every config of this module that takes a buffer (keyring.CacheConfig,
// auth.NewReuseSource, the plugin's WithRefreshBuffer, the command's token
// sources) follows it.
//
// It imports only the standard library, so that any package can: the
// cache applies the exchange's rules without linking the exchange, and a
// plugin host links none of the helper's dependencies.
package bearer

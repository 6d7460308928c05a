// Package keyring is the token cache: it keeps access tokens between
// processes and refreshes them once for everyone. It caches tokens; it does
// not know how they are minted, so it imports neither the DT exchange
// (package auth) nor its JWT and HTTP libraries. Anything with a
// TokenContext method can be its [Upstream].
//
// The package has two halves, kept in separate files:
//
//   - The policy, [Cache] (cache.go, lock.go, entry.go): serve the cached
//     token while it has more than the refresh buffer left; otherwise
//     refresh it once, under an in-process mutex and a per-key lock file
//     ([Lock]) that crowds of processes share; and when the refresh fails
//     for a transient reason, serve the cached token while it is still
//     valid. What is cached is an [Entry], checked on every read, since a
//     store is only as trustworthy as whoever could write to it.
//   - The stores, [Store] (store*.go): opaque bytes by key in the Linux
//     kernel keyring ([KernelStore]), the OS keyring ([OSStore]: the Secret
//     Service, the macOS Keychain, the Windows Credential Manager), private
//     files ([FileStore]) or nowhere ([NoneStore]); [AutoStore] stacks them
//     with a fallback, and [OpenStore] picks them for a cache [Mode]. The
//     stores hold bytes (the kernel store only reads an entry's expiry, to
//     let the kernel drop the key then), which is why profile secrets can
//     live in them too.
//
// [OpenLocation] (location.go) opens the cache the dt-credential-helper
// command uses, deriving the store, the cache directory and the lock files
// from the environment as the command does, so that a Go program shares
// its tokens; [Forget] removes an account's tokens from every store. The
// token's own rules (its characters, the day cap, when it is due) are
// package bearer's, which the cache applies to what it reads and writes.
package keyring

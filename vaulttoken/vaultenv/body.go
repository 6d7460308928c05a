package vaultenv

import (
	"io"
	"net/http"
)

// MaxResponseBody bounds what is read of a Vault response: the engine's
// answers and a login's are a few KiB.
const MaxResponseBody = 1 << 20

// ErrResponseTooLarge is what reading a response body past its bound
// returns. (Not errors.New: the helper links this package, and this way
// its every start allocates nothing for it.)
var ErrResponseTooLarge error = responseTooLarge{}

type responseTooLarge struct{}

func (responseTooLarge) Error() string { return "the response is larger than 1 MiB" }

// BoundBodies wraps rt so that every response body it returns fails with
// [ErrResponseTooLarge] once more than [MaxResponseBody] bytes would be
// read: Vault's client reads bodies itself, to their end, and a hostile
// server's endless one would otherwise take all the memory there is.
func BoundBodies(rt http.RoundTripper) http.RoundTripper {
	return boundedTransport{rt}
}

type boundedTransport struct{ rt http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if resp != nil && resp.Body != nil {
		resp.Body = &boundedBody{rc: resp.Body, left: MaxResponseBody}
	}
	return resp, err
}

// boundedBody reads at most left more bytes of rc, and fails past them.
type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrResponseTooLarge
	}
	// One byte past the bound tells a body that ends there from a longer
	// one.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = -1
		return n, ErrResponseTooLarge
	}
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }

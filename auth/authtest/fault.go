package authtest

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// Fault replaces the token endpoint's answer to one request (see Inject) or
// to every request (see InjectAlways). A faulted request is still counted by
// Requests.
//
// The steps, in order: wait Delay, then until Hold is closed (each given up
// when the request's context is cancelled or the server closes); if Drop, close the connection without a
// response; if Status is 0 and Body is "" and Truncate is false, handle the
// request normally (so Fault{Delay: d} is just a slow endpoint); otherwise
// answer with Status (200 when 0), ContentType and Body.
type Fault struct {
	// Status is the HTTP status; 0 means 200 when a Body is given.
	Status int
	// Body is sent verbatim: a DT-style error, HTML, malformed JSON, or a
	// 200 token response with odd fields (no access_token, expires_in 0).
	Body string
	// ContentType defaults to application/json.
	ContentType string
	// RetryAfter, if set, is sent as the Retry-After header as given
	// (seconds or an HTTP-date).
	RetryAfter string
	// Delay is waited, in real time, before anything else.
	Delay time.Duration
	// Hold, if not nil, holds the request after Delay until it is closed:
	// a test acts while a request is in flight, then lets it go on.
	Hold <-chan struct{}
	// Drop closes the connection without writing a response.
	Drop bool
	// Truncate announces the full Body in Content-Length but sends only
	// its first half before closing the connection.
	Truncate bool
	// Late, for a key API request (InjectKeys), lets the request take
	// effect first (a key created or deleted) and applies the fault to its
	// answer then: DT acted, and the answer was slow, lost or replaced.
	Late bool
}

// ErrorFault returns a Fault answering with status and an RFC 6749 error body
// as DT sends it, e.g. ErrorFault(400, "invalid_grant", "bad signature").
func ErrorFault(status int, code, description string) Fault {
	return Fault{
		Status: status,
		Body:   fmt.Sprintf(`{"error":%q,"error_description":%q}`, code, description),
	}
}

// Inject queues faults for the next token requests, one per request, in
// order. Queued faults take precedence over one set by InjectAlways.
func (h *Handler) Inject(faults ...Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, faults...)
}

// InjectAlways applies f to every token request that finds the queue empty,
// until ClearFaults.
func (h *Handler) InjectAlways(f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.always = &f
}

// ClearFaults removes queued faults, the key API's too, and the persistent
// one.
func (h *Handler) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = nil
	h.always = nil
	clear(h.keys.faults)
}

func (h *Handler) nextFaultLocked() (Fault, bool) {
	if len(h.faults) > 0 {
		f := h.faults[0]
		h.faults = h.faults[1:]
		return f, true
	}
	if h.always != nil {
		return *h.always, true
	}
	return Fault{}, false
}

// applyFault carries out f and reports whether it answered the request.
func (h *Handler) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		case <-h.closed:
			drop(w)
			return true
		}
	}
	if f.Hold != nil {
		select {
		case <-f.Hold:
		case <-r.Context().Done():
			return true
		case <-h.closed:
			drop(w)
			return true
		}
	}
	if f.Drop {
		drop(w)
		return true
	}
	if f.Status == 0 && f.Body == "" && !f.Truncate {
		return false
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	contentType := f.ContentType
	if contentType == "" {
		contentType = "application/json"
	}
	if f.Truncate {
		truncate(w, status, contentType, f.RetryAfter, f.Body)
		return true
	}
	w.Header().Set("Content-Type", contentType)
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, f.Body)
	return true
}

// drop closes the connection without a response. Where the connection cannot
// be hijacked (HTTP/2), aborting the handler resets the stream instead.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// truncate writes a raw HTTP/1.1 response whose body stops half way, so the
// client sees an unexpected EOF while reading it.
func truncate(w http.ResponseWriter, status int, contentType, retryAfter, body string) {
	if body == "" {
		body = `{"access_token":"truncated","token_type":"bearer","expires_in":3600}`
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	bw := buf.Writer
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n",
		status, http.StatusText(status), contentType, len(body))
	if retryAfter != "" {
		fmt.Fprintf(bw, "Retry-After: %s\r\n", retryAfter)
	}
	fmt.Fprintf(bw, "\r\n%s", body[:len(body)/2])
	_ = bw.Flush()
}

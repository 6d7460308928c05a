package authtest

import (
	"cmp"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/serviceaccount"
)

// The key API of a service account, as DT's REST API v2 serves it (the
// shapes as DT's own Python client reads them):
//
//	POST   /v2/projects/{project}/serviceaccounts/{sa}/keys        {"key": {"name","id","createTime"}, "secret"}
//	GET    /v2/projects/{project}/serviceaccounts/{sa}/keys        {"keys": [...], "nextPageToken"} (pageSize, pageToken)
//	GET    /v2/projects/{project}/serviceaccounts/{sa}/keys/{key}  {"name","id","createTime"}
//	DELETE /v2/projects/{project}/serviceaccounts/{sa}/keys/{key}  {}
//
// Each takes a bearer token the Handler issued. Its holder may manage the
// keys of the service accounts of its own project (as a Project
// Administrator may), unless SetKeyRight took the right away. A key
// created is a new Account, exchangeable at once; a key deleted can no
// longer be exchanged, while the tokens it obtained stay valid until they
// expire, as DT's do. Errors are DT's shape: {"error", "code", "help"}.

// The key API's operations, as InjectKeys and KeyRequests name them.
const (
	OpCreateKey = "create key"
	OpListKeys  = "list keys"
	OpGetKey    = "get key"
	OpDeleteKey = "delete key"
)

// DefaultKeyPageSize is how many keys a list answers with when the request
// names no pageSize.
const DefaultKeyPageSize = 100

// maxKeyPageSize is the largest pageSize the list honours.
const maxKeyPageSize = 1000

// keyAPI is the Handler's key API state, under the Handler's lock.
type keyAPI struct {
	ids     map[string]serviceaccount.ID // by email: the service account's ids
	denied  map[string]bool              // emails whose holders lack the right
	maxPage int
	faults  map[string][]Fault
	counts  map[string]int
}

func newKeyAPI() keyAPI {
	return keyAPI{
		ids:     map[string]serviceaccount.ID{},
		denied:  map[string]bool{},
		maxPage: maxKeyPageSize,
		faults:  map[string][]Fault{},
		counts:  map[string]int{},
	}
}

// addAccountLocked adds a, with its create time and its service account's
// ids, under h.mu.
func (h *Handler) addAccountLocked(a Account, now time.Time) {
	if a.CreateTime.IsZero() {
		a.CreateTime = now
	}
	h.accounts[a.KeyID] = a
	if id, ok := accountID(a); ok {
		h.keys.ids[a.Email] = id
	}
}

// accountID is the service account a is a key of, in the key API.
func accountID(a Account) (serviceaccount.ID, bool) {
	id, err := serviceaccount.Resolve(a.Project, a.ServiceAccount, a.Email)
	return id, err == nil
}

// SetKeyRight gives the holders of email's tokens the right to create and
// delete keys (the default) or takes it away (has false): the key API then
// answers them 403, as DT answers a service account whose role lacks the
// permission. Listing keys stays allowed, as every project role may read
// them.
func (h *Handler) SetKeyRight(email string, has bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if has {
		delete(h.keys.denied, email)
	} else {
		h.keys.denied[email] = true
	}
}

// SetKeyPageSize sets the most keys one list answer holds, whatever the
// request's pageSize, so that tests see several pages.
func (h *Handler) SetKeyPageSize(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys.maxPage = min(max(n, 1), maxKeyPageSize)
}

// InjectKeys queues faults for the next key API requests of operation op
// (OpCreateKey, ...), one per request, in order. A Fault with Late set
// lets the request take effect first.
func (h *Handler) InjectKeys(op string, faults ...Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys.faults[op] = append(h.keys.faults[op], faults...)
}

// KeyRequests returns how many key API requests of operation op reached
// the Handler, faulted ones included; op "" counts them all.
func (h *Handler) KeyRequests(op string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if op != "" {
		return h.keys.counts[op]
	}
	n := 0
	for _, c := range h.keys.counts {
		n += c
	}
	return n
}

// KeysOf returns the keys of the service account whose email is email,
// oldest first, secrets included (the Handler is a test's).
func (h *Handler) KeysOf(email string) []Account {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Account
	for _, a := range h.accounts {
		if a.Email == email {
			out = append(out, a)
		}
	}
	sortKeys(out)
	return out
}

func sortKeys(keys []Account) {
	slices.SortFunc(keys, func(a, b Account) int {
		return cmp.Or(a.CreateTime.Compare(b.CreateTime), strings.Compare(a.KeyID, b.KeyID))
	})
}

// keyRequest is a request to the key API, parsed from its path.
type keyRequest struct {
	op    string
	id    serviceaccount.ID
	keyID string // "" for the collection
}

// parseKeyPath parses /v2/projects/P/serviceaccounts/S/keys[/K].
func parseKeyPath(p string) (keyRequest, bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/v2/"), "/")
	if !strings.HasPrefix(p, "/v2/") || len(parts) < 5 || len(parts) > 6 ||
		parts[0] != "projects" || parts[2] != "serviceaccounts" || parts[4] != "keys" || slices.Contains(parts, "") {
		return keyRequest{}, false
	}
	kr := keyRequest{id: serviceaccount.ID{Project: parts[1], ServiceAccount: parts[3]}}
	if len(parts) == 6 {
		kr.keyID = parts[5]
	}
	return kr, true
}

func isKeyPath(p string) bool {
	_, ok := parseKeyPath(p)
	return ok
}

// keyOp names the operation of method on a key path.
func keyOp(method string, item bool) string {
	switch {
	case method == http.MethodPost && !item:
		return OpCreateKey
	case method == http.MethodGet && !item:
		return OpListKeys
	case method == http.MethodGet:
		return OpGetKey
	case method == http.MethodDelete && item:
		return OpDeleteKey
	}
	return ""
}

// apiError is an answer in DT's error shape.
func apiError(status int, format string, args ...any) (int, any) {
	return status, map[string]any{"error": fmt.Sprintf(format, args...), "code": status, "help": "https://developer.disruptive-technologies.com/docs"}
}

// serveKeys serves the key API: the request is counted, a queued fault
// applied before it takes effect, or, Late, after.
func (h *Handler) serveKeys(w http.ResponseWriter, r *http.Request) {
	kr, _ := parseKeyPath(r.URL.Path)
	kr.op = keyOp(r.Method, kr.keyID != "")
	h.mu.Lock()
	h.keys.counts[kr.op]++
	var f Fault
	queue := h.keys.faults[kr.op]
	faulted := kr.op != "" && len(queue) > 0
	if faulted {
		f, h.keys.faults[kr.op] = queue[0], queue[1:]
	}
	h.mu.Unlock()
	if faulted && !f.Late && h.applyFault(w, r, f) {
		return
	}
	status, body := h.keyAnswer(w, r, kr)
	if faulted && f.Late && h.applyFault(w, r, f) {
		return
	}
	writeJSON(w, status, body)
}

// keyAnswer carries out kr and returns the answer.
func (h *Handler) keyAnswer(w http.ResponseWriter, r *http.Request, kr keyRequest) (int, any) {
	if kr.op == "" {
		w.Header().Set("Allow", "GET, POST, DELETE")
		return apiError(http.StatusMethodNotAllowed, "method %s is not allowed here", r.Method)
	}
	token, err := bearerOf(r)
	if err == nil {
		err = h.check(token)
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return apiError(http.StatusUnauthorized, "%v", err)
	}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	email := h.tokens[token].Email
	if status, body, denied := h.forbiddenLocked(email, kr); denied {
		return status, body
	}
	saEmail, ok := h.emailOfLocked(kr.id)
	if !ok {
		return apiError(http.StatusNotFound, "service account %s not found", kr.id)
	}
	switch kr.op {
	case OpCreateKey:
		return h.createKeyLocked(kr.id, saEmail, now)
	case OpListKeys:
		return h.listKeysLocked(r, kr.id, saEmail)
	}
	a, ok := h.accounts[kr.keyID]
	if !ok || a.Email != saEmail {
		return apiError(http.StatusNotFound, "key %s not found", clip(kr.keyID))
	}
	if kr.op == OpDeleteKey {
		delete(h.accounts, kr.keyID)
		return http.StatusOK, map[string]any{}
	}
	return http.StatusOK, keyJSON(kr.id, a)
}

// forbiddenLocked answers 403 when the holder of a token of email may not
// do kr: it is not of kr's project, or lacks the right to change keys.
func (h *Handler) forbiddenLocked(email string, kr keyRequest) (int, any, bool) {
	perm := map[string]string{OpCreateKey: "serviceaccount.key.create", OpDeleteKey: "serviceaccount.key.delete"}[kr.op]
	caller, known := h.keys.ids[email]
	switch {
	case !known || caller.Project != kr.id.Project:
		perm = cmp.Or(perm, "serviceaccount.key.read")
	case perm == "" || !h.keys.denied[email]:
		return 0, nil, false
	}
	status, body := apiError(http.StatusForbidden, "missing permission %s in project %s", perm, clip(kr.id.Project))
	return status, body, true
}

// emailOfLocked is the email of the service account id names.
func (h *Handler) emailOfLocked(id serviceaccount.ID) (string, bool) {
	for email, known := range h.keys.ids {
		if known == id {
			return email, true
		}
	}
	return "", false
}

func (h *Handler) createKeyLocked(id serviceaccount.ID, email string, now time.Time) (int, any) {
	keyID, secret, err := newKey()
	if err != nil {
		return apiError(http.StatusInternalServerError, "cannot generate a key")
	}
	a := Account{KeyID: keyID, Email: email, Secret: secret, Project: id.Project, ServiceAccount: id.ServiceAccount}
	h.addAccountLocked(a, now)
	return http.StatusOK, map[string]any{"key": keyJSON(id, h.accounts[keyID]), "secret": secret}
}

func (h *Handler) listKeysLocked(r *http.Request, id serviceaccount.ID, email string) (int, any) {
	q := r.URL.Query()
	size := DefaultKeyPageSize
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return apiError(http.StatusBadRequest, "pageSize %s is not a number of keys", clip(v))
		}
		if n > 0 {
			size = n
		}
	}
	size = min(size, h.keys.maxPage)
	start := 0
	if v := q.Get("pageToken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 {
			return apiError(http.StatusBadRequest, "pageToken %s is not one this server gave", clip(v))
		}
		start = n
	}
	var keys []Account
	for _, a := range h.accounts {
		if a.Email == email {
			keys = append(keys, a)
		}
	}
	sortKeys(keys)
	page := []any{}
	for i := start; i < len(keys) && i < start+size; i++ {
		page = append(page, keyJSON(id, keys[i]))
	}
	next := ""
	if start+size < len(keys) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(start + size)))
	}
	return http.StatusOK, map[string]any{"keys": page, "nextPageToken": next}
}

// keyJSON is key a of service account id as the API shows it.
func keyJSON(id serviceaccount.ID, a Account) map[string]string {
	return map[string]string{
		"name":       id.String() + "/keys/" + a.KeyID,
		"id":         a.KeyID,
		"createTime": a.CreateTime.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
	}
}

// newKey makes a key id shaped as DT's (20 lower-case base32hex
// characters) and a secret shaped as DT's (32 hex digits).
func newKey() (id, secret string, err error) {
	b := make([]byte, 12+16)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	id = strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:12]))
	return id, hex.EncodeToString(b[12:]), nil
}

package platform

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/held"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/throttle"
)

// Store is what the API reads and writes directly (only the methods it
// calls); user changes go through the Directory.
type Store interface {
	AppendAudit(ctx context.Context, e *domain.AuditEvent) error
	CreateTicket(ctx context.Context, t *domain.LoginTicket, events ...*domain.AuditEvent) error
	FindAPIKey(ctx context.Context, orgID string, hash []byte, now time.Time) (*domain.APIKey, error)
	GetOrg(ctx context.Context, id string) (*domain.Organization, error)
	GetUserByName(ctx context.Context, orgID, userName string) (*domain.User, error)
}

// API serves the trusted-platform endpoints.
type API struct {
	Store     Store
	Directory *directory.Directory
	Limiter   *throttle.Limiter
	Log       *slog.Logger
	PublicURL string
	// Tickets, when set, holds each ticket minted here for the sign-in
	// pages of this node (op.Provider.Tickets), which then need not read
	// it back.
	Tickets *held.Memory[*domain.LoginTicket]
	// Now and Rand may be nil (time.Now, crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

// FailureLimit bounds failed authentications per client address. The
// counts live in the database, so every node shares them. A platform with
// the right key is never slowed down by it: only failures count.
var FailureLimit = throttle.Limit{N: 30, Window: 10 * time.Minute}

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 64 << 10

// Register mounts the API on mux.
func (a *API) Register(mux *http.ServeMux) {
	const base = "/api/organization/{org}/user/{userName}"
	mux.HandleFunc("POST "+base+"/update", a.update)
	mux.HandleFunc("POST "+base+"/generate-token", a.generateToken)
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *API) rand() io.Reader {
	if a.Rand != nil {
		return a.Rand
	}
	return rand.Reader
}

// apiError is every error body: error code, a sentence for people, and the
// input field at fault when there is one.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func invalid(field, message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: message, Field: field}
}

// unauthorized is the one answer to every authentication failure, byte for
// byte the same whatever went wrong and whether or not the organization exists.
var unauthorized = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
	Message: "The x-org-id and x-api-key headers must name this organization and one of its current API keys."}

// writeJSON writes v with an explicit Content-Length, so the response is
// complete on the wire as soon as it is flushed.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only our own plain structs are written
		panic(err)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.Status, e) }

// internalError logs err and answers 500 (503 when the database is
// unavailable; the server adds Retry-After) with only a reference.
func (a *API) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	ref := request.ID(r.Context())
	a.Log.ErrorContext(r.Context(), what, "err", err)
	e := &apiError{Status: http.StatusInternalServerError, Code: "server_error", Message: "Latchkey could not complete this request (reference " + ref + ")."}
	if request.DatabaseDown(r.Context(), err) {
		e = &apiError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Message: "Latchkey cannot reach its database right now; try again in a few seconds (reference " + ref + ")."}
	}
	writeError(w, e)
}

// caller is an authenticated platform: the organization and the key it used.
type caller struct {
	org   *domain.Organization
	keyID string
	actor directory.Actor
}

// authenticate checks x-org-id and x-api-key against the organization in
// the path. Every request does the same work up to the answer — one hash,
// one indexed lookup, and for failures one rate-limit count — so neither
// the body nor the timing tells whether the organization exists. The
// failure is audited only after the response is on the wire.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, action string) (*caller, bool) {
	ctx := r.Context()
	orgID := r.PathValue("org")
	presented := r.Header.Get("x-api-key")
	hash := secret.Hash(presented)
	key, err := a.Store.FindAPIKey(ctx, orgID, hash, a.now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.internalError(w, r, "find API key", err)
		return nil, false
	}
	reason := ""
	switch {
	case presented == "":
		reason = "missing_key"
	case key == nil || !secret.Equal(key.Hash, hash):
		reason = "wrong_key"
	case r.Header.Get("x-org-id") != orgID:
		reason = "org_mismatch"
	}
	ip := request.ClientIP(r)
	if reason == "" {
		org, err := a.Store.GetOrg(ctx, orgID)
		if err != nil { // the key was just found, so the organization exists
			a.internalError(w, r, "load organization", err)
			return nil, false
		}
		return &caller{org: org, keyID: key.ID, actor: directory.Actor{Name: "api-key:" + key.ID, ClientIP: ip}}, true
	}
	ok, retry, err := a.Limiter.Hit(ctx, "platform:auth:"+ip, FailureLimit)
	if err != nil {
		a.internalError(w, r, "count failed authentication", err)
		return nil, false
	}
	result := "unauthorized"
	if ok {
		writeError(w, unauthorized)
	} else {
		result = "rate_limited"
		secs := int(retry.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "Too many failed attempts from this address. Try again in " + strconv.Itoa(secs) + " seconds."})
	}
	_ = http.NewResponseController(w).Flush()
	if org, err := a.Store.GetOrg(ctx, orgID); err == nil {
		a.audit(ctx, org.ID, directory.Actor{Name: "platform", ClientIP: ip}, action, auditTarget(r), result, map[string]string{"reason": reason})
	}
	return nil, false
}

// auditTarget is the path's userName when it is one (a rejected request's
// path is not trusted into the log).
func auditTarget(r *http.Request) string {
	if v := r.PathValue("userName"); domain.ValidateUserName(v) == nil {
		return v
	}
	return ""
}

// event is the audit event of one call.
func (a *API) event(orgID string, who directory.Actor, action, target, result string, detail map[string]string) *domain.AuditEvent {
	return &domain.AuditEvent{
		OrgID: orgID, At: a.now(), Actor: who.Name, Action: action, Target: target, Result: result, ClientIP: who.ClientIP, Detail: detail,
	}
}

// audit records one call; a failure to record is logged, not fatal.
func (a *API) audit(ctx context.Context, orgID string, who directory.Actor, action, target, result string, detail map[string]string) {
	err := a.Store.AppendAudit(ctx, a.event(orgID, who, action, target, result, detail))
	if err != nil {
		a.Log.ErrorContext(ctx, "append audit event", "action", action, "err", err)
	}
}

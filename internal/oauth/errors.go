// Package oauth holds the protocol rules shared by the OpenID Provider's
// endpoints: OAuth 2.0 / OpenID Connect errors as values, strict parsing of
// form parameters (size limits, duplicates, UTF-8), client authentication
// credentials, PKCE and scopes.
//
// It does no storage and renders no pages: it decides what a request says
// and whether it is well-formed.
package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is a protocol error (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6).
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status for JSON responses.
	Status int `json:"-"`
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

func newErr(code string, status int) func(format string, args ...any) *Error {
	return func(format string, args ...any) *Error {
		return &Error{Code: code, Description: fmt.Sprintf(format, args...), Status: status}
	}
}

// Constructors for the errors Latchkey returns.
var (
	InvalidRequest          = newErr("invalid_request", http.StatusBadRequest)
	InvalidClient           = newErr("invalid_client", http.StatusUnauthorized)
	InvalidGrant            = newErr("invalid_grant", http.StatusBadRequest)
	UnauthorizedClient      = newErr("unauthorized_client", http.StatusBadRequest)
	UnsupportedGrantType    = newErr("unsupported_grant_type", http.StatusBadRequest)
	UnsupportedResponseType = newErr("unsupported_response_type", http.StatusBadRequest)
	UnsupportedTokenType    = newErr("unsupported_token_type", http.StatusBadRequest)
	InvalidScope            = newErr("invalid_scope", http.StatusBadRequest)
	AccessDenied            = newErr("access_denied", http.StatusForbidden)
	LoginRequired           = newErr("login_required", http.StatusBadRequest)
	RequestNotSupported     = newErr("request_not_supported", http.StatusBadRequest)
	RequestURINotSupported  = newErr("request_uri_not_supported", http.StatusBadRequest)
	InvalidToken            = newErr("invalid_token", http.StatusUnauthorized)
	InsufficientScope       = newErr("insufficient_scope", http.StatusForbidden)
	ServerError             = newErr("server_error", http.StatusInternalServerError)
	TemporarilyUnavailable  = newErr("temporarily_unavailable", http.StatusServiceUnavailable)
)

// WriteJSON writes v as a JSON response that must not be cached (RFC 6749 §5.1).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteJSONBody is WriteJSON for a body the caller has already encoded.
func WriteJSONBody(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// The header values of every JSON answer, shared: a header map's values
// are replaced by Set and copied by Add, never written in place.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	noCache         = []string{"no-cache"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["Pragma"] = noCache
}

// WriteError writes e as the JSON error body of a token-style endpoint. For
// invalid_client after HTTP Basic, the challenge header is added (§5.2).
func WriteError(w http.ResponseWriter, e *Error, basicAuthUsed bool) {
	if e.Code == "invalid_client" && basicAuthUsed {
		w.Header().Set("WWW-Authenticate", `Basic realm="latchkey", charset="UTF-8"`)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	WriteJSON(w, status, e)
}

// WriteBearerError answers a protected-resource request (RFC 6750 §3).
func WriteBearerError(w http.ResponseWriter, e *Error) {
	challenge := `Bearer realm="latchkey"`
	if e.Code == "" {
		// No credentials were sent: no error information at all (§3.1).
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(e.Status)
		return
	}
	challenge += fmt.Sprintf(`, error=%q, error_description=%q`, e.Code, e.Description)
	w.Header().Set("WWW-Authenticate", challenge)
	WriteJSON(w, e.Status, e)
}

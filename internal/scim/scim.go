package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
)

// Limits.
const (
	// MaxBody bounds a request body (1 MiB).
	MaxBody = 1 << 20
	// MaxResults is the largest page a list answers (filter.maxResults).
	MaxResults = 200
	// DefaultCount is the page size when a list names none.
	DefaultCount = 100
	// MaxOperations bounds the operations of one PATCH request.
	MaxOperations = 1000
)

// ContentType is SCIM's media type (RFC 7644 §3.1).
const ContentType = "application/scim+json"

// Service serves every organization's SCIM endpoint.
type Service struct {
	Directory *directory.Directory
	PublicURL string
	Log       *slog.Logger
	// RequestID returns the request's reference id for 500 answers and logs.
	RequestID func(context.Context) string
}

const base = "/o/{org}/scim/v2"

// Register mounts the endpoints on mux.
func (s *Service) Register(mux *http.ServeMux) {
	s.handle(mux, "GET "+base+"/ServiceProviderConfig", "scim.discovery", s.serviceProviderConfig)
	s.handle(mux, "GET "+base+"/ResourceTypes", "scim.discovery", s.resourceTypes)
	s.handle(mux, "GET "+base+"/ResourceTypes/{id}", "scim.discovery", s.resourceType)
	s.handle(mux, "GET "+base+"/Schemas", "scim.discovery", s.schemas)
	s.handle(mux, "GET "+base+"/Schemas/{id}", "scim.discovery", s.schema)

	s.handle(mux, "GET "+base+"/Users", "scim.user.list", s.listUsers)
	s.handle(mux, "POST "+base+"/Users", "scim.user.create", s.createUser)
	s.handle(mux, "GET "+base+"/Users/{id}", "scim.user.read", s.getUser)
	s.handle(mux, "PUT "+base+"/Users/{id}", "scim.user.replace", s.replaceUser)
	s.handle(mux, "PATCH "+base+"/Users/{id}", "scim.user.patch", s.patchUser)
	s.handle(mux, "DELETE "+base+"/Users/{id}", "scim.user.delete", s.deleteUser)

	s.handle(mux, "GET "+base+"/Groups", "scim.group.list", s.listGroups)
	s.handle(mux, "POST "+base+"/Groups", "scim.group.create", s.createGroup)
	s.handle(mux, "GET "+base+"/Groups/{id}", "scim.group.read", s.getGroup)
	s.handle(mux, "PUT "+base+"/Groups/{id}", "scim.group.replace", s.replaceGroup)
	s.handle(mux, "PATCH "+base+"/Groups/{id}", "scim.group.patch", s.patchGroup)
	s.handle(mux, "DELETE "+base+"/Groups/{id}", "scim.group.delete", s.deleteGroup)

	s.handle(mux, base+"/", "scim.unknown", func(c *call) (int, any, error) { return 0, nil, s.unknown(mux, c) })
}

// call is one authenticated request.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	org   string
	token *domain.SCIMToken
	actor directory.Actor
	// target names what the request acted on, for the audit log.
	target string
	// changed is set when package directory recorded the change itself.
	changed bool
}

type endpoint func(c *call) (status int, body any, err error)

func (s *Service) handle(mux *http.ServeMux, pattern, action string, h endpoint) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		c := &call{w: w, r: r, org: r.PathValue("org")}
		if !s.authenticate(c, action) {
			return
		}
		status, body, err := h(c)
		if err != nil {
			s.fail(c, action, err)
			return
		}
		if !c.changed {
			s.record(r.Context(), c.actor, c.org, action, c.target, "ok", map[string]string{"via": "scim", "method": r.Method})
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeSCIM(w, status, body)
	})
}

// authenticate checks the bearer token against the path's organization.
// Unknown organizations and unknown tokens get the same answer.
func (s *Service) authenticate(c *call, action string) bool {
	plain, ok := request.Bearer(c.r)
	if !ok {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey-scim"`)
		writeError(c.w, &Error{Status: http.StatusUnauthorized, Detail: "a SCIM token is required: Authorization: Bearer <token> (create one with `latchkey scim token create`)"})
		return false
	}
	var tok *domain.SCIMToken
	var err error
	if domain.ValidateOrgID(c.org) == nil {
		tok, err = s.Directory.AuthenticateSCIMToken(c.r.Context(), c.org, plain)
	} else {
		err = directory.ErrSCIMTokenUnknown
	}
	if err == nil {
		c.token = tok
		c.actor = directory.Actor{Name: "scim-token:" + tok.ID, ClientIP: request.ClientIP(c.r)}
		return true
	}
	var detail, result string
	switch {
	case errors.Is(err, directory.ErrSCIMTokenUnknown):
		detail, result = "the SCIM token is not valid for this organization", "token_unknown"
	case errors.Is(err, directory.ErrSCIMTokenExpired):
		detail, result = "the SCIM token has expired", "token_expired"
	case errors.Is(err, directory.ErrSCIMTokenRevoked):
		detail, result = "the SCIM token was revoked", "token_revoked"
	default:
		s.internalError(c, err)
		return false
	}
	s.log().InfoContext(c.r.Context(), "scim: token refused", "org", c.org, "action", action, "reason", result, "client_ip", request.ClientIP(c.r))
	if tok != nil {
		// A real token of this organization stopped working: its admins
		// should see who still uses it.
		s.record(c.r.Context(), directory.Actor{Name: "scim-token:" + tok.ID, ClientIP: request.ClientIP(c.r)}, c.org, action, "", result,
			map[string]string{"via": "scim", "method": c.r.Method})
	}
	c.w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey-scim", error="invalid_token"`)
	writeError(c.w, &Error{Status: http.StatusUnauthorized, Detail: detail})
	return false
}

// unknown answers paths and methods no endpoint serves.
func (s *Service) unknown(mux *http.ServeMux, c *call) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := c.r.Clone(c.r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != base+"/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		c.w.Header().Set("Allow", strings.Join(allow, ", "))
		return &Error{Status: http.StatusMethodNotAllowed, Detail: fmt.Sprintf("%s is not allowed here; use %s", c.r.Method, strings.Join(allow, ", "))}
	}
	if strings.HasSuffix(c.r.URL.Path, "/Bulk") {
		return &Error{Status: http.StatusNotImplemented, Detail: "bulk operations are not supported (see ServiceProviderConfig)"}
	}
	return &Error{Status: http.StatusNotFound, Detail: "no such SCIM endpoint: " + c.r.Method + " " + c.r.URL.Path}
}

// Error is a SCIM error answer (RFC 7644 §3.12).
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.ScimType, e.Detail) }

type errorJSON struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail"`
}

// Error constructors for the scimTypes of RFC 7644 §3.12.
func invalidValue(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "invalidValue", Detail: fmt.Sprintf(format, a...)}
}

func invalidSyntax(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "invalidSyntax", Detail: fmt.Sprintf(format, a...)}
}

func invalidPath(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "invalidPath", Detail: fmt.Sprintf(format, a...)}
}

func invalidFilter(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "invalidFilter", Detail: fmt.Sprintf(format, a...)}
}

func noTarget(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "noTarget", Detail: fmt.Sprintf(format, a...)}
}

func mutability(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "mutability", Detail: fmt.Sprintf(format, a...)}
}

func tooMany(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: "tooMany", Detail: fmt.Sprintf(format, a...)}
}

func notFound(kind, id string) *Error {
	return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %q not found", kind, id)}
}

// fail answers err and audits the refusal.
func (s *Service) fail(c *call, action string, err error) {
	var e *Error
	fe, isField := domain.AsFieldError(err)
	switch {
	case errors.As(err, &e):
	case isField && errors.Is(err, store.ErrConflict):
		e = &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fe.Error()}
	case isField:
		e = invalidValue("%s", fe.Error())
	case errors.Is(err, store.ErrInvalidFilter):
		e = invalidFilter("%s", err.Error())
	default:
		s.record(c.r.Context(), c.actor, c.org, action, c.target, "error", map[string]string{"via": "scim", "method": c.r.Method})
		s.internalError(c, err)
		return
	}
	result := strconv.Itoa(e.Status)
	if e.ScimType != "" {
		result += " " + e.ScimType
	}
	s.record(c.r.Context(), c.actor, c.org, action, c.target, result, map[string]string{"via": "scim", "method": c.r.Method})
	writeError(c.w, e)
}

func (s *Service) internalError(c *call, err error) {
	id := s.requestID(c.r)
	s.log().ErrorContext(c.r.Context(), "scim: internal error", "org", c.org, "method", c.r.Method, "path", c.r.URL.Path, "err", err)
	writeError(c.w, &Error{Status: http.StatusInternalServerError, Detail: "something went wrong on the server (reference " + id + ")"})
}

func writeError(w http.ResponseWriter, e *Error) {
	writeSCIM(w, e.Status, errorJSON{Schemas: []string{URNError}, Status: strconv.Itoa(e.Status), ScimType: e.ScimType, Detail: e.Detail})
}

func writeSCIM(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"schemas":["` + URNError + `"],"status":"500","detail":"could not encode the response"}`)
	}
	w.Header().Set("Content-Type", ContentType+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// readBody reads a JSON object body of at most MaxBody bytes, sent as
// application/scim+json (or application/json, which clients also use).
func readBody(c *call) (map[string]any, error) {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != ContentType && mt != "application/json") {
			return nil, &Error{Status: http.StatusUnsupportedMediaType, ScimType: "invalidSyntax",
				Detail: "send the body as " + ContentType}
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is larger than %d bytes", MaxBody)}
		}
		return nil, invalidSyntax("could not read the body")
	}
	if !utf8.Valid(raw) {
		return nil, invalidSyntax("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidSyntax("the body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalidSyntax("the body must hold exactly one JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidSyntax("the body must be a JSON object")
	}
	return obj, nil
}

// record audits a use of a SCIM token that made no change (changes are
// audited by package directory, in their transaction).
func (s *Service) record(ctx context.Context, a directory.Actor, org, action, target, result string, detail map[string]string) {
	if err := s.Directory.Record(ctx, org, a, action, target, result, detail); err != nil {
		s.log().Error("scim: write audit event", "org", org, "action", action, "result", result, "err", err)
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Service) requestID(r *http.Request) string {
	if s.RequestID == nil {
		return ""
	}
	return s.RequestID(r.Context())
}

// baseURL is the organization's SCIM base URL.
func (s *Service) baseURL(org string) string { return s.PublicURL + "/o/" + org + "/scim/v2" }

// Package directory is Latchkey's management service: one method per use
// case for organizations, users, applications, the upstream connection,
// API keys, admin tokens, user sessions and the audit log. It validates
// everything before anything is written, applies partial changes through
// the store's atomic updaters, writes each change's audit event in the
// change's own transaction, and returns domain values.
//
// The CLI, the admin JSON API, the admin portal, SCIM and the
// trusted-platform API are adapters over it: they translate their own
// input and output and call one method. A rule, a default or an audit
// event written in an adapter is in the wrong place.
//
// It never stores a secret in clear: client secrets and API keys are hashed
// (and the API key also sealed for reveal); passwords are argon2id.
package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
)

// Store is what the directory keeps its data in.
type Store interface {
	store.Orgs
	store.APIKeys
	store.Users
	store.Apps
	store.Upstreams
	store.AdminTokens
	store.Audit
	store.SetupTokens
	// ListUserSessions is the one read of sessions the directory needs;
	// ending them goes through Logout.
	ListUserSessions(ctx context.Context, orgID, sub string) ([]*domain.Session, error)
}

// SessionEnder ends single sign-on sessions the normal way: the session
// ends, its tokens are revoked and back-channel logout notifications are
// queued, in one transaction, with an audit event naming actor.
// *logout.Service is the one implementation.
type SessionEnder interface {
	EndSessionBy(ctx context.Context, orgID, sid, actor, clientIP string) error
}

// Directory manages organizations, users and applications.
type Directory struct {
	Store     Store
	Keys      *signer.Keys
	Master    *secret.MasterKey
	PublicURL string
	// Logout ends sessions when an admin ends them or disables or deletes
	// their user. Without it those calls fail rather than leave sessions
	// running.
	Logout SessionEnder
	// Outbound is the guarded client the upstream check fetches discovery
	// documents through; nil means a guarded client that never calls
	// loopback.
	Outbound *http.Client
	// Now and Rand may be nil (time.Now, crypto/rand).
	Now  func() time.Time
	Rand io.Reader
	// Password sets argon2id cost; zero means password.Default.
	Password password.Params
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Directory) token(n int) (string, error) {
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	return secret.Token(r, n)
}

func (d *Directory) passwordParams() password.Params {
	if d.Password.Memory == 0 {
		return password.Default
	}
	return d.Password
}

// Issuer is the organization's issuer URL.
func (d *Directory) Issuer(orgID string) string { return domain.IssuerURL(d.PublicURL, orgID) }

// Actor names who makes a change, for the audit log ("cli",
// "admin-token:…", "portal:alice" …) and where from.
type Actor struct {
	Name     string
	ClientIP string
}

// event is the audit event of a change by a, written by the store in the
// change's transaction.
func (d *Directory) event(orgID string, a Actor, action, target string, detail map[string]string) *domain.AuditEvent {
	return &domain.AuditEvent{
		OrgID: orgID, At: d.now(), Actor: a.Name, Action: action, Target: target, Result: "ok", ClientIP: a.ClientIP, Detail: detail,
	}
}

// NotFoundError says which organization, user, application … does not
// exist. It wraps store.ErrNotFound.
type NotFoundError struct{ msg string }

func (e *NotFoundError) Error() string { return e.msg }
func (e *NotFoundError) Unwrap() error { return store.ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &NotFoundError{msg: fmt.Sprintf(format, args...)}
}

// notFound turns a store.ErrNotFound from looking up what into a
// NotFoundError; other errors are wrapped with what.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		var nf *NotFoundError
		if errors.As(err, &nf) {
			return err
		}
		return notFoundf(format+" not found", args...)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// ConflictError is a create or rename that would duplicate what exists.
// It wraps store.ErrConflict and a *domain.FieldError naming the field.
type ConflictError struct{ Field *domain.FieldError }

func (e *ConflictError) Error() string   { return e.Field.Error() }
func (e *ConflictError) Unwrap() []error { return []error{store.ErrConflict, e.Field} }

func conflictf(field, format string, args ...any) error {
	fe, _ := domain.AsFieldError(domain.Invalid(field, format, args...))
	return &ConflictError{Field: fe}
}

// IsConflict reports whether err is a ConflictError.
func IsConflict(err error) bool {
	var ce *ConflictError
	return errors.As(err, &ce)
}

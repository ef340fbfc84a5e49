// Package store defines what Latchkey keeps in its database, one small
// interface per concern, and the errors every backend returns.
//
// Every method that touches organization-owned data takes the organization id
// and filters by it: no call made with organization A's id ever reads or
// changes organization B's rows. Secrets (codes, tokens, tickets, API keys,
// session cookies) reach the store only as SHA-256 hashes.
//
// Backends live in sub-packages (sqlite, postgres) and must pass the
// conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

var (
	// ErrNotFound: no such row in this organization.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a row with the same unique key exists.
	ErrConflict = errors.New("already exists")
	// ErrAlreadyUsed: a single-use value (code, ticket, refresh token) was consumed before.
	ErrAlreadyUsed = errors.New("already used")
	// ErrLeaseLost: a worker's hold on an outbox row ended and another worker took it.
	ErrLeaseLost = errors.New("lease lost")
	// ErrUnavailable: the database did not answer in time or could not be
	// reached. Requests that meet it answer 503 with Retry-After.
	ErrUnavailable = errors.New("database unavailable")
	// ErrStale: a step that rested on what the caller knew of rows (not
	// read from the store) found them changed, and changed nothing. The
	// caller reads them and decides again.
	ErrStale = errors.New("changed since it was known")
)

// Changes and their audit events.
//
// Every method that changes management data (organizations, users,
// applications, upstream connections, API keys, admin tokens) takes
// optional audit events, written in the same transaction as the change:
// a change is never without its event, and a refused change leaves none.
//
// The Update* methods are updaters in the style of Dex's storage: they
// read the row, locked against every other writer (SELECT … FOR UPDATE on
// PostgreSQL, BEGIN IMMEDIATE on SQLite), hand it to update, and save what
// update left, all in one transaction. Two concurrent updates of different
// fields both survive. An error from update rolls everything back and is
// returned as it is.

// Orgs stores organizations. CreateOrg writes the organization, its first
// API key and its signing keys in one transaction.
type Orgs interface {
	CreateOrg(ctx context.Context, o *domain.Organization, key *domain.APIKey, keys []*domain.SigningKey, audit ...*domain.AuditEvent) error
	GetOrg(ctx context.Context, id string) (*domain.Organization, error)
	ListOrgs(ctx context.Context) ([]*domain.Organization, error)
	// UpdateOrg changes name and settings through update; ErrNotFound if
	// there is no such organization.
	UpdateOrg(ctx context.Context, id string, update func(o *domain.Organization) error, audit ...*domain.AuditEvent) (*domain.Organization, error)
	// DeleteOrg removes the organization and everything it owns, its audit
	// log included; audit events (for other organizations) are written in
	// the same transaction.
	DeleteOrg(ctx context.Context, id string, audit ...*domain.AuditEvent) error
}

// APIKeys stores organizations' trusted-platform API keys.
type APIKeys interface {
	// FindAPIKey returns the key with this hash if it has not expired at now.
	FindAPIKey(ctx context.Context, orgID string, hash []byte, now time.Time) (*domain.APIKey, error)
	// CurrentAPIKey returns the key without expiry (the one to reveal).
	CurrentAPIKey(ctx context.Context, orgID string) (*domain.APIKey, error)
	// RotateAPIKey makes key the current key; the previous current key keeps
	// working until oldExpiresAt, older ones stop at once.
	RotateAPIKey(ctx context.Context, orgID string, key *domain.APIKey, oldExpiresAt time.Time, audit ...*domain.AuditEvent) error
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	// Query matches userName, name or email (case-insensitive substring).
	Query string
	Limit int
}

// Users stores users. userName is unique per organization, compared
// case-insensitively (ErrConflict), with the case given kept.
type Users interface {
	CreateUser(ctx context.Context, u *domain.User, audit ...*domain.AuditEvent) error
	GetUser(ctx context.Context, orgID, sub string) (*domain.User, error)
	GetUserByName(ctx context.Context, orgID, userName string) (*domain.User, error)
	// GetUserByUpstream finds the user linked to an upstream identity
	// (issuer + subject). ErrNotFound when none is (or either part is
	// empty); ErrConflict when more than one is, which a login must refuse.
	GetUserByUpstream(ctx context.Context, orgID, issuer, subject string) (*domain.User, error)
	ListUsers(ctx context.Context, orgID string, f UserFilter) ([]*domain.User, error)
	// UpdateUser changes the user through update (sub and organization
	// stay); ErrConflict if the new userName is taken.
	UpdateUser(ctx context.Context, orgID, sub string, update func(u *domain.User) error, audit ...*domain.AuditEvent) (*domain.User, error)
	// DeleteUser removes the user with their sessions, codes, tokens and
	// tickets. check, when not nil, sees the user read locked in the
	// deletion's transaction; its error refuses the deletion and is
	// returned as is.
	DeleteUser(ctx context.Context, orgID, sub string, check func(u *domain.User) error, audit ...*domain.AuditEvent) error
}

// Apps stores applications (OpenID Connect clients).
type Apps interface {
	CreateApp(ctx context.Context, a *domain.Application, audit ...*domain.AuditEvent) error
	GetApp(ctx context.Context, orgID, clientID string) (*domain.Application, error)
	ListApps(ctx context.Context, orgID string) ([]*domain.Application, error)
	// UpdateApp changes the application through update (client id and
	// organization stay).
	UpdateApp(ctx context.Context, orgID, clientID string, update func(a *domain.Application) error, audit ...*domain.AuditEvent) (*domain.Application, error)
	// DeleteApp removes the application and the codes and tokens issued to it.
	DeleteApp(ctx context.Context, orgID, clientID string, audit ...*domain.AuditEvent) error
}

// SigningKeys stores organizations' signing keys.
type SigningKeys interface {
	ListSigningKeys(ctx context.Context, orgID string) ([]*domain.SigningKey, error)
	// SaveSigningKeys inserts or updates keys and deletes the kids in remove,
	// all in one transaction.
	SaveSigningKeys(ctx context.Context, orgID string, keys []*domain.SigningKey, remove []string) error
}

// Sessions stores single sign-on sessions and which applications took part.
type Sessions interface {
	CreateSession(ctx context.Context, s *domain.Session) error
	GetSession(ctx context.Context, orgID, sid string) (*domain.Session, error)
	GetSessionByCookie(ctx context.Context, orgID string, cookieHash []byte) (*domain.Session, error)
	ListUserSessions(ctx context.Context, orgID, sub string) ([]*domain.Session, error)
	// RenewSession records a new login in an active session: a new cookie
	// hash (no fixation), auth time, methods and expiry. ErrNotFound if the
	// session is unknown or ended.
	RenewSession(ctx context.Context, s *domain.Session) error
	// EndSession marks the session ended; ErrNotFound if it is unknown or ended before.
	EndSession(ctx context.Context, orgID, sid string, at time.Time) error
	// EndSessionAndNotify is single logout's one transaction: it marks the
	// session ended at at, revokes its tokens (except offline ones), hands
	// the session and the applications that took part in it to plan, and
	// stores the back-channel deliveries and audit event plan returns.
	// Either all of it happens or none: an ended session always has its
	// notifications queued. ErrNotFound if the session is unknown or ended
	// before.
	EndSessionAndNotify(ctx context.Context, orgID, sid string, at time.Time, plan LogoutPlan) error
	// AddSessionClient records that clientID received tokens in the session.
	AddSessionClient(ctx context.Context, orgID, sid, clientID string, at time.Time) error
	ListSessionClients(ctx context.Context, orgID, sid string) ([]string, error)
}

// LogoutPlan decides, inside EndSessionAndNotify's transaction, which
// applications of an ending session are notified and what is audited.
type LogoutPlan func(s *domain.Session, apps []*domain.Application) ([]*domain.BackchannelDelivery, *domain.AuditEvent)

// AuthRequests stores authorization requests waiting for a login.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, r *domain.AuthRequest) error
	// GetAuthRequest returns the request unless it expired at now.
	GetAuthRequest(ctx context.Context, orgID, id string, now time.Time) (*domain.AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, orgID, id string) error
}

// Codes stores authorization codes.
type Codes interface {
	CreateCode(ctx context.Context, c *domain.AuthCode) error
	// ConsumeCode marks the code used and returns it. Exactly one of any
	// number of concurrent callers succeeds; the others get ErrAlreadyUsed.
	// Expiry is the caller's to check on the returned code.
	ConsumeCode(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.AuthCode, error)
	// RedeemCode marks the code used at at and stores the tokens it
	// yields, in one transaction: either both happen or neither. It has
	// ConsumeCode's single-winner guarantee: ErrAlreadyUsed (nothing
	// stored) if the code was used before, ErrNotFound if there is no such
	// code. The caller checks the code (GetCode) before.
	RedeemCode(ctx context.Context, orgID string, hash []byte, at time.Time, tokens ...*domain.Token) error
	// RedeemIssuedCode is RedeemCode for the caller that issued the code
	// and still holds it and its session as they were then, so reads
	// neither: the code is used up and the tokens stored only if, in the
	// same atomic step, the code is unused and its session has not ended
	// nor been renewed (its expiry is still sessionExpires). Otherwise
	// nothing is changed or stored, and the answer is ErrStale whatever
	// the reason (a used code, an ended or renewed session, no such code):
	// the caller then reads the code and its session (GetCodeAndSession)
	// and decides as RedeemCode's callers do.
	RedeemIssuedCode(ctx context.Context, orgID string, hash []byte, sessionExpires, at time.Time, tokens ...*domain.Token) error
	// GetCode returns the code without using it up (to check who may
	// redeem it before anything is consumed).
	GetCode(ctx context.Context, orgID string, hash []byte) (*domain.AuthCode, error)
	// GetCodeAndSession is GetCode together with GetSession of the code's
	// session, read at once; the session is nil when it no longer exists.
	GetCodeAndSession(ctx context.Context, orgID string, hash []byte) (*domain.AuthCode, *domain.Session, error)
	// MarkCodeReplayed records that a used code was presented again.
	MarkCodeReplayed(ctx context.Context, orgID string, hash []byte, at time.Time) error
	// CodeReplayed reports whether the code was presented again after use.
	CodeReplayed(ctx context.Context, orgID string, hash []byte) (bool, error)
}

// Tokens stores access and refresh tokens.
type Tokens interface {
	CreateTokens(ctx context.Context, ts ...*domain.Token) error
	GetToken(ctx context.Context, orgID string, hash []byte) (*domain.Token, error)
	// GetTokenAndSession is GetToken together with GetSession of the
	// token's session, read at once; the session is nil when the token
	// names none or it no longer exists.
	GetTokenAndSession(ctx context.Context, orgID string, hash []byte) (*domain.Token, *domain.Session, error)
	// RotateRefreshToken marks the refresh token rotated and stores the new
	// tokens, atomically. If it was rotated or revoked before, nothing is
	// stored and ErrAlreadyUsed is returned.
	RotateRefreshToken(ctx context.Context, orgID string, hash []byte, at time.Time, next ...*domain.Token) error
	RevokeToken(ctx context.Context, orgID string, hash []byte, at time.Time) error
	RevokeTokenFamily(ctx context.Context, orgID, familyID string, at time.Time) error
	RevokeTokensFromCode(ctx context.Context, orgID string, codeHash []byte, at time.Time) error
	// RevokeSessionTokens revokes the session's tokens, except offline ones.
	RevokeSessionTokens(ctx context.Context, orgID, sid string, at time.Time) error
}

// Tickets stores one-time login tickets.
type Tickets interface {
	// CreateTicket stores the ticket and its audit events (nil ones are
	// skipped) in one commit.
	CreateTicket(ctx context.Context, t *domain.LoginTicket, events ...*domain.AuditEvent) error
	// ConsumeTicket has ConsumeCode's single-winner guarantee.
	ConsumeTicket(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.LoginTicket, error)
	// GetTicket returns the ticket without using it up.
	GetTicket(ctx context.Context, orgID string, hash []byte) (*domain.LoginTicket, error)
	// RedeemTicket uses the ticket up and stores sess, the session it
	// starts, and e, the sign-in's audit event, in one atomic step: only
	// if the ticket is unused and unexpired at at. Otherwise nothing is
	// changed or stored, and the answer is ErrStale (the caller, which
	// read the ticket before, reads it again to say why). Of any number
	// of racing callers, one wins.
	RedeemTicket(ctx context.Context, orgID string, hash []byte, at time.Time, sess *domain.Session, e *domain.AuditEvent) error
}

// RateLimits counts events per bucket and fixed window, shared by all nodes.
type RateLimits interface {
	// HitRateLimit adds one to bucket's count in the window starting at
	// window and returns the new count. Windows older than expireBefore may
	// be removed.
	HitRateLimit(ctx context.Context, bucket string, window, expireBefore time.Time) (int, error)
	// ResetRateLimit forgets bucket's counts (after a successful login).
	ResetRateLimit(ctx context.Context, bucket string) error
}

// AuditFilter narrows ListAudit. Zero fields do not filter.
type AuditFilter struct {
	// Action and Actor match exactly.
	Action string
	Actor  string
	// Since and Until bound the event time: Since ≤ at < Until.
	Since time.Time
	Until time.Time
	// Before is a cursor: only events older than the event with this id
	// (the last one of the previous page).
	Before string
	// Limit is the page size (at most 10000); 0 means 100.
	Limit int
}

// Audit stores the audit log.
type Audit interface {
	AppendAudit(ctx context.Context, e *domain.AuditEvent) error
	// ListAudit returns the events f selects, newest first.
	ListAudit(ctx context.Context, orgID string, f AuditFilter) ([]*domain.AuditEvent, error)
}

// BackchannelClaim is what a worker asks ClaimBackchannel for.
type BackchannelClaim struct {
	// Owner identifies the worker's leases; only it may finish what it claimed.
	Owner string
	Now   time.Time
	// Lease is how long each claimed delivery is held. A worker claims only
	// what it starts sending at once and bounds each send well within it.
	Lease time.Duration
	// Limit caps how many deliveries this claim returns.
	Limit int
	// PerOrg caps how many deliveries of one organization the worker holds
	// at once (0: no cap); Held counts what it holds already, by organization.
	PerOrg int
	Held   map[string]int
}

// Backchannel is the durable outbox of back-channel logout notifications.
type Backchannel interface {
	// EnqueueBackchannel stores deliveries to attempt.
	EnqueueBackchannel(ctx context.Context, ds ...*domain.BackchannelDelivery) error
	// ClaimBackchannel returns deliveries due at c.Now that no other worker
	// holds, oldest first, each now held by c.Owner until c.Now+c.Lease.
	// Claiming starts an attempt: the delivery's Attempts is the number of
	// the attempt claimed for, recorded at once without a result (an attempt
	// still without one when the delivery is claimed again is marked as
	// interrupted). Any number of nodes may claim concurrently; each
	// delivery goes to one of them.
	ClaimBackchannel(ctx context.Context, c BackchannelClaim) ([]*domain.BackchannelDelivery, error)
	// FinishBackchannelAttempt records the result of the attempt a, which
	// owner claimed; then, if owner still holds the delivery for that
	// attempt, saves its new state (delivered, given up, or next attempt
	// time) and releases it. If another worker claimed the delivery since,
	// the result is recorded, the delivery is left as the other worker
	// holds it, and ErrLeaseLost is returned. ErrNotFound if no such
	// attempt was claimed.
	FinishBackchannelAttempt(ctx context.Context, owner string, d *domain.BackchannelDelivery, a *domain.BackchannelAttempt) error
	ListBackchannel(ctx context.Context, orgID, sid string) ([]*domain.BackchannelDelivery, error)
	ListBackchannelAttempts(ctx context.Context, orgID, deliveryID string) ([]*domain.BackchannelAttempt, error)
}

// AdminTokens stores admin API tokens.
type AdminTokens interface {
	CreateAdminToken(ctx context.Context, t *domain.AdminToken, audit ...*domain.AuditEvent) error
	// FindAdminToken finds a token by hash among those of orgID ("" for
	// operator tokens).
	FindAdminToken(ctx context.Context, orgID string, hash []byte) (*domain.AdminToken, error)
	ListAdminTokens(ctx context.Context) ([]*domain.AdminToken, error)
	RevokeAdminToken(ctx context.Context, orgID, id string, at time.Time, audit ...*domain.AuditEvent) error
	TouchAdminToken(ctx context.Context, orgID, id string, at time.Time) error
}

// Upstreams stores organizations' upstream OpenID Connect connections, at
// most one per organization.
type Upstreams interface {
	GetUpstream(ctx context.Context, orgID string) (*domain.UpstreamConnection, error)
	// UpdateUpstream creates or changes the organization's connection
	// through update, which gets the stored connection or, when there is
	// none, an empty one with only OrgID set (created reports which). The
	// organization's row is locked, so two first saves take turns.
	// ErrNotFound if the organization does not exist.
	UpdateUpstream(ctx context.Context, orgID string, update func(c *domain.UpstreamConnection, created bool) error, audit ...*domain.AuditEvent) (c *domain.UpstreamConnection, created bool, err error)
	// PutUpstream stores c whole (CreatedAt keeps its first value), for
	// seeding; changes go through UpdateUpstream. ErrNotFound if the
	// organization does not exist.
	PutUpstream(ctx context.Context, c *domain.UpstreamConnection) error
	// DeleteUpstream removes the connection; ErrNotFound if there is none.
	DeleteUpstream(ctx context.Context, orgID string, audit ...*domain.AuditEvent) error
}

// UpstreamFlows stores the round trips of federated login and logout.
type UpstreamFlows interface {
	CreateUpstreamLogin(ctx context.Context, l *domain.UpstreamLogin) error
	// ConsumeUpstreamLogin has ConsumeCode's single-winner guarantee.
	ConsumeUpstreamLogin(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.UpstreamLogin, error)
	CreateUpstreamLogout(ctx context.Context, l *domain.UpstreamLogout) error
	ConsumeUpstreamLogout(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.UpstreamLogout, error)
	// RememberLogoutToken records an upstream back-channel logout token
	// (by the hash of its issuer and jti) until expiresAt. ErrAlreadyUsed
	// if the same token was remembered before and has not expired at now:
	// a replay, on whichever node it arrives.
	RememberLogoutToken(ctx context.Context, orgID string, hash []byte, expiresAt, now time.Time) error
	// ForgetLogoutToken drops a remembered logout token, so that the
	// upstream's retry of a token whose logout failed is not refused.
	ForgetLogoutToken(ctx context.Context, orgID string, hash []byte) error
	// ListSessionsByUpstreamSID returns the sessions of an upstream session.
	ListSessionsByUpstreamSID(ctx context.Context, orgID, upstreamSID string) ([]*domain.Session, error)
}

// PortalSessions stores administrators' admin-portal sessions.
type PortalSessions interface {
	CreatePortalSession(ctx context.Context, s *domain.PortalSession) error
	// GetPortalSession returns the session with this cookie hash, ended or not.
	GetPortalSession(ctx context.Context, orgID string, hash []byte) (*domain.PortalSession, error)
	// TouchPortalSession records activity (for the idle timeout).
	TouchPortalSession(ctx context.Context, orgID string, hash []byte, at time.Time) error
	// EndPortalSession ends one portal session; EndPortalSessionsBySID
	// every portal session riding on SSO session sid.
	EndPortalSession(ctx context.Context, orgID string, hash []byte, at time.Time) error
	EndPortalSessionsBySID(ctx context.Context, orgID, sid string, at time.Time) error
}

// SetupTokens stores the one-time links that set up the first operator.
type SetupTokens interface {
	CreateSetupToken(ctx context.Context, t *domain.SetupToken) error
	// ConsumeSetupToken has ConsumeCode's single-winner guarantee.
	ConsumeSetupToken(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.SetupToken, error)
}

// Factors stores users' second factors: passkeys, one-time code
// generators and recovery codes.
type Factors interface {
	// CreatePasskey stores a new passkey; ErrConflict if its credential id
	// is registered in the organization already.
	CreatePasskey(ctx context.Context, k *domain.Passkey) error
	GetPasskey(ctx context.Context, orgID string, id []byte) (*domain.Passkey, error)
	ListPasskeys(ctx context.Context, orgID, sub string) ([]*domain.Passkey, error)
	// UsePasskey records a verified assertion. A passkey whose stored sign
	// count is non-zero moves only forwards: if signCount is not greater
	// than the stored one (a clone, or a racing replay), nothing changes
	// and ErrAlreadyUsed is returned.
	UsePasskey(ctx context.Context, orgID string, id []byte, signCount uint32, flags byte, at time.Time) error
	// DeletePasskey removes one of the user's passkeys.
	DeletePasskey(ctx context.Context, orgID, sub string, id []byte) error
	// PutTOTP stores the user's generator, replacing any earlier one.
	PutTOTP(ctx context.Context, f *domain.TOTPFactor) error
	GetTOTP(ctx context.Context, orgID, sub string) (*domain.TOTPFactor, error)
	// UseTOTPStep accepts time step step once: ErrAlreadyUsed if a step
	// at or after it was accepted before. confirm marks an unconfirmed
	// generator confirmed at at.
	UseTOTPStep(ctx context.Context, orgID, sub string, step int64, confirm bool, at time.Time) error
	DeleteTOTP(ctx context.Context, orgID, sub string) error
	// ReplaceRecoveryCodes replaces the user's recovery codes.
	ReplaceRecoveryCodes(ctx context.Context, orgID, sub string, codes []*domain.RecoveryCode) error
	// UseRecoveryCode consumes the code with this hash (single winner) and
	// returns how many unused codes remain. ErrNotFound for an unknown
	// code, ErrAlreadyUsed for a used one.
	UseRecoveryCode(ctx context.Context, orgID, sub string, hash []byte, at time.Time) (int, error)
	// CountRecoveryCodes returns how many unused codes the user has.
	CountRecoveryCodes(ctx context.Context, orgID, sub string) (int, error)
	// CountFactors returns, in one read, how many passkeys the user has,
	// whether the user's one-time code generator is confirmed, and how
	// many unused recovery codes are left.
	CountFactors(ctx context.Context, orgID, sub string) (FactorCounts, error)
	// DeleteUserFactors removes every factor of the user at once, writing
	// the audit events in the same transaction.
	DeleteUserFactors(ctx context.Context, orgID, sub string, audit ...*domain.AuditEvent) error
}

// FactorCounts summarises a user's second factors (CountFactors).
type FactorCounts struct {
	Passkeys     int
	TOTP         bool
	RecoveryLeft int
}

// MFAFlows stores the single-use steps of multi-factor sign-in.
type MFAFlows interface {
	CreateMFAFlow(ctx context.Context, f *domain.MFAFlow) error
	// GetMFAFlow returns an unused flow that has not expired at now.
	GetMFAFlow(ctx context.Context, orgID string, hash []byte, now time.Time) (*domain.MFAFlow, error)
	// ConsumeMFAFlow has ConsumeCode's single-winner guarantee; expiry is
	// the caller's to check.
	ConsumeMFAFlow(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.MFAFlow, error)
}

// Maintenance removes what no longer matters.
type Maintenance interface {
	// PurgeExpired deletes rows of every organization that expired or
	// ended before the given time (sessions, pending requests, codes,
	// tokens, tickets, upstream round trips, rate-limit windows) and
	// finished back-channel deliveries older than it. The audit log is kept.
	PurgeExpired(ctx context.Context, before time.Time) (int64, error)
}

// Store is everything a backend provides. Components depend on the small
// interfaces above, not on Store.
type Store interface {
	Orgs
	APIKeys
	Users
	Apps
	SigningKeys
	Sessions
	AuthRequests
	Codes
	Tokens
	Tickets
	RateLimits
	Audit
	Backchannel
	AdminTokens
	Upstreams
	UpstreamFlows
	PortalSessions
	SetupTokens
	Factors
	MFAFlows
	Maintenance
	UserSearch
	SCIMTokens
	Groups
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	// Migrate applies pending schema migrations under a database lock.
	Migrate(ctx context.Context) error
	Close() error
}

package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// --- sessions ---

const sessionCols = `org_id, sid, cookie_hash, user_sub, auth_time, amr, created_at, expires_at, ended_at, upstream_id_token, upstream_sid, upstream_subject`

// sessionClients is the last column of every session read: the
// applications taking part in it. A sign-in finds there whether its
// application is recorded already, without a query of its own.
func sessionClients(d Dialect) string {
	return `(SELECT ` + d.ListAgg("c.client_id", "c.first_at, c.client_id") +
		` FROM session_clients c WHERE c.org_id = sessions.org_id AND c.sid = sessions.sid)`
}

// withSessionQuery selects the code or token columns cols of table and
// the columns of the session the row names, joined.
func withSessionQuery(d Dialect, table, cols string) string {
	return `SELECT ` + qualified(table, cols) + `, ` + qualified("sessions", sessionCols) + `, ` + sessionClients(d) +
		` FROM ` + table + ` JOIN sessions ON sessions.org_id = ` + table + `.org_id AND sessions.sid = ` + table + `.sid` +
		` WHERE ` + table + `.org_id = ? AND ` + table + `.hash = ?`
}

// sessionScanner gives the destinations of sessionRead's columns and
// builds the session once they are filled. Scanners (sessionScanner,
// codeScanner, tokenScanner) let one row of a join fill two values.
func sessionScanner() ([]any, func() (*domain.Session, error)) {
	var x domain.Session
	var amr, clients string
	var authTime, created, expires, ended int64
	return []any{&x.OrgID, &x.SID, &x.CookieHash, &x.UserSub, &authTime, &amr, &created, &expires, &ended, &x.UpstreamIDToken, &x.UpstreamSID, &x.UpstreamSubject, &clients},
		func() (*domain.Session, error) {
			var err error
			if x.AMR, err = strList(amr); err != nil {
				return nil, err
			}
			if x.Clients, err = strList(clients); err != nil {
				return nil, err
			}
			if len(x.Clients) == 0 {
				x.Clients = nil
			}
			x.AuthTime, x.CreatedAt, x.ExpiresAt, x.EndedAt = tm(authTime), tm(created), tm(expires), tm(ended)
			return &x, nil
		}
}

// scanWith scans one row with the scanner made by newScanner.
func scanWith[T any](row interface{ Scan(...any) error }, newScanner func() ([]any, func() (*T, error))) (*T, error) {
	dest, build := newScanner()
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return build()
}

func scanSession(row interface{ Scan(...any) error }) (*domain.Session, error) {
	return scanWith(row, sessionScanner)
}

// qualified prefixes each column of cols (a comma-separated list) with table.
func qualified(table, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = table + "." + c
	}
	return strings.Join(parts, ", ")
}

// withSession reads a code or token (joined, a query of
// withSessionQuery) with the session it names, in one query: the token
// endpoint needs both. When the row exists and its session does not (or
// it names none), the session is nil; alone is the query that tells.
func withSession[T any](ctx context.Context, s *DB, joined, alone string, newScanner func() ([]any, func() (*T, error)),
	orgID string, hash []byte) (*T, *domain.Session, error) {
	dest, build := newScanner()
	sdest, sbuild := sessionScanner()
	err := s.keyedPool().QueryRowContext(ctx, s.q(joined), orgID, hash).Scan(append(dest, sdest...)...)
	if errors.Is(err, sql.ErrNoRows) {
		v, err := scanWith(s.db.QueryRowContext(ctx, s.q(alone), orgID, hash), newScanner)
		return v, nil, s.classify(err)
	}
	if err != nil {
		return nil, nil, s.classify(err)
	}
	v, err := build()
	if err != nil {
		return nil, nil, err
	}
	sess, err := sbuild()
	if err != nil {
		return nil, nil, err
	}
	return v, sess, nil
}

func (s *DB) CreateSession(ctx context.Context, x *domain.Session) error {
	return s.insert(ctx, "sessions", sessionCols, false, sessionRow(x))
}

// sessionRow is x's row in sessionCols' order.
func sessionRow(x *domain.Session) []any {
	return []any{x.OrgID, x.SID, x.CookieHash, x.UserSub, ts(x.AuthTime), jsonText(nonNil(x.AMR)), ts(x.CreatedAt), ts(x.ExpiresAt), ts(x.EndedAt),
		x.UpstreamIDToken, x.UpstreamSID, x.UpstreamSubject}
}

func (s *DB) GetSession(ctx context.Context, orgID, sid string) (*domain.Session, error) {
	if !storableKey(sid, orgID) {
		return nil, store.ErrNotFound
	}
	x, err := scanSession(s.keyedPool().QueryRowContext(ctx, s.q(s.sessionByID), orgID, sid))
	return x, s.classify(err)
}

func (s *DB) GetSessionByCookie(ctx context.Context, orgID string, cookieHash []byte) (*domain.Session, error) {
	x, err := scanSession(s.keyedPool().QueryRowContext(ctx, s.q(s.sessionByCookie), orgID, cookieHash))
	return x, s.classify(err)
}

func (s *DB) ListUserSessions(ctx context.Context, orgID, sub string) ([]*domain.Session, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+s.sessionRead+` FROM sessions WHERE org_id = ? AND user_sub = ? ORDER BY created_at DESC`), orgID, sub)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSession)
}

func (s *DB) RenewSession(ctx context.Context, x *domain.Session) error {
	return s.execOne(ctx, s.db, `UPDATE sessions SET cookie_hash = ?, auth_time = ?, amr = ?, expires_at = ?, upstream_id_token = ?,
		upstream_sid = ?, upstream_subject = ? WHERE org_id = ? AND sid = ? AND ended_at = 0`,
		x.CookieHash, ts(x.AuthTime), jsonText(nonNil(x.AMR)), ts(x.ExpiresAt), x.UpstreamIDToken, x.UpstreamSID, x.UpstreamSubject, x.OrgID, x.SID)
}

func (s *DB) EndSession(ctx context.Context, orgID, sid string, at time.Time) error {
	return s.execOne(ctx, s.db, `UPDATE sessions SET ended_at = ? WHERE org_id = ? AND sid = ? AND ended_at = 0`, ts(at), orgID, sid)
}

// AddSessionClient records that clientID takes part in the session; a
// client recorded before keeps its first time. Callers skip it for a
// client the session they read lists (Session.Clients).
func (s *DB) AddSessionClient(ctx context.Context, orgID, sid, clientID string, at time.Time) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO session_clients (org_id, sid, client_id, first_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, sid, client_id) DO NOTHING`, orgID, sid, clientID, ts(at))
	return s.classify(err)
}

func (s *DB) ListSessionClients(ctx context.Context, orgID, sid string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT client_id FROM session_clients WHERE org_id = ? AND sid = ? ORDER BY first_at, client_id`), orgID, sid)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var v string
		return v, r.Scan(&v)
	})
}

// --- pending authorization requests ---

const authRequestCols = `org_id, id, params, created_at, expires_at`

// CreateAuthRequest goes through the batching writer, relaxed: a pending
// request lost in a crash only makes the user start the login again.
func (s *DB) CreateAuthRequest(ctx context.Context, r *domain.AuthRequest) error {
	return s.insert(ctx, "auth_requests", authRequestCols, true,
		[]any{r.OrgID, r.ID, jsonText(r), ts(r.CreatedAt), ts(r.ExpiresAt)})
}

func (s *DB) GetAuthRequest(ctx context.Context, orgID, id string, now time.Time) (*domain.AuthRequest, error) {
	if !storableKey(id, orgID) {
		return nil, store.ErrNotFound
	}
	var params string
	var created, expires int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT params, created_at, expires_at FROM auth_requests WHERE org_id = ? AND id = ? AND expires_at > ?`),
		orgID, id, ts(now)).Scan(&params, &created, &expires)
	if err != nil {
		return nil, s.classify(err)
	}
	var r domain.AuthRequest
	if err := json.Unmarshal([]byte(params), &r); err != nil {
		return nil, fmt.Errorf("decode auth request: %w", err)
	}
	r.OrgID, r.ID, r.CreatedAt, r.ExpiresAt = orgID, id, tm(created), tm(expires)
	return &r, nil
}

func (s *DB) DeleteAuthRequest(ctx context.Context, orgID, id string) error {
	return s.execOne(ctx, s.db, `DELETE FROM auth_requests WHERE org_id = ? AND id = ?`, orgID, id)
}

// --- authorization codes ---

const codeCols = `org_id, hash, client_id, redirect_uri, user_sub, sid, scope, nonce, code_challenge, auth_time, amr, created_at, expires_at, used_at`

const codeByHash = `SELECT ` + codeCols + ` FROM auth_codes WHERE org_id = ? AND hash = ?`

func codeScanner() ([]any, func() (*domain.AuthCode, error)) {
	var c domain.AuthCode
	var amr string
	var authTime, created, expires, used int64
	return []any{&c.OrgID, &c.Hash, &c.ClientID, &c.RedirectURI, &c.UserSub, &c.SID, &c.Scope, &c.Nonce, &c.CodeChallenge,
			&authTime, &amr, &created, &expires, &used},
		func() (*domain.AuthCode, error) {
			var err error
			if c.AMR, err = strList(amr); err != nil {
				return nil, err
			}
			c.AuthTime, c.CreatedAt, c.ExpiresAt, c.UsedAt = tm(authTime), tm(created), tm(expires), tm(used)
			return &c, nil
		}
}

func scanCode(row interface{ Scan(...any) error }) (*domain.AuthCode, error) {
	return scanWith(row, codeScanner)
}

// CreateCode goes through the batching writer, relaxed: a code lost in a
// crash fails its exchange, and the client starts the login again. Its
// use (RedeemCode, ConsumeCode) is committed durably, and with it every
// earlier commit, the code's own included.
func (s *DB) CreateCode(ctx context.Context, c *domain.AuthCode) error {
	return s.insert(ctx, "auth_codes", codeCols, true,
		[]any{c.OrgID, c.Hash, c.ClientID, c.RedirectURI, c.UserSub, c.SID, c.Scope, c.Nonce, c.CodeChallenge,
			ts(c.AuthTime), jsonText(nonNil(c.AMR)), ts(c.CreatedAt), ts(c.ExpiresAt), ts(c.UsedAt)})
}

func (s *DB) GetCode(ctx context.Context, orgID string, hash []byte) (*domain.AuthCode, error) {
	c, err := scanCode(s.db.QueryRowContext(ctx, s.q(codeByHash), orgID, hash))
	return c, s.classify(err)
}

// GetCodeAndSession is GetCode and GetSession of the code's session in
// one read.
func (s *DB) GetCodeAndSession(ctx context.Context, orgID string, hash []byte) (*domain.AuthCode, *domain.Session, error) {
	return withSession(ctx, s, s.codeWithSession, codeByHash, codeScanner, orgID, hash)
}

func (s *DB) ConsumeCode(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.AuthCode, error) {
	return consume(ctx, s, "auth_codes", codeCols, scanCode, orgID, hash, at)
}

func (s *DB) MarkCodeReplayed(ctx context.Context, orgID string, hash []byte, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE auth_codes SET replayed_at = ? WHERE org_id = ? AND hash = ? AND replayed_at = 0`, ts(at), orgID, hash)
	return s.classify(err)
}

func (s *DB) CodeReplayed(ctx context.Context, orgID string, hash []byte) (bool, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT replayed_at FROM auth_codes WHERE org_id = ? AND hash = ?`), orgID, hash).Scan(&at)
	if err != nil {
		return false, s.classify(err)
	}
	return at != 0, nil
}

// The guards of RedeemCode and RotateRefreshToken: the conditional UPDATE
// that uses the row up, which only one of any number of callers passes.
const (
	codeUseGuard       = `UPDATE auth_codes SET used_at = ? WHERE org_id = ? AND hash = ? AND used_at = 0`
	refreshRotateGuard = `UPDATE tokens SET rotated_at = ? WHERE org_id = ? AND hash = ? AND kind = 'refresh' AND rotated_at = 0 AND revoked_at = 0`
	// issuedCodeUseGuard is codeUseGuard that also requires the code's
	// session to be the one the code was issued in: not ended, and with
	// the expiry it had then (a renewal changes it).
	issuedCodeUseGuard = codeUseGuard + ` AND EXISTS (SELECT 1 FROM sessions WHERE sessions.org_id = auth_codes.org_id AND sessions.sid = auth_codes.sid AND sessions.ended_at = 0 AND sessions.expires_at = ?)`
)

// RedeemCode marks the code used and stores the tokens it yields,
// atomically: one statement on PostgreSQL (guarded.go), one transaction of
// the conditional UPDATE of ConsumeCode and one INSERT on SQLite.
func (s *DB) RedeemCode(ctx context.Context, orgID string, hash []byte, at time.Time, tokens ...*domain.Token) error {
	err := s.guardedTokens(ctx, codeUseGuard, []any{ts(at), orgID, hash}, tokens)
	if errors.Is(err, errGuardMissed) {
		var usedAt int64
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT used_at FROM auth_codes WHERE org_id = ? AND hash = ?`), orgID, hash).Scan(&usedAt); err != nil {
			return s.classify(err)
		}
		return store.ErrAlreadyUsed
	}
	return err
}

// RedeemIssuedCode: see store.Codes. One statement on PostgreSQL, a guarded
// group of the batching writer on SQLite, as RedeemCode, with no read
// before it.
func (s *DB) RedeemIssuedCode(ctx context.Context, orgID string, hash []byte, sessionExpires, at time.Time, tokens ...*domain.Token) error {
	err := s.guardedTokens(ctx, issuedCodeUseGuard, []any{ts(at), orgID, hash, ts(sessionExpires)}, tokens)
	if errors.Is(err, errGuardMissed) {
		return store.ErrStale
	}
	return err
}

// consume marks a single-use row used with one conditional UPDATE, so that
// of any number of racing callers exactly one sees its row change. The
// winner gets the row back from the UPDATE itself; only a caller whose
// UPDATE changed nothing reads the row, to tell a used one from none.
//
// On PostgreSQL the UPDATE runs on the keyed pool, with the plan its
// connection keeps: it finds its row by the table's primary key, the only
// index that leads with (org_id, hash) (KeyedStatements). Planning it on
// every call cost more than running it.
func consume[T any](ctx context.Context, s *DB, table, cols string, scan func(interface{ Scan(...any) error }) (T, error), orgID string, hash []byte, at time.Time) (T, error) {
	var zero T
	p := s.writes()
	if s.keyed != nil {
		p = s.keyed
	}
	v, err := scan(p.QueryRowContext(ctx, s.q(consumeQuery(table, cols)), ts(at), orgID, hash))
	if err = s.classify(err); err == nil || !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	v, err = scan(s.db.QueryRowContext(ctx, s.q(`SELECT `+cols+` FROM `+table+` WHERE org_id = ? AND hash = ?`), orgID, hash))
	if err != nil {
		return zero, s.classify(err)
	}
	return v, store.ErrAlreadyUsed
}

// consumeQuery is consume's UPDATE of table, returning cols.
func consumeQuery(table, cols string) string {
	return `UPDATE ` + table + ` SET used_at = ? WHERE org_id = ? AND hash = ? AND used_at = 0 RETURNING ` + cols
}

// --- access and refresh tokens ---

const tokenCols = `org_id, hash, kind, client_id, user_sub, sid, scope, auth_time, amr, family_id, code_hash, offline, created_at, expires_at, revoked_at, rotated_at`

const tokenByHash = `SELECT ` + tokenCols + ` FROM tokens WHERE org_id = ? AND hash = ?`

func tokenScanner() ([]any, func() (*domain.Token, error)) {
	var t domain.Token
	var amr string
	var authTime, created, expires, revoked, rotated int64
	return []any{&t.OrgID, &t.Hash, &t.Kind, &t.ClientID, &t.UserSub, &t.SID, &t.Scope, &authTime, &amr, &t.FamilyID,
			&t.CodeHash, &t.Offline, &created, &expires, &revoked, &rotated},
		func() (*domain.Token, error) {
			var err error
			if t.AMR, err = strList(amr); err != nil {
				return nil, err
			}
			t.AuthTime, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.RotatedAt = tm(authTime), tm(created), tm(expires), tm(revoked), tm(rotated)
			return &t, nil
		}
}

func scanToken(row interface{ Scan(...any) error }) (*domain.Token, error) {
	return scanWith(row, tokenScanner)
}

func tokenRows(tokens []*domain.Token) [][]any {
	rows := make([][]any, len(tokens))
	for i, t := range tokens {
		rows[i] = []any{t.OrgID, t.Hash, t.Kind, t.ClientID, t.UserSub, t.SID, t.Scope, ts(t.AuthTime), jsonText(nonNil(t.AMR)), t.FamilyID,
			t.CodeHash, t.Offline, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RevokedAt), ts(t.RotatedAt)}
	}
	return rows
}

// CreateTokens goes through the batching writer. Access tokens alone are
// relaxed (one lost in a crash makes its client ask again); a refresh
// token is committed durably, as losing it would sign its user out.
func (s *DB) CreateTokens(ctx context.Context, tokens ...*domain.Token) error {
	relaxed := true
	for _, t := range tokens {
		relaxed = relaxed && t.Kind == domain.TokenAccess
	}
	return s.insert(ctx, "tokens", tokenCols, relaxed, tokenRows(tokens)...)
}

func (s *DB) GetToken(ctx context.Context, orgID string, hash []byte) (*domain.Token, error) {
	t, err := scanToken(s.keyedPool().QueryRowContext(ctx, s.q(tokenByHash), orgID, hash))
	return t, s.classify(err)
}

// GetTokenAndSession is GetToken and GetSession of the token's session
// in one read.
func (s *DB) GetTokenAndSession(ctx context.Context, orgID string, hash []byte) (*domain.Token, *domain.Session, error) {
	return withSession(ctx, s, s.tokenWithSession, tokenByHash, tokenScanner, orgID, hash)
}

// RotateRefreshToken marks the token rotated and stores the next tokens,
// atomically: one statement on PostgreSQL (guarded.go), one transaction of
// the conditional UPDATE and one INSERT on SQLite.
func (s *DB) RotateRefreshToken(ctx context.Context, orgID string, hash []byte, at time.Time, next ...*domain.Token) error {
	err := s.guardedTokens(ctx, refreshRotateGuard, []any{ts(at), orgID, hash}, next)
	if errors.Is(err, errGuardMissed) {
		return store.ErrAlreadyUsed
	}
	return err
}

func (s *DB) RevokeToken(ctx context.Context, orgID string, hash []byte, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE tokens SET revoked_at = ? WHERE org_id = ? AND hash = ? AND revoked_at = 0`, ts(at), orgID, hash)
	return s.classify(err)
}

func (s *DB) RevokeTokenFamily(ctx context.Context, orgID, familyID string, at time.Time) error {
	if familyID == "" {
		return nil
	}
	_, err := s.exec(ctx, s.db, `UPDATE tokens SET revoked_at = ? WHERE org_id = ? AND family_id = ? AND revoked_at = 0`, ts(at), orgID, familyID)
	return s.classify(err)
}

func (s *DB) RevokeTokensFromCode(ctx context.Context, orgID string, codeHash []byte, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE tokens SET revoked_at = ? WHERE org_id = ? AND code_hash = ? AND revoked_at = 0`, ts(at), orgID, codeHash)
	return s.classify(err)
}

func (s *DB) RevokeSessionTokens(ctx context.Context, orgID, sid string, at time.Time) error {
	return s.revokeSessionTokens(ctx, s.db, orgID, sid, at)
}

func (s *DB) revokeSessionTokens(ctx context.Context, x querier, orgID, sid string, at time.Time) error {
	if sid == "" {
		return nil
	}
	_, err := s.exec(ctx, x, `UPDATE tokens SET revoked_at = ? WHERE org_id = ? AND sid = ? AND offline = ? AND revoked_at = 0`, ts(at), orgID, sid, false)
	return s.classify(err)
}

// --- login tickets ---

const ticketCols = `org_id, hash, user_sub, created_at, expires_at, used_at`

func scanTicket(row interface{ Scan(...any) error }) (*domain.LoginTicket, error) {
	var t domain.LoginTicket
	var created, expires, used int64
	if err := row.Scan(&t.OrgID, &t.Hash, &t.UserSub, &created, &expires, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(created), tm(expires), tm(used)
	return &t, nil
}

func (s *DB) CreateTicket(ctx context.Context, t *domain.LoginTicket, events ...*domain.AuditEvent) error {
	g := &insertGroup{ctx: ctx, table: "login_tickets", cols: ticketCols,
		rows: [][]any{{t.OrgID, t.Hash, t.UserSub, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.UsedAt)}},
		// Relaxed (docs/performance.md): a ticket lost in a crash of the
		// database only makes its link fail; the user asks for another.
		// Its audit events are not.
		relaxed: true}
	for _, e := range events {
		if e == nil {
			continue
		}
		if e.OrgID != t.OrgID {
			return fmt.Errorf("create ticket: audit event of organization %q, not the ticket's %q", e.OrgID, t.OrgID)
		}
		g.relaxed = false
		g.also = append(g.also, &insertGroup{table: "audit_events", cols: auditCols, rows: [][]any{auditRow(e)}})
	}
	return s.batch.submit(g)
}

// ticketByHash reads a ticket by its primary key (a keyed statement).
const ticketByHash = `SELECT ` + ticketCols + ` FROM login_tickets WHERE org_id = ? AND hash = ?`

func (s *DB) GetTicket(ctx context.Context, orgID string, hash []byte) (*domain.LoginTicket, error) {
	t, err := scanTicket(s.keyedPool().QueryRowContext(ctx, s.q(ticketByHash), orgID, hash))
	return t, s.classify(err)
}

func (s *DB) ConsumeTicket(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.LoginTicket, error) {
	return consume(ctx, s, "login_tickets", ticketCols, scanTicket, orgID, hash, at)
}

// ticketUseGuard uses up a ticket that is unused and unexpired at the
// time given (its arguments: at, org, hash, at).
const ticketUseGuard = `UPDATE login_tickets SET used_at = ? WHERE org_id = ? AND hash = ? AND used_at = 0 AND expires_at > ?`

// RedeemTicket uses the ticket up and stores the session it starts and
// its audit event, all at once or nothing. On PostgreSQL that is one
// statement on the keyed pool (ticketRedemption); on SQLite a guarded
// group of the batching writer. Either way it is one commit where using
// the ticket up, storing the session and appending the event were three,
// one after the other.
func (s *DB) RedeemTicket(ctx context.Context, orgID string, hash []byte, at time.Time, sess *domain.Session, e *domain.AuditEvent) error {
	if sess.OrgID != orgID || e.OrgID != orgID {
		return fmt.Errorf("redeem ticket: session and event must be of organization %q", orgID)
	}
	guardArgs := []any{ts(at), orgID, hash, ts(at)}
	if s.dialect.Name() == "postgres" {
		args := append(append(guardArgs, sessionRow(sess)...), auditRow(e)...)
		err := s.execOne(ctx, s.keyedPool(), ticketRedemption, args...)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrStale
		}
		return err
	}
	err := s.batch.submit(&insertGroup{ctx: ctx, table: "sessions", cols: sessionCols, rows: [][]any{sessionRow(sess)},
		also:  []*insertGroup{{table: "audit_events", cols: auditCols, rows: [][]any{auditRow(e)}}},
		guard: ticketUseGuard, guardArgs: guardArgs})
	if errors.Is(err, errGuardMissed) {
		return store.ErrStale
	}
	return err
}

// ticketRedemption is RedeemTicket on PostgreSQL: a data-modifying WITH
// uses the ticket up, and the session and the event are inserted from
// its one returned row, so only when it changed one. The values are typed,
// as a SELECT list gives the server no other way to know its parameters'
// types.
var ticketRedemption = `WITH guard AS (` + ticketUseGuard + ` RETURNING 1),
	session AS (INSERT INTO sessions (` + sessionCols + `) SELECT ` + typedParams(sessionColTypes) + ` FROM guard)
	INSERT INTO audit_events (` + auditCols + `) SELECT ` + typedParams(auditColTypes) + ` FROM guard`

// sessionColTypes and auditColTypes are sessionCols' and auditCols'
// PostgreSQL types, in order.
var (
	sessionColTypes = []string{"text", "text", "bytea", "text", "bigint", "text", "bigint", "bigint", "bigint", "bytea", "text", "text"}
	auditColTypes   = []string{"text", "text", "bigint", "text", "text", "text", "text", "text", "text"}
)

// typedParams is "?::t1, ?::t2, …" for the types given.
func typedParams(types []string) string {
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = "?::" + t
	}
	return strings.Join(parts, ", ")
}

// --- rate limits ---

// The rate-limit statements. On PostgreSQL they keep one plan per
// connection (the relaxed pool's), which rate_limits' one index, its
// primary key, makes safe (KeyedStatements lists the two that scan).
const (
	rateLimitHit = `INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?, ?, 1)
		ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits`
	rateLimitSweep = `DELETE FROM rate_limits WHERE bucket = ? AND window_start < ?`
	rateLimitReset = `DELETE FROM rate_limits WHERE bucket = ?`
)

// rateLimits is the pool rate-limit counts are written on: a count lost in
// a crash of the database server only allows a few more attempts, so on
// PostgreSQL they commit without waiting for the WAL flush (the relaxed
// pool; docs/performance.md). A password sign-in writes up to eight.
func (s *DB) rateLimits() *pool {
	if s.relaxed != nil {
		return s.relaxed
	}
	return s.writes()
}

func (s *DB) HitRateLimit(ctx context.Context, bucket string, window, expireBefore time.Time) (int, error) {
	var n int
	err := s.rateLimits().QueryRowContext(ctx, s.q(rateLimitHit), bucket, ts(window)).Scan(&n)
	if err != nil {
		return 0, s.classify(err)
	}
	if n == 1 { // first hit of a window: sweep this bucket's old windows
		if _, err := s.exec(ctx, s.rateLimits(), rateLimitSweep, bucket, ts(expireBefore)); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (s *DB) ResetRateLimit(ctx context.Context, bucket string) error {
	_, err := s.exec(ctx, s.rateLimits(), rateLimitReset, bucket)
	return err
}

// --- audit log ---

// auditTimeout bounds writing one audit event. The write does not follow
// the caller's cancellation: an event about a request must be recorded
// even when its client went away before the answer.
const auditTimeout = 10 * time.Second

func (s *DB) AppendAudit(ctx context.Context, e *domain.AuditEvent) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	// An event alone is committed with whatever else is being written
	// (group commit), and durably.
	return s.insert(ctx, "audit_events", auditCols, false, auditRow(e))
}

const auditCols = `org_id, id, occurred_at, actor, action, target, result, client_ip, detail`

// insertAudit writes e in a transaction (x), with the change it records.
func (s *DB) insertAudit(ctx context.Context, x querier, e *domain.AuditEvent) error {
	_, err := s.exec(ctx, x, `INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, auditRow(e)...)
	return s.classify(err)
}

// auditRow is e's row in auditCols' order; it gives e an id if it has none.
func auditRow(e *domain.AuditEvent) []any {
	if e.ID == "" {
		e.ID = newEventID(e.At)
	}
	id := e.ID
	e = e.Sanitized() // request input (a path segment, a bad name) made safe to store
	detail := e.Detail
	if detail == nil {
		detail = map[string]string{}
	}
	return []any{e.OrgID, id, ts(e.At), e.Actor, e.Action, e.Target, e.Result, e.ClientIP, jsonText(detail)}
}

// newEventID makes a time-ordered unique id: microseconds then random bytes.
func newEventID(at time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x%x", at.UnixMicro(), b)
}

func (s *DB) ListAudit(ctx context.Context, orgID string, f store.AuditFilter) ([]*domain.AuditEvent, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	if !storableKey(orgID, f.Action, f.Actor, f.Before) {
		return nil, nil // no event holds such a value
	}
	query := `SELECT org_id, id, occurred_at, actor, action, target, result, client_ip, detail FROM audit_events WHERE org_id = ?`
	args := []any{orgID}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if !f.Since.IsZero() {
		query += ` AND occurred_at >= ?`
		args = append(args, ts(f.Since))
	}
	if !f.Until.IsZero() {
		query += ` AND occurred_at < ?`
		args = append(args, ts(f.Until))
	}
	if f.Before != "" {
		// The page continues after the cursor event in (occurred_at, id)
		// order; an unknown cursor selects nothing.
		query += ` AND EXISTS (SELECT 1 FROM audit_events b WHERE b.org_id = ? AND b.id = ?
			AND (audit_events.occurred_at < b.occurred_at OR (audit_events.occurred_at = b.occurred_at AND audit_events.id < b.id)))`
		args = append(args, orgID, f.Before)
	}
	query += ` ORDER BY occurred_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*domain.AuditEvent, error) {
		var e domain.AuditEvent
		var at int64
		var detail string
		if err := r.Scan(&e.OrgID, &e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Result, &e.ClientIP, &detail); err != nil {
			return nil, err
		}
		e.At = tm(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("decode audit detail: %w", err)
		}
		return &e, nil
	})
}

package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// maxLogoutTokenAge bounds how old an upstream logout token's iat may be,
// and maxLogoutTokenSkew how far in the future (clocks differ a little).
const (
	maxLogoutTokenAge  = 5 * time.Minute
	maxLogoutTokenSkew = time.Minute
)

// AfterLogout continues a Latchkey logout of a federated session that has
// already ended here: through the upstream IdP's end_session_endpoint when
// the connection says to end the upstream session, else to the
// connection's logout page when there is no application to return to.
// final is where the browser goes at the very end ("" for Latchkey's
// signed-out page). It reports whether it answered the request.
func (f *Federation) AfterLogout(w http.ResponseWriter, r *http.Request, org *domain.Organization, sess *domain.Session, final string) bool {
	ctx := r.Context()
	conn, err := f.Store.GetUpstream(ctx, org.ID)
	if err != nil {
		return false
	}
	if sess != nil && len(sess.UpstreamIDToken) > 0 && conn.EndUpstreamSession {
		if f.chain(w, r, org, conn, sess, final) {
			return true
		}
	}
	if final == "" && conn.LogoutURL != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, conn.LogoutURL, http.StatusFound)
		return true
	}
	return false
}

func (f *Federation) chain(w http.ResponseWriter, r *http.Request, org *domain.Organization, conn *domain.UpstreamConnection, sess *domain.Session, final string) bool {
	ctx := r.Context()
	c, err := f.provider(ctx, conn)
	if err != nil || c.meta.EndSessionEndpoint == "" {
		if err != nil {
			f.Log.WarnContext(r.Context(), "upstream logout skipped: discovery failed", "err", err)
		}
		return false
	}
	idToken, err := f.Master.Open(sess.UpstreamIDToken, "upstream-id-token/"+org.ID)
	if err != nil {
		f.Log.WarnContext(r.Context(), "upstream logout skipped: id_token unreadable", "err", err)
		return false
	}
	now := f.now()
	state := secret.MustToken()
	if err := f.Store.CreateUpstreamLogout(ctx, &domain.UpstreamLogout{
		OrgID: org.ID, Hash: secret.Hash(state), RedirectURI: final, CreatedAt: now, ExpiresAt: now.Add(logoutLifetime),
	}); err != nil {
		f.Log.ErrorContext(r.Context(), "store upstream logout", "err", err)
		return false
	}
	u, err := url.Parse(c.meta.EndSessionEndpoint)
	if err != nil {
		return false
	}
	q := u.Query()
	q.Set("id_token_hint", string(idToken))
	q.Set("post_logout_redirect_uri", f.Directory.UpstreamLogoutCallbackURI(org.ID))
	q.Set("state", state)
	q.Set("client_id", conn.ClientID)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
	return true
}

// logoutCallback is where the upstream IdP returns after a chained logout
// (ISS/logout/callback): the browser goes on to where Latchkey's logout
// was headed.
func (f *Federation) logoutCallback(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	target := ""
	if state := r.URL.Query().Get("state"); state != "" {
		l, err := f.Store.ConsumeUpstreamLogout(r.Context(), org.ID, secret.Hash(state), f.now())
		if err == nil && f.now().Before(l.ExpiresAt) {
			target = l.RedirectURI
		}
	}
	if target == "" {
		if conn, err := f.Store.GetUpstream(r.Context(), org.ID); err == nil && conn.LogoutURL != "" {
			target = conn.LogoutURL
		}
	}
	if target == "" {
		// The session here ended before the round trip: say so.
		target = request.Issuer(r.Context()) + "/logout"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

type upstreamLogoutClaims struct {
	Subject  string                     `json:"sub"`
	SID      string                     `json:"sid"`
	IssuedAt int64                      `json:"iat"`
	JTI      string                     `json:"jti"`
	Events   map[string]json.RawMessage `json:"events"`
	Nonce    *string                    `json:"nonce"`
}

// readLogoutClaims decodes a verified logout token's claims and checks
// them (OIDC Back-Channel Logout §2.6); a non-empty problem refuses it.
func readLogoutClaims(payload []byte, now time.Time) (*upstreamLogoutClaims, string) {
	var lc upstreamLogoutClaims
	if err := json.Unmarshal(payload, &lc); err != nil {
		return nil, "the logout token's claims are malformed"
	}
	switch {
	case lc.Events == nil || !isJSONObject(lc.Events[logout.Event]):
		return nil, "the logout token lacks the back-channel logout event"
	case lc.Nonce != nil:
		return nil, "a logout token must not contain a nonce"
	case lc.Subject == "" && lc.SID == "":
		return nil, "the logout token names neither sub nor sid"
	case lc.IssuedAt <= 0 || now.Sub(time.Unix(lc.IssuedAt, 0)) > maxLogoutTokenAge:
		return nil, "the logout token is too old"
	case time.Unix(lc.IssuedAt, 0).Sub(now) > maxLogoutTokenSkew:
		return nil, "the logout token was issued in the future"
	case lc.JTI == "":
		return nil, "the logout token has no jti"
	}
	return &lc, ""
}

// backchannel receives the upstream IdP's Back-Channel Logout tokens
// (ISS/backchannel) and ends the matching Latchkey sessions, which in turn
// notifies this organization's applications.
func (f *Federation) backchannel(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	bad := func(msg string, err error) {
		if err != nil {
			f.Log.WarnContext(r.Context(), "upstream back-channel logout refused", "reason", msg, "err", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": msg})
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		bad("the body must be a form of at most 64 KiB", err)
		return
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" || len(r.PostForm["logout_token"]) > 1 {
		bad("logout_token is required once", nil)
		return
	}
	conn, err := f.Store.GetUpstream(ctx, org.ID)
	if err != nil {
		bad("this organization has no upstream identity provider", err)
		return
	}
	c, err := f.provider(ctx, conn)
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	tok, err := c.provider.Verifier(&oidc.Config{ClientID: conn.ClientID}).Verify(f.clientCtx(ctx), raw)
	if err != nil {
		bad("the logout token did not verify", err)
		return
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		bad("the logout token's claims are malformed", err)
		return
	}
	lc, problem := readLogoutClaims(payload, f.now())
	if problem != "" {
		bad(problem, nil)
		return
	}
	// A logout token is single use (§2.6): remember its jti, in the
	// database so a replay to another node is refused too, for as long as
	// the token would be accepted.
	until := time.Unix(lc.IssuedAt, 0).Add(maxLogoutTokenAge)
	if tok.Expiry.After(until) {
		until = tok.Expiry
	}
	seen := secret.Hash(tok.Issuer + "\x00" + lc.JTI)
	switch err := f.Store.RememberLogoutToken(ctx, org.ID, seen, until, f.now()); {
	case errors.Is(err, store.ErrAlreadyUsed):
		bad("the logout token was already used", nil)
		return
	case err != nil:
		f.Log.ErrorContext(r.Context(), "remember upstream logout token", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	// From here the logout is carried out even if the upstream stops
	// waiting (its delivery timed out on a busy node): ended halfway and
	// retried, the retry would find the sessions ended and record none.
	ctx = context.WithoutCancel(ctx)
	var sessions []*domain.Session
	if lc.SID != "" {
		sessions, err = f.Store.ListSessionsByUpstreamSID(ctx, org.ID, lc.SID)
	} else {
		var user *domain.User
		user, err = f.Store.GetUserByUpstream(ctx, org.ID, tok.Issuer, lc.Subject)
		if err == nil {
			sessions, err = f.Store.ListUserSessions(ctx, org.ID, user.Sub)
		} else if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	}
	// Until the sessions are ended, a failure forgets the token again:
	// the upstream retries it, and the retry must not count as a replay.
	failed := func(what string, err error) {
		f.Log.ErrorContext(r.Context(), what, "err", err)
		if err := f.Store.ForgetLogoutToken(ctx, org.ID, seen); err != nil {
			f.Log.ErrorContext(r.Context(), "forget upstream logout token", "err", err)
		}
		w.WriteHeader(http.StatusInternalServerError)
	}
	if err != nil {
		failed("find sessions for upstream logout", err)
		return
	}
	ended := 0
	for _, s := range sessions {
		if lc.Subject != "" && s.UpstreamSubject != lc.Subject {
			continue
		}
		if !s.EndedAt.IsZero() {
			continue
		}
		if err := f.Logout.EndSession(ctx, org.ID, s.SID); err != nil {
			failed("end session for upstream logout", err)
			return
		}
		ended++
	}
	f.audit(r, org.ID, lc.Subject, "logout.upstream_backchannel", "ok", map[string]string{"sessions": strconv.Itoa(ended)})
	w.WriteHeader(http.StatusOK)
}

// isJSONObject reports whether raw is a JSON object (the event's value
// must be one, §2.4).
func isJSONObject(raw json.RawMessage) bool {
	var m map[string]any
	return len(raw) > 0 && json.Unmarshal(raw, &m) == nil && m != nil
}

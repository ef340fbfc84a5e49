// Package logout ends single sign-on sessions for every application at
// once: it ends the session, revokes the tokens bound to it, and notifies
// each participating application that registered a back-channel logout URI
// (OpenID Connect Back-Channel Logout 1.0).
//
// Notifications go through a durable outbox in the database. Any node's
// worker may deliver them; failed deliveries are retried with backoff
// across restarts, and every attempt is recorded. It never blocks a
// browser's logout on an application's availability.
package logout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
)

// Event is the logout token's event type (§2.4).
const Event = "http://schemas.openid.net/event/backchannel-logout"

// Delivery policy.
const (
	tokenLifetime = 2 * time.Minute
	lease         = 30 * time.Second
	maxAttempts   = 12
	batch         = 20
	pollInterval  = 2 * time.Second
)

// backoff is the wait before attempt n+1 after n failures: 5 s, 15 s, 45 s …
// capped at one hour; 12 attempts span about seven hours.
func backoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 3
	}
	return min(d, time.Hour)
}

// Service ends sessions and delivers back-channel logout notifications.
type Service struct {
	Store     store.Store
	Keys      *signer.Keys
	Client    *http.Client
	Log       *slog.Logger
	PublicURL string
	Now       func() time.Time

	kick chan struct{}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// EndSession ends the organization's session sid for every application:
// the session ends, its tokens are revoked, and each participating
// application with a back-channel logout URI is queued for notification,
// all in one transaction. Ending a session that already ended does
// nothing. The audit event names the session's user as the actor.
func (s *Service) EndSession(ctx context.Context, orgID, sid string) error {
	return s.EndSessionBy(ctx, orgID, sid, "", "")
}

// EndSessionBy is EndSession on behalf of actor (an admin ending a user's
// session); "" names the session's user.
func (s *Service) EndSessionBy(ctx context.Context, orgID, sid, actor, clientIP string) error {
	now := s.now()
	queued := 0
	err := s.Store.EndSessionAndNotify(ctx, orgID, sid, now, func(sess *domain.Session, apps []*domain.Application) ([]*domain.BackchannelDelivery, *domain.AuditEvent) {
		var queue []*domain.BackchannelDelivery
		clients := make([]string, 0, len(apps))
		for _, app := range apps {
			clients = append(clients, app.ClientID)
			if app.BackchannelLogoutURI == "" {
				continue
			}
			queue = append(queue, &domain.BackchannelDelivery{
				OrgID: orgID, ID: secret.MustToken(), ClientID: app.ClientID, UserSub: sess.UserSub, SID: sid,
				CreatedAt: now, NextAttemptAt: now,
			})
		}
		queued = len(queue)
		by := actor
		if by == "" {
			by = sess.UserSub
		}
		return queue, &domain.AuditEvent{OrgID: orgID, At: now, Actor: by, Action: "logout", Target: sid, Result: "ok", ClientIP: clientIP,
			Detail: map[string]string{"user": sess.UserSub, "applications": strings.Join(clients, " "), "notified": fmt.Sprint(len(queue))}}
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if queued > 0 {
		s.Kick()
	}
	return nil
}

// Kick asks the worker to look at the outbox now.
func (s *Service) Kick() {
	if s.kick == nil {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run delivers due notifications until ctx ends. Call it once per process;
// several processes may run it against one database.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		s.DeliverDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Start makes Kick effective and runs the worker in the background.
func (s *Service) Start(ctx context.Context) {
	s.kick = make(chan struct{}, 1)
	go s.Run(ctx)
}

// DeliverDue attempts every delivery that is due now and returns how many
// it attempted.
func (s *Service) DeliverDue(ctx context.Context) int {
	ds, err := s.Store.ClaimBackchannel(ctx, s.now(), lease, batch)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Error("claim back-channel logout deliveries", "err", err)
		}
		return 0
	}
	for _, d := range ds {
		s.attempt(ctx, d)
	}
	return len(ds)
}

func (s *Service) attempt(ctx context.Context, d *domain.BackchannelDelivery) {
	now := s.now()
	d.Attempts++
	a := &domain.BackchannelAttempt{OrgID: d.OrgID, DeliveryID: d.ID, Attempt: d.Attempts, At: now}
	status, err := s.send(ctx, d)
	a.Status = status
	if err == nil {
		d.DeliveredAt, d.LastError = now, ""
	} else {
		a.Error, d.LastError = err.Error(), err.Error()
		if d.Attempts >= maxAttempts {
			d.GaveUpAt = now
			s.Log.Warn("back-channel logout given up", "org", d.OrgID, "client_id", d.ClientID, "attempts", d.Attempts, "err", err)
		} else {
			d.NextAttemptAt = now.Add(backoff(d.Attempts))
			s.Log.Info("back-channel logout failed; will retry", "org", d.OrgID, "client_id", d.ClientID,
				"attempt", d.Attempts, "retry_at", d.NextAttemptAt, "err", err)
		}
	}
	if err := s.Store.FinishBackchannelAttempt(ctx, d, a); err != nil && ctx.Err() == nil {
		s.Log.Error("record back-channel logout attempt", "err", err)
	}
}

// logoutClaims are a logout token's claims (§2.4).
type logoutClaims struct {
	Issuer   string                    `json:"iss"`
	Audience string                    `json:"aud"`
	IssuedAt int64                     `json:"iat"`
	Expiry   int64                     `json:"exp"`
	JTI      string                    `json:"jti"`
	Subject  string                    `json:"sub"`
	SID      string                    `json:"sid"`
	Events   map[string]map[string]any `json:"events"`
}

// send signs a fresh logout token and POSTs it to the application.
func (s *Service) send(ctx context.Context, d *domain.BackchannelDelivery) (int, error) {
	app, err := s.Store.GetApp(ctx, d.OrgID, d.ClientID)
	if err != nil {
		return 0, fmt.Errorf("application: %w", err)
	}
	if app.BackchannelLogoutURI == "" {
		return 0, errors.New("application no longer has a back-channel logout URI")
	}
	now := s.now()
	tok, err := s.Keys.Sign(ctx, d.OrgID, app.IDTokenAlg, "logout+jwt", logoutClaims{
		Issuer: s.PublicURL + "/o/" + d.OrgID, Audience: app.ClientID, IssuedAt: now.Unix(), Expiry: now.Add(tokenLifetime).Unix(),
		JTI: secret.MustToken(), Subject: d.UserSub, SID: d.SID, Events: map[string]map[string]any{Event: {}},
	})
	if err != nil {
		return 0, fmt.Errorf("sign logout token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.BackchannelLogoutURI, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return resp.StatusCode, fmt.Errorf("application answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

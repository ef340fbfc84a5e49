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
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/outbound"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
)

// Event is the logout token's event type (§2.4).
const Event = "http://schemas.openid.net/event/backchannel-logout"

// Delivery policy. A worker claims a delivery only when a sender is free to
// send it at once, and each send ends well inside the lease (sendBudget), so
// no other worker takes a delivery while it is being sent.
const (
	tokenLifetime = 2 * time.Minute
	maxAttempts   = 12
	pollInterval  = 2 * time.Second

	DefaultLease       = 30 * time.Second
	DefaultSenders     = 16
	DefaultPerOrg      = 4
	DefaultSendTimeout = 10 * time.Second
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

// Store is what single logout reads and writes: only the methods it calls.
type Store interface {
	ClaimBackchannel(ctx context.Context, c store.BackchannelClaim) ([]*domain.BackchannelDelivery, error)
	EndSessionAndNotify(ctx context.Context, orgID, sid string, at time.Time, plan store.LogoutPlan) error
	FinishBackchannelAttempt(ctx context.Context, owner string, d *domain.BackchannelDelivery, a *domain.BackchannelAttempt) error
	GetApp(ctx context.Context, orgID, clientID string) (*domain.Application, error)
}

// Service ends sessions and delivers back-channel logout notifications.
type Service struct {
	Store     Store
	Keys      *signer.Keys
	Client    *http.Client
	Log       *slog.Logger
	PublicURL string
	Now       func() time.Time

	// Lease is how long a claimed delivery is held (DefaultLease if 0).
	Lease time.Duration
	// Senders bounds the concurrent sends of this process (DefaultSenders
	// if 0); PerOrg bounds those of one organization (DefaultPerOrg if 0),
	// so one organization's slow or dead endpoints cannot hold every sender.
	Senders, PerOrg int
	// SendTimeout bounds one send (DefaultSendTimeout if 0); it is cut
	// further to half the lease.
	SendTimeout time.Duration

	kick  chan struct{}
	owner string

	mu       sync.Mutex
	held     map[string]int // organization → sends in flight
	inflight int
	sends    sync.WaitGroup
	// abort cancels the sends in flight (shutdown past its grace).
	abort      context.Context
	abortSends context.CancelFunc
}

func (s *Service) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner != "" {
		return
	}
	s.owner = secret.MustToken()
	s.held = map[string]int{}
	s.abort, s.abortSends = context.WithCancel(context.Background())
}

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

func (s *Service) senders() int {
	if s.Senders > 0 {
		return s.Senders
	}
	return DefaultSenders
}

func (s *Service) perOrg() int {
	if s.PerOrg > 0 {
		return s.PerOrg
	}
	return DefaultPerOrg
}

// sendBudget is how long one send may take: the send timeout, but never
// more than half the lease, leaving the rest for signing, recording the
// result and clock differences between nodes.
func (s *Service) sendBudget() time.Duration {
	d := s.SendTimeout
	if d <= 0 {
		d = DefaultSendTimeout
	}
	return min(d, s.lease()/2)
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

// Run delivers due notifications until ctx ends, then stops claiming; the
// sends in flight go on until they finish or Drain cuts them short. Call
// it once per process; several processes may run it against one database.
func (s *Service) Run(ctx context.Context) {
	s.init()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		s.dispatch(ctx)
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
	s.init()
	s.kick = make(chan struct{}, 1)
	if s.Log != nil {
		s.Log.Info("back-channel logout worker started", "owner", s.owner, "senders", s.senders(), "per_org", s.perOrg(),
			"lease", s.lease().String(), "send_timeout", s.sendBudget().String())
	}
	go s.Run(ctx)
}

// Drain waits for the sends in flight after the worker's context ended.
// When ctx ends first, it cancels them: each records its attempt as
// interrupted and releases its delivery for another node at once.
// It returns how many sends it cut short.
func (s *Service) Drain(ctx context.Context) int {
	s.init()
	done := make(chan struct{})
	go func() { s.sends.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := s.inflight
	s.mu.Unlock()
	s.abortSends()
	<-done
	return n
}

// DeliverDue claims what is due now, sends it, waits for the sends and
// returns how many it attempted.
func (s *Service) DeliverDue(ctx context.Context) int {
	s.init()
	n := s.dispatch(ctx)
	s.sends.Wait()
	return n
}

// dispatch claims as many due deliveries as there are free senders, within
// the per-organization cap, and starts sending each.
func (s *Service) dispatch(ctx context.Context) int {
	total := 0
	for ctx.Err() == nil {
		s.mu.Lock()
		free := s.senders() - s.inflight
		held := maps.Clone(s.held)
		s.mu.Unlock()
		if free <= 0 {
			return total
		}
		ds, err := s.Store.ClaimBackchannel(ctx, store.BackchannelClaim{
			Owner: s.owner, Now: s.now(), Lease: s.lease(), Limit: free, PerOrg: s.perOrg(), Held: held,
		})
		if err != nil && ctx.Err() == nil {
			s.Log.Error("claim back-channel logout deliveries", "err", err)
		}
		for _, d := range ds {
			s.mu.Lock()
			s.inflight++
			s.held[d.OrgID]++
			s.mu.Unlock()
			s.sends.Add(1)
			go func() {
				defer s.sends.Done()
				s.attempt(d)
				s.mu.Lock()
				s.inflight--
				if s.held[d.OrgID]--; s.held[d.OrgID] == 0 {
					delete(s.held, d.OrgID)
				}
				s.mu.Unlock()
				s.Kick() // a sender is free
			}()
		}
		total += len(ds)
		if err != nil || len(ds) < free {
			return total
		}
	}
	return total
}

// attempt sends one claimed delivery and records the result. It runs to
// the end even when the worker stops, unless Drain aborts it; the result
// is recorded in any case, so that no real send goes unrecorded.
func (s *Service) attempt(d *domain.BackchannelDelivery) {
	ctx, cancel := context.WithTimeout(s.abort, s.sendBudget())
	defer cancel()
	status, err := s.send(ctx, d)
	if err != nil && s.abort.Err() != nil {
		err = errors.New("interrupted: the node shut down during the send")
	}
	now := s.now()
	a := &domain.BackchannelAttempt{OrgID: d.OrgID, DeliveryID: d.ID, Attempt: d.Attempts, At: now, Status: status}
	switch {
	case err == nil:
		d.DeliveredAt, d.LastError = now, ""
	case s.abort.Err() != nil:
		// Shutting down: hand the delivery to another node now.
		a.Error = outbound.Public(err)
		d.LastError, d.NextAttemptAt = a.Error, now
	default:
		// An org admin reads these records: one word for "could not reach it"
		// (whatever the reason), the exact reason only in the log below.
		a.Error = outbound.Public(err)
		d.LastError = a.Error
		if d.Attempts >= maxAttempts {
			d.GaveUpAt = now
			s.Log.Warn("back-channel logout given up", "org", d.OrgID, "client_id", d.ClientID, "attempts", d.Attempts, "err", err)
		} else {
			d.NextAttemptAt = now.Add(backoff(d.Attempts))
			s.Log.Info("back-channel logout failed; will retry", "org", d.OrgID, "client_id", d.ClientID,
				"attempt", d.Attempts, "retry_at", d.NextAttemptAt, "err", err)
		}
	}
	// Recording outlives a stopping worker: the database gets its own deadline.
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	switch err := s.Store.FinishBackchannelAttempt(rctx, s.owner, d, a); {
	case errors.Is(err, store.ErrLeaseLost):
		s.Log.Warn("back-channel logout lease lost before the attempt was recorded; another worker holds it",
			"org", d.OrgID, "client_id", d.ClientID, "attempt", d.Attempts)
	case err != nil:
		s.Log.Error("record back-channel logout attempt", "org", d.OrgID, "client_id", d.ClientID, "attempt", d.Attempts, "err", err)
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
		Issuer: domain.IssuerURL(s.PublicURL, d.OrgID), Audience: app.ClientID, IssuedAt: now.Unix(), Expiry: now.Add(tokenLifetime).Unix(),
		JTI: secret.MustToken(), Subject: d.UserSub, SID: d.SID, Events: map[string]map[string]any{Event: {}},
	})
	if err != nil {
		return 0, fmt.Errorf("sign logout token: %w", err)
	}
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

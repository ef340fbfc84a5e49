package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/admin/api"
	"github.com/latchkey/latchkey/internal/admin/portal"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/held"
	"github.com/latchkey/latchkey/internal/mfa"
	"github.com/latchkey/latchkey/internal/op"
	"github.com/latchkey/latchkey/internal/platform"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/scim"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/throttle"
	"github.com/latchkey/latchkey/internal/upstream"
	"github.com/latchkey/latchkey/web"
)

// routes mounts every URL of the product.
func (s *Server) routes() error {
	env := s.env
	clock := func() time.Time { return env.Now() }
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metrics())
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})

	// Single logout is built with the environment, so sessions get it at
	// construction: a login replacing another user's session ends that one
	// the way a logout does.
	s.logout = env.Logout
	sessions := &session.Sessions{
		Store: env.Store, Tokens: env.Store, Now: clock, Logout: s.logout,
		Secure:  strings.HasPrefix(env.Config.PublicURL, "https://"),
		CSRFKey: env.Master.Derive("csrf"),
	}
	templates := web.Templates()
	// Every route of an organization's issuer (/o/{org}/…) passes the same
	// front door: it loads the organization once and hands it, with its
	// issuer URL, to the handler through the request's context.
	door := &request.Door{Orgs: env.Store, PublicURL: env.Config.PublicURL}
	issuers := &request.Issuers{Mux: s.mux, Door: door}
	federation := &upstream.Federation{
		Store: env.Store, Directory: env.Directory, Sessions: sessions, Logout: s.logout, Master: env.Master,
		Client: s.outbound, Templates: templates, Log: s.log, Now: clock,
	}
	federation.Register(issuers)
	// Login tickets minted by this node's trusted-platform API, held for
	// its sign-in pages (package held).
	tickets := &held.Memory[*domain.LoginTicket]{}
	provider := &op.Provider{
		Store: env.Store, Keys: env.Keys, Sessions: sessions, Logout: s.logout, Upstream: federation, Tickets: tickets,
		Limiter:   &throttle.Limiter{Store: env.Store, Now: clock},
		Templates: templates, Log: s.log, PublicURL: env.Config.PublicURL,
		RequestID: RequestID, Now: clock,
		MFA: &mfa.Service{Store: env.Store, Master: env.Master, PublicURL: env.Config.PublicURL, Now: clock},
	}
	provider.Register(issuers)
	door.Fail = provider.InternalError
	s.mux.HandleFunc("GET /{$}", provider.TicketLanding)
	(&platform.API{
		Store: env.Store, Directory: env.Directory, Limiter: provider.Limiter, Log: s.log,
		PublicURL: env.Config.PublicURL, Tickets: tickets, Now: clock,
	}).Register(s.mux)
	(&api.API{Directory: env.Directory, Log: s.log}).Register(s.mux)
	(&scim.Service{Directory: env.Directory, PublicURL: env.Config.PublicURL, Log: s.log, RequestID: RequestID}).Register(s.mux)

	s.mux.Handle("/admin/", (&portal.Portal{
		Directory: env.Directory, Store: env.Store, Log: s.log,
		Loopback:  portal.InProcess(func() http.Handler { return s.handler }),
		PublicURL: env.Config.PublicURL, RequestID: RequestID, Now: clock,
	}).Handler())

	for pattern, h := range s.extra {
		s.mux.Handle(pattern, h)
	}
	return nil
}

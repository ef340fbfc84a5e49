// Package server wires Latchkey's parts into one http.Handler. routes()
// builds every component and lets each register its own URLs (op,
// upstream, platform, admin/api each have a Register method), so routes()
// is where to start reading to find which package serves a URL.
//
// It holds no protocol logic of its own: only wiring, request ids, access
// logs, metrics and panic recovery.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
)

// Server is Latchkey's HTTP side.
type Server struct {
	env      *bootstrap.Env
	log      *slog.Logger
	mux      *http.ServeMux
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  http.Handler
	// extra lets the demo mount its applications on the same listener.
	extra map[string]http.Handler
	// outbound is the guarded client for admin-aimed requests.
	outbound *http.Client
	logout   *logout.Service
}

// Option changes how New builds the server.
type Option func(*Server)

// WithHandler mounts h at pattern (used by `latchkey demo` for its apps).
func WithHandler(pattern string, h http.Handler) Option {
	return func(s *Server) { s.extra[pattern] = h }
}

// New builds the server over env.
func New(env *bootstrap.Env, opts ...Option) (*Server, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		env: env, log: slog.New(request.NewLogHandler(log.Handler())), mux: http.NewServeMux(), registry: prometheus.NewRegistry(), extra: map[string]http.Handler{},
		outbound: env.Outbound,
	}
	for _, o := range opts {
		o(s)
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The store's own: its cache, its connection pools, its batching writer.
	if c, ok := env.Store.(interface{ Collectors() []prometheus.Collector }); ok {
		s.registry.MustRegister(c.Collectors()...)
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "latchkey_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	s.registry.MustRegister(s.requests, s.latency)
	if err := s.routes(); err != nil {
		return nil, err
	}
	s.handler = s.observe(s.mux)
	return s, nil
}

// Start runs the background workers (back-channel logout delivery) until
// ctx ends. Every node runs them; the database hands each job to one.
func (s *Server) Start(ctx context.Context) {
	s.env.FollowChanges(ctx)
	s.logout.Start(ctx)
	go s.purge(ctx)
}

// Drain finishes the background work after Start's context ended: the
// back-channel sends in flight get until ctx ends, then are cut short and
// their deliveries handed back to the other nodes at once.
func (s *Server) Drain(ctx context.Context) {
	if n := s.logout.Drain(ctx); n > 0 {
		s.log.Info("released back-channel logout deliveries still being sent", "deliveries", n)
	}
}

// Expired rows are kept for purgeGrace (for investigation) and then
// deleted, checked every purgeInterval. Several nodes purging at once only
// repeat the same idempotent deletes.
const (
	purgeInterval = 10 * time.Minute
	purgeGrace    = 24 * time.Hour
)

func (s *Server) purge(ctx context.Context) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.env.Store.PurgeExpired(ctx, s.env.Now().Add(-purgeGrace))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("purge expired rows", "err", err)
		case n > 0:
			s.log.Info("purged expired rows", "rows", n)
		}
	}
}

// Handler is the whole product as one http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry exposes the metrics registry so components can add collectors.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.env.Store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		w.Header().Set("Retry-After", RetryAfter)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (s *Server) metrics() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// clientAddr returns the client's address as host:port when the request
// came through a trusted reverse proxy: the right-most X-Forwarded-For hop
// that is not itself a trusted proxy. It returns "" to keep RemoteAddr.
func (s *Server) clientAddr(r *http.Request) string {
	proxies := s.env.Config.TrustedProxies
	if len(proxies) == 0 {
		return ""
	}
	trusted := func(v string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return false
		}
		for _, p := range proxies {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !trusted(host) {
		return ""
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" || trusted(hop) {
			continue
		}
		a, err := netip.ParseAddr(hop)
		if err != nil {
			return ""
		}
		return netip.AddrPortFrom(a.Unmap(), 0).String()
	}
	return ""
}

// RequestID returns the id the server gave this request ("" outside one).
func RequestID(ctx context.Context) string { return request.ID(ctx) }

// RetryAfter is the Retry-After (seconds) of a 503 that an unavailable
// database caused: about how long a PostgreSQL failover takes.
const RetryAfter = "5"

type statusWriter struct {
	http.ResponseWriter
	code int
	ctx  context.Context
}

// WriteHeader turns a 500 into 503 with Retry-After when the request met
// an unavailable database: the failure is the database's, not the
// request's, and a client or balancer should retry.
func (w *statusWriter) WriteHeader(code int) {
	if code == http.StatusInternalServerError && store.Unavailable(w.ctx) {
		code = http.StatusServiceUnavailable
	}
	if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", RetryAfter)
	}
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives each request an id, recovers panics into a 500 with a
// reference, logs one line per request (path only: queries carry secrets)
// and records metrics by route pattern.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		if addr := s.clientAddr(r); addr != "" {
			r.RemoteAddr = addr
		}
		r = r.WithContext(store.TrackUnavailable(request.Begin(r.Context(), id, request.ClientIP(r))))
		sw := &statusWriter{ResponseWriter: w, ctx: r.Context()}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", p)
				if sw.code == 0 {
					http.Error(sw, "internal error (reference "+id+")", http.StatusInternalServerError)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
			s.log.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "route", route,
				"status", code, "duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

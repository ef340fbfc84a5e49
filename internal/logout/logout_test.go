package logout_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/outbound"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
)

var backends = []string{"sqlite", "postgres"}

// openEnv opens a migrated store of backend with signing keys, and no
// server: the only outbox workers are the ones a test starts.
func openEnv(t *testing.T, backend string) *bootstrap.Env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Config{
		Addr: "127.0.0.1:0", PublicURL: "http://latchkey.test", DataDir: dir, MasterKeyFile: filepath.Join(dir, "master.key"),
		Database: "sqlite:" + filepath.Join(dir, "latchkey.db"), OutboundAllowLoopback: true,
	}
	if backend == "postgres" {
		cfg.Database = testdb.PostgresURL(t)
		cfg.MasterKeyExplicit = true
		if _, err := secret.CreateMasterKeyFile(cfg.MasterKeyFile); err != nil {
			t.Fatal(err)
		}
	}
	env, err := bootstrap.Open(context.Background(), cfg, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	return env
}

// endpoint is an application's back-channel logout URI that records every
// POST by the logout token's sid.
type endpoint struct {
	*httptest.Server
	mu       sync.Mutex
	posts    map[string]int // sid → POSTs received
	inFlight int
	maxIn    int
	handle   func(w http.ResponseWriter, r *http.Request) // after recording
}

func newEndpoint(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *endpoint {
	e := &endpoint{posts: map[string]int{}, handle: handle}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := logoutSID(t, r.PostFormValue("logout_token"))
		e.mu.Lock()
		e.posts[sid]++
		e.inFlight++
		e.maxIn = max(e.maxIn, e.inFlight)
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			e.inFlight--
			e.mu.Unlock()
		}()
		if e.handle != nil {
			e.handle(w, r)
		}
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) count() (posts int, perSID map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	perSID = map[string]int{}
	for sid, n := range e.posts {
		perSID[sid] = n
		posts += n
	}
	return posts, perSID
}

// logoutSID reads the sid claim of a logout token (the signature is the
// interop tests' concern).
func logoutSID(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Errorf("logout token is not a compact JWS: %q", tok)
		return ""
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Errorf("logout token payload: %v", err)
		return ""
	}
	var c struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Errorf("logout token claims: %v", err)
	}
	return c.SID
}

// queue creates org with an application whose back-channel URI is uri and
// queues n deliveries to it, one per session sid-ORG-i.
func queue(t *testing.T, env *bootstrap.Env, org, uri string, n int) []*domain.BackchannelDelivery {
	t.Helper()
	ctx := context.Background()
	actor := directory.Actor{Name: "test"}
	if _, _, err := env.Directory.CreateOrg(ctx, actor, org, "Org "+org); err != nil {
		t.Fatal(err)
	}
	name, grants := "App", []string{"authorization_code"}
	app, _, err := env.Directory.CreateApp(ctx, actor, org, false, directory.AppChanges{
		Name: &name, RedirectURIs: &[]string{"https://app.example/cb"}, GrantTypes: &grants, BackchannelLogoutURI: &uri,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ds []*domain.BackchannelDelivery
	for i := range n {
		ds = append(ds, &domain.BackchannelDelivery{OrgID: org, ID: secret.MustToken(), ClientID: app.ClientID, UserSub: "sub-1",
			SID: fmt.Sprintf("sid-%s-%d", org, i), CreatedAt: now, NextAttemptAt: now})
	}
	if err := env.Store.EnqueueBackchannel(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	return ds
}

// logBuffer collects a worker's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func worker(env *bootstrap.Env, log io.Writer, lease time.Duration, senders, perOrg int) *logout.Service {
	return &logout.Service{
		Store: env.Store, Keys: env.Keys,
		Client: outbound.NewClient(true, 15*time.Second), Log: slog.New(slog.NewTextHandler(log, nil)),
		PublicURL: env.Config.PublicURL, Lease: lease, Senders: senders, PerOrg: perOrg,
	}
}

func delivered(t *testing.T, s store.Store, ds []*domain.BackchannelDelivery) int {
	n := 0
	for _, d := range ds {
		got, err := s.ListBackchannel(context.Background(), d.OrgID, d.SID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && !got[0].DeliveredAt.IsZero() {
			n++
		}
	}
	return n
}

// An endpoint that answers after a while, with a backlog that takes
// several workers longer than one lease to send: a worker that claimed a
// batch and sent it row by row let its later rows' leases run out while
// they were still queued, and another worker sent them again (and the two
// collided recording the same attempt number).
func TestBackchannel_SlowEndpointBacklogLongerThanTheLeaseIsSentOncePerDelivery(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			env := openEnv(t, backend)
			const n, workers = 30, 3
			const lease = 2 * time.Second
			// Each answer takes a tenth of the lease; one worker's share of
			// the backlog sent one by one would take about three leases.
			app := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(lease / 10):
				case <-r.Context().Done():
				}
			})
			ds := queue(t, env, "acme", app.URL+"/bc", n)
			logs := &logBuffer{}
			ctx, stop := context.WithCancel(context.Background())
			var ws []*logout.Service
			for range workers {
				w := worker(env, logs, lease, 2, 2)
				w.Start(ctx)
				ws = append(ws, w)
			}
			testkit.WaitFor(t, "every delivery to be recorded as delivered", func() bool { return delivered(t, env.Store, ds) == n })
			stop()
			for _, w := range ws {
				w.Drain(context.Background())
			}

			posts, perSID := app.count()
			for _, d := range ds {
				if perSID[d.SID] != 1 {
					t.Errorf("%s was POSTed %d times, want once", d.SID, perSID[d.SID])
				}
				attempts, err := env.Store.ListBackchannelAttempts(context.Background(), d.OrgID, d.ID)
				if err != nil || len(attempts) != 1 || attempts[0].Status != http.StatusOK || attempts[0].Error != "" {
					t.Errorf("%s attempts: %+v %v, want one, 200", d.SID, attempts, err)
				}
			}
			if posts != n {
				t.Errorf("%d POSTs for %d notifications", posts, n)
			}
			if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "lease lost") {
				t.Errorf("worker log:\n%s", logs)
			}
		})
	}
}

// One organization's endpoint hangs; another organization's logouts go
// out meanwhile, because a worker gives one organization only its share of
// senders.
func TestBackchannel_HangingOrganizationDoesNotDelayAnother(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			env := openEnv(t, backend)
			release := make(chan struct{})
			hanging := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			fast := newEndpoint(t, nil)
			slowDs := queue(t, env, "slow", hanging.URL+"/bc", 10)
			fastDs := queue(t, env, "fast", fast.URL+"/bc", 6)
			w := worker(env, io.Discard, time.Minute, 4, 2)
			ctx, stop := context.WithCancel(context.Background())
			w.Start(ctx)
			testkit.WaitFor(t, "the other organization's logouts", func() bool { return delivered(t, env.Store, fastDs) == len(fastDs) })
			// Its second sender may start after the other organization's
			// logouts went out, on a busy machine: wait for it.
			testkit.WaitFor(t, "the hanging organization to hold its cap of 2 senders", func() bool {
				hanging.mu.Lock()
				defer hanging.mu.Unlock()
				return hanging.inFlight == 2
			})
			close(release)
			testkit.WaitFor(t, "the hanging organization's logouts", func() bool { return delivered(t, env.Store, slowDs) == len(slowDs) })
			stop()
			w.Drain(context.Background())
			if hanging.maxIn > 2 {
				t.Errorf("hanging organization had %d sends at once, want at most 2", hanging.maxIn)
			}
		})
	}
}

// A stopping node whose sends do not finish within its grace cancels them,
// records each attempt as interrupted and releases the delivery, so another
// node sends it at once instead of after the lease.
func TestBackchannel_DrainReleasesTheLeasesItHolds(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			env := openEnv(t, backend)
			var mu sync.Mutex
			hang := true
			app := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				h := hang
				mu.Unlock()
				if h {
					<-r.Context().Done()
				}
			})
			ds := queue(t, env, "acme", app.URL+"/bc", 1)
			first := worker(env, io.Discard, time.Hour, 4, 4)
			ctx, stop := context.WithCancel(context.Background())
			first.Start(ctx)
			testkit.WaitFor(t, "the first send", func() bool { posts, _ := app.count(); return posts == 1 })
			stop()
			expired, cancel := context.WithCancel(context.Background())
			cancel()
			first.Drain(expired)

			mu.Lock()
			hang = false
			mu.Unlock()
			second := worker(env, io.Discard, time.Hour, 4, 4)
			if n := second.DeliverDue(context.Background()); n != 1 {
				t.Fatalf("another node claimed %d deliveries right after the shutdown, want 1 (the lease was not released)", n)
			}
			attempts, err := env.Store.ListBackchannelAttempts(context.Background(), "acme", ds[0].ID)
			if err != nil || len(attempts) != 2 || !strings.Contains(attempts[0].Error, "interrupted") || attempts[1].Status != http.StatusOK {
				t.Fatalf("attempts: %+v %v", attempts, err)
			}
			if delivered(t, env.Store, ds) != 1 {
				t.Fatal("not delivered")
			}
		})
	}
}

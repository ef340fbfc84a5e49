package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store/cache"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestCache_ChangesOnOneNodeStopWorkingOnTheOther runs two nodes on one
// PostgreSQL schema. Node B has the application cached; on node A the
// client secret and the API key are rotated, an upstream connection added
// and removed, the user changed (by plain SQL too), disabled and renamed,
// and the application deleted. Each must stop working on B. Both caches keep entries for an hour, so
// only the database's change announcements can make B notice: the bound is
// the announcement's delivery (milliseconds), not a timer.
func TestCache_ChangesOnOneNodeStopWorkingOnTheOther(t *testing.T) {
	a := servertest.StartOP(t, "postgres")
	b := servertest.NewOP(t, servertest.Start(t, "postgres", servertest.Options{
		Database: a.Inst.Env.Config.Database, MasterKeyFile: a.Inst.Env.Config.MasterKeyFile,
	}), a.Fx)
	caches := map[string]*cache.Store{}
	for name, n := range map[string]*servertest.OP{"A": a, "B": b} {
		c, ok := n.Inst.Env.Store.(*cache.Store)
		if !ok {
			t.Fatalf("node %s's store is %T, not cached", name, n.Inst.Env.Store)
		}
		c.SetTTL(time.Hour)
		caches[name] = c
	}
	eventually(t, "node B follows the change announcements", caches["B"].Live)

	c := b.Client(a.Fx)
	cc := url.Values{"grant_type": {"client_credentials"}}
	tokens := b.SignIn(t, servertest.NewBrowser(t), c) // on B
	if tokens.Refresh == "" {
		t.Fatal("no refresh token")
	}
	if r := b.BackChannel(t, c, "/token", servertest.AuthBasic, cc); r.Status != http.StatusOK {
		t.Fatalf("client_credentials on B: %d %s", r.Status, r.Body)
	}
	if !caches["B"].HasApp(c.Org, c.ID) {
		t.Fatal("node B did not cache the application; the test would prove nothing")
	}
	ctx := context.Background()

	t.Run("a rotated client secret", func(t *testing.T) {
		secret, err := a.Inst.Env.Directory.RotateAppSecret(ctx, a.Inst.Actor, c.Org, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the old secret is refused on B", func() bool {
			return b.BackChannel(t, c, "/token", servertest.AuthBasic, cc).Status == http.StatusUnauthorized
		})
		c.Secret = secret
		if r := b.BackChannel(t, c, "/token", servertest.AuthBasic, cc); r.Status != http.StatusOK {
			t.Fatalf("the new secret on B: %d %s", r.Status, r.Body)
		}
	})

	t.Run("a rotated API key", func(t *testing.T) {
		platformCall := func(key string) int {
			req, _ := http.NewRequest(http.MethodPost, b.Inst.URL+"/api/organization/"+c.Org+"/user/"+a.Fx.UserName+"/generate-token", nil)
			req.Header.Set("x-org-id", c.Org)
			req.Header.Set("x-api-key", key)
			return b.Send(t, req).Status
		}
		if s := platformCall(a.Fx.APIKey); s != http.StatusOK {
			t.Fatalf("the API key on B: %d", s)
		}
		if caches["B"].CachedAPIKeys() == 0 {
			t.Fatal("node B did not cache the API key; the test would prove nothing")
		}
		key, err := a.Inst.Env.Directory.RotateAPIKey(ctx, a.Inst.Actor, c.Org, 0)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the rotated-out API key is refused on B", func() bool { return platformCall(a.Fx.APIKey) == http.StatusUnauthorized })
		if s := platformCall(key); s != http.StatusOK {
			t.Fatalf("the new API key on B: %d", s)
		}
	})

	user, err := a.Inst.Env.Directory.GetUser(ctx, c.Org, a.Fx.UserName)
	if err != nil {
		t.Fatal(err)
	}
	if !caches["B"].HasUser(c.Org, user.Sub) {
		t.Fatal("node B did not cache the signed-in user; the test would prove nothing")
	}
	userOnB := func() *domain.User {
		u, err := caches["B"].GetUser(ctx, c.Org, user.Sub)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	t.Run("a user changed by plain SQL", func(t *testing.T) {
		if _, err := caches["A"].SQL().ExecContext(ctx, `UPDATE users SET name = $1 WHERE org_id = $2 AND sub = $3`, "Changed by SQL", c.Org, user.Sub); err != nil {
			t.Fatal(err)
		}
		eventually(t, "node B serves the changed user", func() bool { return userOnB().Name == "Changed by SQL" })
	})

	t.Run("a disabled user", func(t *testing.T) {
		if userOnB().Disabled {
			t.Fatal("the user is disabled on B before the change")
		}
		disabled := true
		if _, err := a.Inst.Env.Directory.UpdateUser(ctx, a.Inst.Actor, c.Org, a.Fx.UserName, directory.UserChanges{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "node B serves the user disabled", func() bool { return userOnB().Disabled })
		eventually(t, "the disabled user's refresh token is refused on B", func() bool {
			return b.Refresh(t, c, tokens.Refresh).Status == http.StatusBadRequest
		})
		b.Refresh(t, c, tokens.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
	})

	t.Run("a renamed user, found by name", func(t *testing.T) {
		byNameOnB := func(name string) error {
			u, err := caches["B"].GetUserByName(ctx, c.Org, name)
			if err == nil && u.Sub != user.Sub {
				t.Fatalf("%s on B is %s, want %s", name, u.Sub, user.Sub)
			}
			return err
		}
		if err := byNameOnB(a.Fx.UserName); err != nil {
			t.Fatal(err)
		}
		renamed := "renamed-" + a.Fx.UserName
		if _, err := a.Inst.Env.Directory.UpdateUser(ctx, a.Inst.Actor, c.Org, a.Fx.UserName, directory.UserChanges{UserName: &renamed}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the old name finds nobody on B", func() bool { return byNameOnB(a.Fx.UserName) != nil })
		if err := byNameOnB(renamed); err != nil {
			t.Fatalf("the new name on B: %v", err)
		}
	})

	t.Run("a deleted application", func(t *testing.T) {
		if !caches["B"].HasApp(c.Org, c.ID) {
			t.Fatal("node B no longer caches the application")
		}
		if err := a.Inst.Env.Directory.DeleteApp(ctx, a.Inst.Actor, c.Org, c.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deleted application is refused on B", func() bool {
			return b.BackChannel(t, c, "/token", servertest.AuthBasic, cc).Status == http.StatusUnauthorized
		})
	})

	t.Run("an upstream connection added and removed", func(t *testing.T) {
		const label = "Acme Corporate IdP"
		offered := func() bool {
			p := servertest.NewBrowser(t).Get(b.Inst.Issuer(c.Org) + "/login")
			if p.Status != http.StatusOK {
				t.Fatalf("login page on B: %d", p.Status)
			}
			return strings.Contains(p.Body, label)
		}
		if offered() { // and B now holds the absence
			t.Fatal("the login page offers an upstream before there is one")
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := caches["A"].PutUpstream(ctx, &domain.UpstreamConnection{OrgID: c.Org, ConfigURL: "https://idp.example", ClientID: "latchkey",
			ClientSecretSealed: []byte{0}, Scopes: []string{"openid"}, UsernameClaim: "email", DisplayName: label, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's login page offers the new upstream", offered)
		if err := caches["A"].DeleteUpstream(ctx, c.Org); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's login page no longer offers it", func() bool { return !offered() })
	})
}

// eventually waits (generously: the machine may be busy) for cond and
// logs how long it took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	testkit.WaitFor(t, what, cond)
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

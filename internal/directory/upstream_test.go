package directory_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
)

// newUpstreamDirectory returns a directory on a fresh store with
// organizations acme and globex, and a clock the test moves.
func newUpstreamDirectory(t *testing.T, st store.Store) (*directory.Directory, *time.Time) {
	t.Helper()
	mk, _ := secret.NewMasterKey(bytes.Repeat([]byte{7}, secret.KeySize))
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	d := &directory.Directory{Store: st, Keys: signer.New(st, mk, nil), Master: mk, PublicURL: "https://sso.example.com",
		Now: func() time.Time { return now }}
	for _, id := range []string{"acme", "globex"} {
		if _, _, err := d.CreateOrg(t.Context(), directory.Actor{Name: "test"}, id, id); err != nil {
			t.Fatal(err)
		}
	}
	return d, &now
}

var actor = directory.Actor{Name: "test"}

func firstUpstream() directory.UpstreamChanges {
	return directory.UpstreamChanges{
		ConfigURL:    testkit.Ptr("https://idp.acme.example/.well-known/openid-configuration"),
		ClientID:     testkit.Ptr("latchkey"),
		ClientSecret: testkit.Ptr("first secret"),
	}
}

func TestSetUpstream_CreatesWithDefaultsAndSealsTheSecret(t *testing.T) {
	ctx := context.Background()
	d, now := newUpstreamDirectory(t, testdb.SQLite(t))
	c, created, err := d.SetUpstream(ctx, actor, "acme", firstUpstream())
	if err != nil || !created {
		t.Fatalf("SetUpstream: created %v, %v", created, err)
	}
	if !reflect.DeepEqual(c.Scopes, []string{"openid", "profile", "email"}) || c.UsernameClaim != "preferred_username" ||
		!c.CreatedAt.Equal(*now) || !c.UpdatedAt.Equal(*now) || c.EndUpstreamSession {
		t.Errorf("defaults: %+v", c)
	}
	if bytes.Contains(c.ClientSecretSealed, []byte("first secret")) {
		t.Fatal("the client secret is stored in clear")
	}
	got, err := d.GetUpstream(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := d.OpenUpstreamSecret(got); err != nil || plain != "first secret" {
		t.Errorf("OpenUpstreamSecret = %q, %v", plain, err)
	}
	if d.UpstreamRedirectURI("acme") != "https://sso.example.com/o/acme/callback" ||
		d.UpstreamLogoutCallbackURI("acme") != "https://sso.example.com/o/acme/logout/callback" {
		t.Errorf("URIs: %s %s", d.UpstreamRedirectURI("acme"), d.UpstreamLogoutCallbackURI("acme"))
	}
}

func TestSetUpstream_UpdateChangesOnlyGivenFieldsAndKeepsTheSecret(t *testing.T) {
	ctx := context.Background()
	d, now := newUpstreamDirectory(t, testdb.SQLite(t))
	first, _, err := d.SetUpstream(ctx, actor, "acme", firstUpstream())
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Hour)
	c, created, err := d.SetUpstream(ctx, actor, "acme", directory.UpstreamChanges{
		DisplayName: testkit.Ptr("Acme Okta"), Scopes: &[]string{"openid", "groups"}, EndUpstreamSession: testkit.Ptr(true),
	})
	if err != nil || created {
		t.Fatalf("update: created %v, %v", created, err)
	}
	want := *first
	want.DisplayName, want.Scopes, want.EndUpstreamSession, want.UpdatedAt = "Acme Okta", []string{"openid", "groups"}, true, *now
	got, _ := d.GetUpstream(ctx, "acme")
	if !reflect.DeepEqual(got, &want) || !reflect.DeepEqual(c, &want) {
		t.Errorf("after update:\n got %+v\nwant %+v", got, &want)
	}
	if plain, _ := d.OpenUpstreamSecret(got); plain != "first secret" {
		t.Errorf("secret after an update without one = %q", plain)
	}

	// A new secret replaces the old; "" for scopes and claim means default.
	if _, _, err := d.SetUpstream(ctx, actor, "acme", directory.UpstreamChanges{
		ClientSecret: testkit.Ptr("second secret"), Scopes: &[]string{}, UsernameClaim: testkit.Ptr(""),
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = d.GetUpstream(ctx, "acme")
	if plain, _ := d.OpenUpstreamSecret(got); plain != "second secret" {
		t.Errorf("secret after rotation = %q", plain)
	}
	if strings.Join(got.Scopes, " ") != "openid profile email" || got.UsernameClaim != "preferred_username" {
		t.Errorf("reset to defaults: %q %q", got.Scopes, got.UsernameClaim)
	}
}

func TestSetUpstream_RefusesBadInputAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	d, _ := newUpstreamDirectory(t, testdb.SQLite(t))
	tests := []struct {
		name  string
		ch    directory.UpstreamChanges
		field string
	}{
		{"first save without a secret", directory.UpstreamChanges{ConfigURL: testkit.Ptr("https://idp.example/"), ClientID: testkit.Ptr("x")}, "client_secret"},
		{"first save without a client id", directory.UpstreamChanges{ConfigURL: testkit.Ptr("https://idp.example/"), ClientSecret: testkit.Ptr("s")}, "client_id"},
		{"first save without a config URL", directory.UpstreamChanges{ClientID: testkit.Ptr("x"), ClientSecret: testkit.Ptr("s")}, "config_url"},
		{"relative config URL", directory.UpstreamChanges{ConfigURL: testkit.Ptr("idp.example"), ClientID: testkit.Ptr("x"), ClientSecret: testkit.Ptr("s")}, "config_url"},
		{"empty secret", directory.UpstreamChanges{ConfigURL: testkit.Ptr("https://idp.example/"), ClientID: testkit.Ptr("x"), ClientSecret: testkit.Ptr("")}, "client_secret"},
		{"scopes without openid", func() directory.UpstreamChanges {
			c := firstUpstream()
			c.Scopes = &[]string{"profile"}
			return c
		}(), "scopes"},
		{"bad logout URL", func() directory.UpstreamChanges {
			c := firstUpstream()
			c.LogoutURL = testkit.Ptr("logout")
			return c
		}(), "logout_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := d.SetUpstream(ctx, actor, "acme", tc.ch)
			if fe, ok := domain.AsFieldError(err); !ok || fe.Field != tc.field {
				t.Fatalf("SetUpstream = %v, want a field error on %s", err, tc.field)
			}
			if _, err := d.GetUpstream(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused save left a connection (err %v)", err)
			}
		})
	}

	// A bad update leaves the stored connection as it was.
	before, _, err := d.SetUpstream(ctx, actor, "acme", firstUpstream())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.SetUpstream(ctx, actor, "acme", directory.UpstreamChanges{ConfigURL: testkit.Ptr(""), ClientSecret: testkit.Ptr("new")}); err == nil {
		t.Fatal("clearing the config URL was accepted")
	}
	after, _ := d.GetUpstream(ctx, "acme")
	if !reflect.DeepEqual(before, after) {
		t.Error("a refused update changed the connection")
	}
	if _, _, err := d.SetUpstream(ctx, actor, "nope", firstUpstream()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetUpstream for an unknown org = %v, want ErrNotFound", err)
	}
}

func TestUpstreamSecret_IsBoundToItsOrganization(t *testing.T) {
	ctx := context.Background()
	d, _ := newUpstreamDirectory(t, testdb.SQLite(t))
	c, _, err := d.SetUpstream(ctx, actor, "acme", firstUpstream())
	if err != nil {
		t.Fatal(err)
	}
	moved := *c
	moved.OrgID = "globex"
	if _, err := d.OpenUpstreamSecret(&moved); !errors.Is(err, secret.ErrCannotOpen) {
		t.Errorf("acme's sealed secret opened as globex's: %v", err)
	}
}

func TestUpstream_ChangesAreAuditedWithoutTheSecret(t *testing.T) {
	ctx := context.Background()
	st := testdb.SQLite(t)
	d, now := newUpstreamDirectory(t, st)
	if _, _, err := d.SetUpstream(ctx, actor, "acme", firstUpstream()); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Second) // the audit log lists newest first, by time
	if _, _, err := d.SetUpstream(ctx, actor, "acme", directory.UpstreamChanges{ClientSecret: testkit.Ptr("second secret")}); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Second)
	if err := d.DeleteUpstream(ctx, actor, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteUpstream(ctx, actor, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
	events, err := st.ListAudit(ctx, "acme", store.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "upstream.") {
			actions = append(actions, e.Action)
		}
		for k, v := range e.Detail {
			if strings.Contains(v, "first secret") || strings.Contains(v, "second secret") {
				t.Errorf("audit event %s carries the secret in %s", e.Action, k)
			}
		}
	}
	if want := []string{"upstream.delete", "upstream.update", "upstream.create"}; !reflect.DeepEqual(actions, want) {
		t.Errorf("audit actions = %v, want %v", actions, want)
	}
}

// TestUpstreamSecret_IsUnreadableInTheDatabaseFile reads the SQLite file
// and the raw row and finds the secret in neither.
func TestUpstreamSecret_IsUnreadableInTheDatabaseFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ := newUpstreamDirectory(t, st)
	const clear = "upstream-client-secret-in-clear"
	ch := firstUpstream()
	ch.ClientSecret = testkit.Ptr(clear)
	if _, _, err := d.SetUpstream(ctx, actor, "acme", ch); err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := st.SQL().QueryRowContext(ctx, `SELECT client_secret_sealed FROM upstream_connections WHERE org_id = 'acme'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte(clear)) {
		t.Fatal("the upstream client secret is readable in its row")
	}
	st.Close() // flush the WAL into the file
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(clear)) {
		t.Fatal("the upstream client secret appears in the database file")
	}
}

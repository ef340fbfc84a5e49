package portal_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestUsers_CreateEditPasswordDisable(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			ctx := context.Background()
			b, _ := e.signIn("acme", "ada")
			newPage := e.portal("acme") + "/users/new"
			for field, bad := range map[string]string{"userName": "bad name", "email": "not-an-email", "picture": "javascript:x", "password": "short"} {
				set := map[string]string{"userName": "carol", "role": "USER", field: bad}
				p := submit(t, b, newPage, "/users/", set)
				expectStatus(t, p, http.StatusBadRequest)
				if fieldError(p, field) == "" {
					t.Fatalf("%s=%q: no message next to it:\n%s", field, bad, p.Body)
				}
				if _, err := e.d.Store.GetUserByName(ctx, "acme", "carol"); err == nil {
					t.Fatalf("%s=%q created the user", field, bad)
				}
			}
			p := submit(t, b, newPage, "/users/", map[string]string{"userName": "ada", "role": "USER"})
			expectStatus(t, p, http.StatusBadRequest)
			if fieldError(p, "userName") == "" {
				t.Fatal("duplicate userName accepted")
			}
			p = submit(t, b, newPage, "/users/", map[string]string{"userName": "carol", "name": "Carol", "email": "carol@example.com", "role": "USER"})
			expectStatus(t, p, http.StatusSeeOther)
			userPage := e.portal("acme") + "/users/carol/"
			expectContains(t, b.Get(e.portal("acme")+"/users/?q=caro"), "carol")
			if strings.Contains(b.Get(e.portal("acme")+"/users/?q=zzz").Body, ">carol<") {
				t.Fatal("search did not filter")
			}
			p = submit(t, b, userPage, "/profile", map[string]string{"role": "ADMIN", "picture": "https://img.example/c.png"})
			expectStatus(t, p, http.StatusSeeOther)
			u, _ := e.d.Store.GetUserByName(ctx, "acme", "carol")
			if u.Role != "ADMIN" || u.Picture != "https://img.example/c.png" {
				t.Fatalf("not saved: %+v", u)
			}
			p = submit(t, b, userPage, "/password", map[string]string{"password": "x"})
			expectStatus(t, p, http.StatusBadRequest)
			if fieldError(p, "password") == "" {
				t.Fatalf("weak password: no error:\n%s", p.Body)
			}
			expectStatus(t, submit(t, b, userPage, "/password", map[string]string{"password": "a long enough password"}), http.StatusSeeOther)
			if u, _ = e.d.Store.GetUserByName(ctx, "acme", "carol"); u.PasswordHash == "" {
				t.Fatal("password not set")
			}
			expectStatus(t, submit(t, b, userPage, "/clear-password", nil), http.StatusSeeOther)
			expectStatus(t, submit(t, b, userPage, "/disable", nil), http.StatusSeeOther)
			if u, _ = e.d.Store.GetUserByName(ctx, "acme", "carol"); u.PasswordHash != "" || !u.Disabled {
				t.Fatalf("clear/disable: %+v", u)
			}
			expectStatus(t, submit(t, b, userPage, "/enable", nil), http.StatusSeeOther)
		})
	}
}

// Revoking a user's session from the Users page runs the normal logout:
// the application that took part gets its back-channel logout token.
func TestUsers_RevokeSessionSendsBackChannelLogout(t *testing.T) {
	e := start(t, "sqlite")
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	defer rp.Close()
	name, bc := "RP", rp.URL+"/bc"
	app, sec, err := e.d.CreateApp(ctx, e.inst.Actor, "acme", false, directory.AppChanges{Name: &name, RedirectURIs: &[]string{rp.URL + "/cb"}, BackchannelLogoutURI: &bc})
	if err != nil {
		t.Fatal(err)
	}
	_ = sec
	user := servertest.NewBrowser(t)
	authURL := e.inst.Issuer("acme") + "/authorize?response_type=code&scope=openid&client_id=" + app.ClientID + "&redirect_uri=" + rp.URL + "/cb&state=s&nonce=n"
	if _, err := user.AuthorizeAndLogin(authURL, rp.URL+"/cb", "bob", adminPassword); err != nil {
		t.Fatal(err)
	}
	// The code was never exchanged; record the app's part as a token would.
	sessions, _ := e.d.ListUserSessions(ctx, "acme", "bob")
	if len(sessions) != 1 {
		t.Fatalf("%d sessions", len(sessions))
	}
	if err := e.inst.Env.Store.AddSessionClient(ctx, "acme", sessions[0].SID, app.ClientID, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, _ := e.signIn("acme", "ada")
	p := b.Get(e.portal("acme") + "/users/bob/")
	expectContains(t, p, "Revoke all sessions", `aria-label="Revoke session started `)
	p = b.Submit(form(t, p, "/sessions/revoke"), nil)
	expectStatus(t, p, http.StatusSeeOther)
	if s, _ := e.inst.Env.Store.GetSession(ctx, "acme", sessions[0].SID); s.EndedAt.IsZero() {
		t.Fatal("session still active")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no back-channel logout arrived")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(got[0], "logout_token=") {
		t.Fatalf("back-channel body %q", got[0])
	}
	events, _ := e.audit(ctx, 20)
	found := false
	for _, ev := range events {
		if ev.Action == "logout" && ev.Actor == "ada" && ev.Target == sessions[0].SID {
			found = true
		}
	}
	if !found {
		t.Fatal("revocation not audited with the admin as actor")
	}
}

func TestUserList_ABadSearchIsSaidNextToTheSearchField(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	for name, q := range map[string]string{
		"too long":      strings.Repeat("x", 201),
		"invalid UTF-8": "ad%FF",
	} {
		t.Run(name, func(t *testing.T) {
			p := b.Get(e.portal("acme") + "/users/?q=" + q)
			expectStatus(t, p, http.StatusBadRequest)
			if msg := fieldError(p, "q"); !strings.Contains(msg, "at most 200 characters") {
				t.Errorf("search error = %q\n%s", msg, p.Body)
			}
			if !strings.Contains(p.Body, `aria-describedby="q-error"`) {
				t.Error("the search field does not point at its error")
			}
		})
	}
	p := b.Get(e.portal("acme") + "/users/?q=ad")
	expectStatus(t, p, http.StatusOK)
	if fieldError(p, "q") != "" {
		t.Error("a good search shows an error")
	}
}

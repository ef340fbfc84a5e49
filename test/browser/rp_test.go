package browser_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// testApp is a small OpenID Connect application (go-oidc + x/oauth2) for
// the browser tests: it signs users in with the code flow and receives
// back-channel logout tokens.
type testApp struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	ID     string
	Secret string

	mu       sync.Mutex
	sessions map[string]appSession // cookie → session
	state    map[string]bool
	// LoggedOut lists the sids of the logout tokens received.
	loggedOut []string
	provider  *oidc.Provider
}

type appSession struct{ userName, sid string }

func newTestApp(t *testing.T) *testApp {
	a := &testApp{t: t, sessions: map[string]appSession{}, state: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /cb", a.callback)
	mux.HandleFunc("POST /bc", a.backchannel)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testApp) URL() string { return a.srv.URL }

func (a *testApp) config(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	a.mu.Lock()
	p := a.provider
	a.mu.Unlock()
	if p == nil {
		var err error
		if p, err = oidc.NewProvider(ctx, a.issuer); err != nil {
			return nil, nil, err
		}
		a.mu.Lock()
		a.provider = p
		a.mu.Unlock()
	}
	return &oauth2.Config{ClientID: a.ID, ClientSecret: a.Secret, Endpoint: p.Endpoint(), RedirectURL: a.srv.URL + "/cb",
		Scopes: []string{oidc.ScopeOpenID, "profile"}}, p.Verifier(&oidc.Config{ClientID: a.ID}), nil
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *testApp) page(w http.ResponseWriter, h1 string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Test app</title><h1>%s</h1><a href="/login">Sign in</a>`, html.EscapeString(h1))
}

func (a *testApp) home(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie("test_app"); err == nil {
		a.mu.Lock()
		s, ok := a.sessions[c.Value]
		a.mu.Unlock()
		if ok {
			a.page(w, "Signed in as "+s.userName)
			return
		}
	}
	a.page(w, "Not signed in")
}

func (a *testApp) login(w http.ResponseWriter, r *http.Request) {
	cfg, _, err := a.config(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	st := random()
	a.mu.Lock()
	a.state[st] = true
	a.mu.Unlock()
	http.Redirect(w, r, cfg.AuthCodeURL(st), http.StatusFound)
}

func (a *testApp) callback(w http.ResponseWriter, r *http.Request) {
	cfg, verifier, err := a.config(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.mu.Lock()
	ok := a.state[r.URL.Query().Get("state")]
	delete(a.state, r.URL.Query().Get("state"))
	a.mu.Unlock()
	if !ok {
		http.Error(w, "bad state", http.StatusBadRequest)
		return
	}
	tok, err := cfg.Exchange(r.Context(), r.URL.Query().Get("code"))
	if err != nil {
		http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(r.Context(), raw)
	if err != nil {
		http.Error(w, "id_token: "+err.Error(), http.StatusBadGateway)
		return
	}
	var c struct {
		SID  string `json:"sid"`
		Name string `json:"preferred_username"`
	}
	_ = idt.Claims(&c)
	cookie := random()
	a.mu.Lock()
	a.sessions[cookie] = appSession{userName: c.Name, sid: c.SID}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "test_app", Value: cookie, Path: "/", HttpOnly: true})
	http.Redirect(w, r, "/", http.StatusFound)
}

// backchannel verifies the logout token's signature with the issuer's keys
// and ends the app's sessions of that sid.
func (a *testApp) backchannel(w http.ResponseWriter, r *http.Request) {
	_, verifier, err := a.config(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// A logout token has no nonce and no exp requirement beyond iat; the
	// id_token verifier checks signature, issuer and audience.
	idt, err := verifier.Verify(r.Context(), r.PostFormValue("logout_token"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var c struct {
		SID    string         `json:"sid"`
		Events map[string]any `json:"events"`
	}
	if err := idt.Claims(&c); err != nil || c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
		http.Error(w, "not a logout token", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.loggedOut = append(a.loggedOut, c.SID)
	for k, s := range a.sessions {
		if s.sid == c.SID {
			delete(a.sessions, k)
		}
	}
	a.mu.Unlock()
}

func (a *testApp) logoutTokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.loggedOut...)
}

func (a *testApp) sids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, s := range a.sessions {
		out = append(out, s.sid)
	}
	return out
}

// Package demo is what `latchkey demo` shows a newcomer: a demo
// organization with users, and small relying-party applications served by
// the same process that sign in through Latchkey with a standard OIDC
// library (go-oidc + x/oauth2), exactly as a real application would.
//
// Nothing here is used by the server itself; the applications talk to
// Latchkey only over HTTP.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// App is one demo relying party mounted under Path (e.g. /demo/app1).
type App struct {
	Name         string
	Path         string
	Issuer       string
	ClientID     string
	ClientSecret string
	// BaseURL is PUBLIC_URL + Path.
	BaseURL string
	// Color tells the apps apart at a glance.
	Color string
	Log   *slog.Logger

	once     sync.Once
	provider *oidc.Provider
	initErr  error

	mu       sync.Mutex
	sessions map[string]*rpSession // by cookie value
	pending  map[string]*pendingLogin
	// bySID lets back-channel logout find the sessions of an OP session.
	bySID map[string][]string
}

type rpSession struct {
	IDToken string
	Claims  map[string]any
	SID     string
	Since   time.Time
}

type pendingLogin struct {
	verifier, nonce string
	created         time.Time
}

func (a *App) init(ctx context.Context) error {
	a.once.Do(func() {
		a.sessions, a.pending, a.bySID = map[string]*rpSession{}, map[string]*pendingLogin{}, map[string][]string{}
		a.provider, a.initErr = oidc.NewProvider(ctx, a.Issuer)
	})
	return a.initErr
}

func (a *App) oauth() *oauth2.Config {
	return &oauth2.Config{
		ClientID: a.ClientID, ClientSecret: a.ClientSecret, RedirectURL: a.BaseURL + "/callback",
		Endpoint: a.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *App) cookieName() string { return "demo_rp" }

// Handler serves the application's pages under a.Path.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+a.Path+"/{$}", a.home)
	mux.HandleFunc("GET "+a.Path+"/login", a.login)
	mux.HandleFunc("GET "+a.Path+"/callback", a.callback)
	mux.HandleFunc("POST "+a.Path+"/logout", a.logout)
	mux.HandleFunc("POST "+a.Path+"/backchannel", a.backchannel)
	return mux
}

func (a *App) session(r *http.Request) (string, *rpSession) {
	c, err := r.Cookie(a.cookieName())
	if err != nil {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return c.Value, a.sessions[c.Value]
}

func (a *App) setCookie(w http.ResponseWriter, v string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: v, Path: a.Path + "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	if err := a.init(r.Context()); err != nil {
		http.Error(w, "demo app cannot reach Latchkey: "+err.Error(), http.StatusBadGateway)
		return
	}
	_, s := a.session(r)
	data := map[string]any{"App": a, "Session": s, "Error": r.URL.Query().Get("error")}
	if s != nil {
		pretty, _ := json.MarshalIndent(s.Claims, "", "  ")
		data["Claims"] = string(pretty)
		data["User"] = s.Claims["preferred_username"]
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := homePage.Execute(w, data); err != nil {
		a.Log.Error("demo page", "err", err)
	}
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	if err := a.init(r.Context()); err != nil {
		http.Error(w, "demo app cannot reach Latchkey: "+err.Error(), http.StatusBadGateway)
		return
	}
	state, p := random(), &pendingLogin{verifier: oauth2.GenerateVerifier(), nonce: random(), created: time.Now()}
	a.mu.Lock()
	for k, v := range a.pending { // forget abandoned logins
		if time.Since(v.created) > 30*time.Minute {
			delete(a.pending, k)
		}
	}
	a.pending[state] = p
	a.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce)}
	if r.URL.Query().Get("prompt") == "login" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	// An application may demand a second factor (Latchkey steps the session up).
	if v := r.URL.Query().Get("acr_values"); v == "urn:latchkey:acr:mfa" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", v))
	}
	http.Redirect(w, r, a.oauth().AuthCodeURL(state, opts...), http.StatusFound)
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, a.BaseURL+"/?error="+url.QueryEscape(msg), http.StatusFound)
}

func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	if err := a.init(r.Context()); err != nil {
		http.Error(w, "demo app cannot reach Latchkey: "+err.Error(), http.StatusBadGateway)
		return
	}
	q := r.URL.Query()
	a.mu.Lock()
	p := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	if p == nil {
		a.fail(w, r, "unknown or reused state")
		return
	}
	if e := q.Get("error"); e != "" {
		a.fail(w, r, e+": "+q.Get("error_description"))
		return
	}
	if q.Get("iss") != a.Issuer {
		a.fail(w, r, "authorization response from an unexpected issuer")
		return
	}
	tok, err := a.oauth().Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		a.fail(w, r, "code exchange failed: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.provider.Verifier(&oidc.Config{ClientID: a.ClientID}).Verify(r.Context(), raw)
	if err != nil || idt.Nonce != p.nonce {
		a.fail(w, r, "id_token rejected")
		return
	}
	claims := map[string]any{}
	_ = idt.Claims(&claims)
	sid, _ := claims["sid"].(string)
	id := random()
	a.mu.Lock()
	a.sessions[id] = &rpSession{IDToken: raw, Claims: claims, SID: sid, Since: time.Now()}
	a.bySID[sid] = append(a.bySID[sid], id)
	a.mu.Unlock()
	a.setCookie(w, id, 0)
	http.Redirect(w, r, a.BaseURL+"/", http.StatusFound)
}

// logout ends the local session and sends the browser to Latchkey's
// end_session endpoint (RP-Initiated Logout) to end the SSO session.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	id, s := a.session(r)
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
	a.setCookie(w, "", -1)
	if s == nil {
		http.Redirect(w, r, a.BaseURL+"/", http.StatusFound)
		return
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := a.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		http.Redirect(w, r, a.BaseURL+"/", http.StatusFound)
		return
	}
	v := url.Values{"id_token_hint": {s.IDToken}, "post_logout_redirect_uri": {a.BaseURL + "/"}, "state": {random()}}
	http.Redirect(w, r, meta.EndSession+"?"+v.Encode(), http.StatusFound)
}

// backchannel receives an OIDC Back-Channel Logout token and ends the
// local sessions of that OP session.
func (a *App) backchannel(w http.ResponseWriter, r *http.Request) {
	if err := a.init(r.Context()); err != nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	claims, err := VerifyLogoutToken(r.Context(), a.provider, a.ClientID, r.PostForm.Get("logout_token"))
	if err != nil {
		a.Log.Warn("demo app rejected a logout token", "app", a.Name, "err", err)
		http.Error(w, "invalid logout token", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	for _, id := range a.bySID[claims.SID] {
		delete(a.sessions, id)
	}
	delete(a.bySID, claims.SID)
	a.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.App.Name}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7fb;color:#1d2433}
header{background:{{.App.Color}};color:#fff;padding:1rem 2rem}main{max-width:46rem;margin:2rem auto;padding:0 1rem}
.card{background:#fff;border:1px solid #dde1ea;border-radius:12px;padding:1.5rem}pre{background:#f1f3f8;padding:1rem;border-radius:8px;overflow:auto;font-size:.85rem}
button,.btn{display:inline-block;padding:.6rem 1.1rem;border-radius:8px;border:0;background:{{.App.Color}};color:#fff;font:inherit;text-decoration:none;cursor:pointer}
.err{color:#b3261e}</style></head>
<body><header><strong>{{.App.Name}}</strong> · a demo application signing in with Latchkey</header><main><div class="card">
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
{{if .Session}}
<h1>Signed in as {{.User}}</h1>
<p>These are the claims of the id_token this application received:</p>
<pre>{{.Claims}}</pre>
<form method="post" action="{{.App.BaseURL}}/logout"><button type="submit">Sign out</button></form>
{{else}}
<h1>Not signed in</h1>
<p>This application has no session of its own. Signing in sends you to Latchkey; if you are already signed in there (single sign-on), you come straight back.</p>
<p><a class="btn" href="{{.App.BaseURL}}/login">Sign in</a></p>
{{end}}
<p style="margin-top:1rem"><a href="{{.App.BaseURL}}/login?acr_values=urn:latchkey:acr:mfa">Sign in with a second factor</a> (asks Latchkey for <code>acr=urn:latchkey:acr:mfa</code>)</p>
</div></main></body></html>`))

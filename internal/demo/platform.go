package demo

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
)

// PlatformUser is an account of the demo community platform — its own
// users, unknown to Latchkey until their first sign-in there.
type PlatformUser struct {
	UserName, Password, Name, Role, Email string
}

// PlatformUsers are the demo platform's accounts, printed by `latchkey demo`.
var PlatformUsers = []PlatformUser{
	{"johndoe", "john-password", "John Doe", "USER", "john@community.example"},
	{"jane", "jane-password", "Jane Roe", "ADMIN", "jane@community.example"},
}

// Platform is a tiny stand-in for an organization's own community site
// that makes Latchkey its single sign-on through the trusted-platform API,
// exactly as the seed describes: it signs its user in, upserts the user
// with the organization API key, mints a login ticket and sends the
// browser to loginUrl. Everything goes over real HTTP to Latchkey.
type Platform struct {
	// Path is where it is mounted (/demo/platform); BaseURL is PUBLIC_URL + Path.
	Path, BaseURL string
	// PublicURL is Latchkey's; OrgID and APIKey authenticate the calls.
	PublicURL, OrgID, APIKey string
	Client                   *http.Client
	Log                      *slog.Logger
}

// NewPlatform builds the demo platform for the demo organization and makes
// it the organization's Auth Redirect URL, so Latchkey's "sign in again"
// links lead there. The organization keeps password login, so the demo
// applications still show Latchkey's own login page.
func NewPlatform(ctx context.Context, d *directory.Directory, s *Setup, publicURL string, log *slog.Logger) (*Platform, error) {
	p := &Platform{
		Path: "/demo/platform", BaseURL: publicURL + "/demo/platform",
		PublicURL: publicURL, OrgID: OrgID, APIKey: s.APIKey, Log: log,
		Client: &http.Client{Timeout: 10 * time.Second},
	}
	authURL := p.BaseURL + "/"
	if _, err := d.UpdateOrg(ctx, directory.Actor{Name: "demo"}, OrgID, directory.OrgChanges{AuthRedirectURL: &authURL}); err != nil {
		return nil, fmt.Errorf("demo platform: %w", err)
	}
	return p, nil
}

// Handler serves the platform's pages under p.Path.
func (p *Platform) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p.Path+"/{$}", p.home)
	mux.HandleFunc("POST "+p.Path+"/signin", p.signIn)
	return mux
}

type platformPage struct {
	P         *Platform
	Users     []PlatformUser
	UserName  string
	ReturnTo  string
	Prompt    string
	Error     string
	AppOneURL string
}

func (p *Platform) render(w http.ResponseWriter, status int, d platformPage) {
	d.P, d.Users, d.AppOneURL = p, PlatformUsers, p.PublicURL+"/demo/app1/"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := platformTemplate.Execute(w, d); err != nil {
		p.Log.Error("demo platform page", "err", err)
	}
}

// home is the sign-in page. When Latchkey sent the browser here (an org
// whose login method is its platform), return_to, login_hint and prompt
// say so.
func (p *Platform) home(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.render(w, http.StatusOK, platformPage{UserName: q.Get("login_hint"), ReturnTo: q.Get("return_to"), Prompt: q.Get("prompt")})
}

func (p *Platform) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	d := platformPage{UserName: r.PostForm.Get("username"), ReturnTo: r.PostForm.Get("return_to")}
	var user *PlatformUser
	for i, u := range PlatformUsers {
		if strings.EqualFold(u.UserName, d.UserName) &&
			subtle.ConstantTimeCompare([]byte(u.Password), []byte(r.PostForm.Get("password"))) == 1 {
			user = &PlatformUsers[i]
		}
	}
	if user == nil {
		d.Error = "Wrong username or password."
		p.render(w, http.StatusUnauthorized, d)
		return
	}
	// Step 5 of the seed: create or update the user in Latchkey.
	profile, _ := json.Marshal(map[string]string{"name": user.Name, "role": user.Role, "email": user.Email})
	if _, err := p.call(r.Context(), user.UserName, "update", profile); err != nil {
		d.Error = "Latchkey did not accept the user: " + err.Error()
		p.render(w, http.StatusBadGateway, d)
		return
	}
	// Step 6: a one-time login ticket for the user.
	body, err := p.call(r.Context(), user.UserName, "generate-token", nil)
	var out struct {
		LoginURL string `json:"loginUrl"`
	}
	if err == nil {
		err = json.Unmarshal(body, &out)
	}
	if err != nil || out.LoginURL == "" {
		d.Error = fmt.Sprintf("Latchkey did not issue a login ticket: %v", err)
		p.render(w, http.StatusBadGateway, d)
		return
	}
	// Step 7: send the browser to Latchkey with the ticket. Latchkey
	// resumes the sign-in the browser had pending there (return_to's
	// request), else shows the account page.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, out.LoginURL, http.StatusSeeOther)
}

// call makes one trusted-platform API call, server to server.
func (p *Platform) call(ctx context.Context, userName, op string, body []byte) ([]byte, error) {
	u := p.PublicURL + "/api/organization/" + url.PathEscape(p.OrgID) + "/user/" + url.PathEscape(userName) + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-org-id", p.OrgID)
	req.Header.Set("x-api-key", p.APIKey)
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return nil, fmt.Errorf("%s %s: %s", op, resp.Status, e.Message)
	}
	return b, nil
}

var platformTemplate = template.Must(template.New("platform").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Community platform</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#fbf7f2;color:#2b2118}
header{background:#b4541a;color:#fff;padding:1rem 2rem}main{max-width:40rem;margin:2rem auto;padding:0 1rem}
.card{background:#fff;border:1px solid #eadfd3;border-radius:12px;padding:1.5rem;margin-bottom:1rem}
label{display:block;font-weight:600;margin:.8rem 0 .3rem}input{width:100%;box-sizing:border-box;padding:.55rem .7rem;border:1px solid #d9cbbb;border-radius:8px;font:inherit}
button{margin-top:1.2rem;padding:.6rem 1.1rem;border-radius:8px;border:0;background:#b4541a;color:#fff;font:inherit;cursor:pointer}
code{background:#f3ebe2;padding:.1rem .3rem;border-radius:4px}.err{color:#b3261e}.muted{color:#6d5d4f;font-size:.9rem}</style></head>
<body><header><strong>Community platform</strong> · an organization's own site, using Latchkey for single sign-on</header><main>
<div class="card">
<h1>Sign in to the community</h1>
{{if .ReturnTo}}<p class="muted">Latchkey sent you here to sign in{{if eq .Prompt "login"}} again{{end}}; afterwards you continue where you were.</p>{{end}}
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.P.BaseURL}}/signin">
{{if .ReturnTo}}<input type="hidden" name="return_to" value="{{.ReturnTo}}">{{end}}
<label for="username">Username</label><input id="username" name="username" value="{{.UserName}}" autocomplete="username" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form>
</div>
<div class="card muted">
<p>This page is a stand-in for your own platform, with its own accounts:
{{range $i, $u := .Users}}{{if $i}}, {{end}}<code>{{$u.UserName}}</code> / <code>{{$u.Password}}</code> ({{$u.Role}}){{end}}.</p>
<p>On <em>Sign in</em> it checks the password itself, then calls Latchkey server to server with the organization API key:
<code>POST /api/organization/{{.P.OrgID}}/user/NAME/update</code> (creates or updates the user) and
<code>…/generate-token</code> (a one-time login ticket), and sends your browser to the returned <code>loginUrl</code>.
Latchkey then signs you in to organization <code>{{.P.OrgID}}</code> — open <a href="{{.AppOneURL}}">Demo App One</a> afterwards and you are already signed in.</p>
</div>
</main></body></html>`))

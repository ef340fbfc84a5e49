package op

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/web"
)

type accountPageData struct {
	pageData
	User         *domain.User
	Apps         []string
	AuthTime     string
	Expires      string
	LoginURL     string
	LogoutAction string
	CSRF         string
	// Factors is the "Sign-in methods" section (nil when MFA is off).
	Factors *factorsView
	Script  string
}

func (d accountPageData) usesScript() bool { return d.Factors != nil && d.Factors.CanAdd }

// account shows who is signed in to the organization in this browser and
// which applications took part in the session.
func (p *Provider) account(w http.ResponseWriter, r *http.Request) {
	p.renderAccount(w, r, http.StatusOK, "", "")
}

// renderAccount shows the account page, with a notice or a problem from
// the change that led to it.
func (p *Provider) renderAccount(w http.ResponseWriter, r *http.Request, status int, notice, problem string) {
	org := request.Org(r.Context())
	ctx := r.Context()
	d := accountPageData{pageData: pageData{Title: "Your account", OrgName: org.Name}, LoginURL: request.Issuer(r.Context()) + "/login"}
	sess, user, ok := p.sessionUser(w, r, org)
	if !ok {
		return
	}
	if user != nil {
		d.User = user
		d.AuthTime = sess.AuthTime.Format("2006-01-02 15:04 MST")
		d.Expires = sess.ExpiresAt.Format("2006-01-02 15:04 MST")
		d.LogoutAction, d.CSRF = request.Issuer(r.Context())+"/logout", p.Sessions.CSRFToken(w, r, org.ID)
		for _, id := range sess.Clients {
			if app, err := p.Store.GetApp(ctx, org.ID, id); err == nil {
				d.Apps = append(d.Apps, app.Name)
			}
		}
		var err error
		if d.Factors, err = p.factorsView(w, r, org, user); err != nil {
			p.internalError(w, r, "load second factors", err)
			return
		}
		if d.Factors != nil {
			d.Factors.Notice, d.Factors.Error, d.Script = notice, problem, request.Issuer(r.Context())+web.MFAScriptPath()
		}
	}
	p.render(w, r, status, "account", d)
}

package portal

import (
	"bytes"
	"net/http"
	"net/url"
	"sort"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// view is what every page template receives.
type view struct {
	Title    string
	Org      *domain.Organization
	Orgs     []*domain.Organization // the operator's org switcher
	Operator bool
	UserName string
	CSRF     string
	Nav      string // the left navigation item that is current
	Tabs     []tab
	Flash    string
	// Form holds the submitted values (kept on error), Errors the message
	// per field name, FormError one without a field.
	Form      url.Values
	Errors    map[string]string
	FormError string
	Data      any
}

type tab struct {
	Label   string
	Href    string
	Current bool
}

// Base is the URL path of the organization's portal.
func (v *view) Base() string {
	if v.Org == nil {
		return "/admin"
	}
	return "/admin/o/" + v.Org.ID
}

// Field describes one labelled input for the "field" template.
type Field struct {
	Name, Label, Type, Value, Error, Hint string
	Options                               []Option
	Required, Checked                     bool
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// F builds a field from the view's kept input and errors; def is the
// stored value shown when the form was not submitted.
func (v *view) F(name, label, typ, def string) Field {
	val := def
	if v.Form != nil {
		if _, ok := v.Form[name]; ok {
			val = v.Form.Get(name)
		}
	}
	return Field{Name: name, Label: label, Type: typ, Value: val, Error: v.Errors[name]}
}

// Hint returns f with a hint below its label.
func (f Field) WithHint(h string) Field { f.Hint = h; return f }

func (p *Portal) newView(r *http.Request, a *admin, org *domain.Organization, title, nav string) *view {
	v := &view{Title: title, Org: org, Nav: nav, Errors: map[string]string{}}
	if a != nil {
		v.Operator, v.UserName, v.CSRF = a.Operator, a.UserName, a.sess.CSRF
		if a.Operator {
			if orgs, err := p.Directory.ListOrgs(r.Context()); err == nil {
				sort.Slice(orgs, func(i, j int) bool { return orgs[i].ID < orgs[j].ID })
				v.Orgs = orgs
			}
		}
	}
	return v
}

// fail records err against its field, or as the form's error when it
// names none; it reports false for errors that are not the user's.
func (v *view) fail(err error, fieldMap map[string]string) bool {
	fe, ok := domain.AsFieldError(err)
	if !ok {
		if err == directory.ErrSetupTokenInvalid {
			v.FormError = err.Error()
			return true
		}
		return false
	}
	name := fe.Field
	if m, ok := fieldMap[name]; ok {
		name = m
	}
	if v.Form != nil {
		if _, ok := v.Form[name]; ok {
			v.Errors[name] = fe.Message
			return true
		}
	}
	v.FormError = fe.Field + ": " + fe.Message
	return true
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := p.pages[name]
	if !ok {
		p.internalError(w, r, "render", errMissingTemplate(name))
		return
	}
	if v.Flash == "" && r.Method == http.MethodGet {
		v.Flash = p.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		p.internalError(w, r, "render "+name, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errMissingTemplate string

func (e errMissingTemplate) Error() string { return "no template " + string(e) }

func (p *Portal) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	if p.pages == nil {
		http.Error(w, msg, status)
		return
	}
	v := &view{Title: title, Data: map[string]string{"Message": msg, "Ref": p.requestID(r)}}
	p.render(w, r, status, "error", v)
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusNotFound, "Not found", "There is no such page.")
}

func (p *Portal) requestID(r *http.Request) string {
	if p.RequestID == nil {
		return ""
	}
	return p.RequestID(r.Context())
}

func (p *Portal) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if p.Log != nil {
		p.Log.ErrorContext(r.Context(), "admin portal: "+what, "err", err, "path", r.URL.Path)
	}
	v := &view{Title: "Something went wrong", Data: map[string]string{
		"Message": "The portal could not complete this request. Nothing further was changed.", "Ref": p.requestID(r)}}
	if p.pages == nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if e := p.pages["error"].ExecuteTemplate(&buf, "layout", v); e != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(buf.Bytes())
}

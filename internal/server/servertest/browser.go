package servertest

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a cookie-keeping HTTP client that does not follow redirects
// on its own, so tests see every hop.
type Browser struct {
	t      testing.TB
	Client *http.Client
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Browser{t: t, Client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Page is a response with its body read.
type Page struct {
	URL      *url.URL
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *Browser) do(req *http.Request) *Page {
	b.t.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &Page{URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("bad Location %q: %v", loc, err)
		}
		p.Location = u.String()
	}
	return p
}

// Get fetches rawURL (one hop).
func (b *Browser) Get(rawURL string) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// PostForm posts form to rawURL (one hop).
func (b *Browser) PostForm(rawURL string, form url.Values) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// Follow keeps following redirects from p until a response is not a
// redirect or its Location starts with stop (which is then returned
// without being fetched). Browsers turn 303 and 302 after POST into GET.
func (b *Browser) Follow(p *Page, stop string) *Page {
	b.t.Helper()
	for i := 0; i < 20; i++ {
		if p.Location == "" || (stop != "" && strings.HasPrefix(p.Location, stop)) {
			return p
		}
		p = b.Get(p.Location)
	}
	b.t.Fatalf("too many redirects, last at %s", p.URL)
	return nil
}

// Form is an HTML form found on a page.
type Form struct {
	Action string
	Method string
	Values url.Values
	// Fields lists every named input, in order.
	Fields []string
}

var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		v := m[3] + m[4] + m[5]
		out[strings.ToLower(m[1])] = html.UnescapeString(v)
	}
	return out
}

// Forms parses the page's forms (enough HTML for Latchkey's own pages).
func (p *Page) Forms() []Form {
	var forms []Form
	for _, m := range formRe.FindAllStringSubmatch(p.Body, -1) {
		a := attrs(m[1])
		action := a["action"]
		if u, err := p.URL.Parse(action); err == nil {
			action = u.String()
		}
		f := Form{Action: action, Method: strings.ToUpper(a["method"]), Values: url.Values{}}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			ia := attrs(in[1])
			if name := ia["name"]; name != "" {
				f.Fields = append(f.Fields, name)
				f.Values.Set(name, ia["value"])
			}
		}
		forms = append(forms, f)
	}
	return forms
}

// Form returns the page's only (or first) form, failing the test if none.
func (p *Page) Form(t testing.TB) Form {
	t.Helper()
	forms := p.Forms()
	if len(forms) == 0 {
		t.Fatalf("no form on %s (status %d):\n%s", p.URL, p.Status, p.Body)
	}
	return forms[0]
}

// Has reports whether the form has a field named name.
func (f Form) Has(name string) bool {
	for _, n := range f.Fields {
		if n == name {
			return true
		}
	}
	return false
}

// Submit posts the form with the given fields changed.
func (b *Browser) Submit(f Form, set map[string]string) *Page {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.Values {
		v[k] = append([]string(nil), vs...)
	}
	for k, val := range set {
		v.Set(k, val)
	}
	return b.PostForm(f.Action, v)
}

// Login completes Latchkey's identifier-first login starting from the login
// page p and returns the response to the password step.
func (b *Browser) Login(p *Page, userName, password string) *Page {
	b.t.Helper()
	f := p.Form(b.t)
	if f.Has("username") && !f.Has("password") {
		p = b.Submit(f, map[string]string{"username": userName})
		if p.Status != http.StatusOK {
			b.t.Fatalf("identifier step: status %d\n%s", p.Status, p.Body)
		}
		f = p.Form(b.t)
	}
	if !f.Has("password") {
		b.t.Fatalf("no password field on %s:\n%s", p.URL, p.Body)
	}
	return b.Submit(f, map[string]string{"password": password})
}

// AuthorizeAndLogin opens authURL, signs in at the login page if one is
// shown, and follows redirects until the redirect to redirectURI, whose
// URL it returns.
func (b *Browser) AuthorizeAndLogin(authURL, redirectURI, userName, password string) (*url.URL, error) {
	b.t.Helper()
	p := b.Follow(b.Get(authURL), redirectURI)
	if !strings.HasPrefix(p.Location, redirectURI) {
		if p.Status != http.StatusOK || len(p.Forms()) == 0 {
			return nil, fmt.Errorf("expected login page, got status %d at %s:\n%s", p.Status, p.URL, p.Body)
		}
		p = b.Follow(b.Login(p, userName, password), redirectURI)
	}
	if !strings.HasPrefix(p.Location, redirectURI) {
		return nil, fmt.Errorf("did not reach %s; last status %d at %s:\n%s", redirectURI, p.Status, p.URL, p.Body)
	}
	return url.Parse(p.Location)
}

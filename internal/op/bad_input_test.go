package op_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// padding is n distinct parameters of size bytes each.
func padding(n, size int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "&pad%d=%s", i, strings.Repeat("a", size))
	}
	return sb.String()
}

func TestTokenEndpoint_BadInputIsRefusedAndChangesNothing(t *testing.T) {
	s := startOP(t, "sqlite")
	c := s.Client(s.Fx)
	b := servertest.NewBrowser(t)
	code, verifier := s.Code(t, b, c)
	// good is a valid exchange body for code; every case below spoils it.
	good := "grant_type=authorization_code&code=" + url.QueryEscape(code) +
		"&redirect_uri=" + url.QueryEscape(c.RedirectURI) + "&code_verifier=" + url.QueryEscape(verifier)
	const form = "application/x-www-form-urlencoded"
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
	}
	withSecret := basic(c.ID, c.Secret)
	header := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", v) }
	}

	cases := []struct {
		name        string
		contentType string
		body        string
		auth        func(*http.Request)
		status      int
		code        string
	}{
		{"malformed form encoding", form, good + "&x=%zz", withSecret, 400, "invalid_request"},
		// Small parameters, each within MaxParamLen: only the body limit refuses them.
		{"body over 64 KiB", form, good + padding(20, 4000), withSecret, 400, "invalid_request"},
		{"parameter over 4 KiB", form, good + "&state=" + strings.Repeat("a", 5000), withSecret, 400, "invalid_request"},
		{"duplicate code", form, good + "&code=" + url.QueryEscape(code), withSecret, 400, "invalid_request"},
		{"duplicate grant_type", form, good + "&grant_type=authorization_code", withSecret, 400, "invalid_request"},
		{"invalid UTF-8 value", form, good + "&state=%ff%fe", withSecret, 400, "invalid_request"},
		{"invalid UTF-8 name", form, good + "&%c3%28=1", withSecret, 400, "invalid_request"},
		{"unknown grant_type", form, strings.Replace(good, "grant_type=authorization_code", "grant_type=password", 1), withSecret, 400, "unsupported_grant_type"},
		{"missing grant_type", form, strings.Replace(good, "grant_type=authorization_code&", "", 1), withSecret, 400, "invalid_request"},
		{"wrong secret (post)", form, good + "&client_id=" + url.QueryEscape(c.ID) + "&client_secret=wrong", nil, 401, "invalid_client"},
		{"unknown client", form, good, basic("no-such-client", "x"), 401, "invalid_client"},
		{"no client authentication", form, good, nil, 401, "invalid_client"},
		{"Basic and client_secret_post", form, good + "&client_secret=" + url.QueryEscape(c.Secret), withSecret, 400, "invalid_request"},
		{"Basic and another client_id", form, good + "&client_id=someone-else", withSecret, 400, "invalid_request"},
		{"Bearer instead of Basic", form, good, header("Bearer " + c.Secret), 401, "invalid_client"},
		{"Basic that is not base64", form, good, header("Basic !!!"), 401, "invalid_client"},
		{"Basic with bad percent-encoding", form, good, header("Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:secret"))), 401, "invalid_client"},
		{"JSON body", "application/json", `{"grant_type":"authorization_code","code":"` + code + `"}`, withSecret, 400, "invalid_request"},
		{"no Content-Type", "", good, withSecret, 400, "invalid_request"},
		{"multipart body", "multipart/form-data; boundary=x", good, withSecret, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.PostRaw(t, c.Org, "/token", tc.contentType, tc.body, tc.auth)
			r.WantError(t, tc.status, tc.code)
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
			}
			// RFC 6749 §5.2: a client that tried the Authorization header is told how to authenticate.
			if tc.auth != nil && tc.code == "invalid_client" && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("invalid_client after the Authorization header without a Basic challenge: %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("wrong secret (Basic) gets a Basic challenge", func(t *testing.T) {
		r := s.PostRaw(t, c.Org, "/token", form, good, basic(c.ID, "wrong"))
		r.WantError(t, http.StatusUnauthorized, "invalid_client")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("GET is not allowed", func(t *testing.T) {
		resp, err := s.HTTP.Get(s.Inst.Issuer(c.Org) + "/token?" + good)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
			t.Fatalf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})

	t.Run("the code survived all of it", func(t *testing.T) {
		// A charset parameter on the media type is fine.
		s.PostRaw(t, c.Org, "/token", form+"; charset=UTF-8", good, withSecret).Tokens(t)
	})
}

func TestAuthorizeEndpoint_BadInput(t *testing.T) {
	s := startOP(t, "sqlite")
	c := s.Client(s.Fx)
	ccOnly := []string{"client_credentials"}
	machine := s.NewApp(t, c.Org, false, directory.AppChanges{GrantTypes: &ccOnly})
	b := servertest.NewBrowser(t)
	base := s.AuthorizeURL(c, nil)

	// Until the client and redirect URI are known, errors stay on Latchkey's page.
	for _, tc := range []struct{ name, url string }{
		{"duplicate parameter", base + "&state=other"},
		{"duplicate client_id", base + "&client_id=" + url.QueryEscape(c.ID)},
		{"invalid UTF-8", base + "&nonce=%ff%fe"},
		{"malformed query", base + "&x=%zz"},
		{"unknown client", s.AuthorizeURL(servertest.OPClient{Org: c.Org, ID: "no-such-client", RedirectURI: c.RedirectURI}, nil)},
		{"missing client_id", s.AuthorizeURL(c, url.Values{"client_id": {""}})},
		{"missing redirect_uri", s.AuthorizeURL(c, url.Values{"redirect_uri": {""}})},
		{"redirect_uri differs by a trailing slash", s.AuthorizeURL(c, url.Values{"redirect_uri": {c.RedirectURI + "/"}})},
		{"redirect_uri with an extra query", s.AuthorizeURL(c, url.Values{"redirect_uri": {c.RedirectURI + "?x=1"}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.Get(tc.url)
			if p.Status != http.StatusBadRequest || p.Location != "" || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d, Location %q, Content-Type %q", p.Status, p.Location, p.Header.Get("Content-Type"))
			}
		})
	}

	t.Run("POST with a duplicate parameter", func(t *testing.T) {
		u, _ := url.Parse(base)
		q := u.Query()
		q.Add("scope", "openid")
		p := b.PostForm(s.Inst.Issuer(c.Org)+"/authorize", q)
		if p.Status != http.StatusBadRequest || p.Location != "" {
			t.Fatalf("status %d, Location %q", p.Status, p.Location)
		}
	})

	// Once they are, errors go back to the client with state and iss.
	for _, tc := range []struct {
		name   string
		client servertest.OPClient
		params url.Values
		code   string
	}{
		{"unsupported response_type", c, url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"hybrid response_type", c, url.Values{"response_type": {"code id_token"}}, "unsupported_response_type"},
		{"missing response_type", c, url.Values{"response_type": {""}}, "invalid_request"},
		{"missing openid scope", c, url.Values{"scope": {"profile email"}}, "invalid_scope"},
		{"request object", c, url.Values{"request": {"eyJhbGciOiJub25lIn0.e30."}}, "request_not_supported"},
		{"request_uri", c, url.Values{"request_uri": {"https://example.com/r"}}, "request_uri_not_supported"},
		{"negative max_age", c, url.Values{"max_age": {"-1"}}, "invalid_request"},
		{"non-numeric max_age", c, url.Values{"max_age": {"soon"}}, "invalid_request"},
		{"unknown prompt", c, url.Values{"prompt": {"sometimes"}}, "invalid_request"},
		{"malformed code_challenge", c, url.Values{"code_challenge": {"short"}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"code_challenge_method without a challenge", c, url.Values{"code_challenge_method": {"S256"}}, "invalid_request"},
		{"client without the authorization_code grant", machine, nil, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.Get(s.AuthorizeURL(tc.client, tc.params))
			s.WantRedirectError(t, p, tc.client.RedirectURI, tc.client.Org, tc.code)
		})
	}

	t.Run("POST is answered like GET", func(t *testing.T) {
		u, _ := url.Parse(s.AuthorizeURL(c, url.Values{"prompt": {"none"}}))
		p := b.PostForm(s.Inst.Issuer(c.Org)+"/authorize", u.Query())
		s.WantRedirectError(t, p, c.RedirectURI, c.Org, "login_required")
	})
}

package oauth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/oauth"
)

func formRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestParseForm_RefusesRepeatedOverLongAndInvalidParameters(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"plain", "grant_type=authorization_code&code=abc", true},
		{"repeated parameter", "code=a&code=b", false},
		{"invalid UTF-8", "code=%ff%fe", false},
		{"over-long value", "code=" + strings.Repeat("a", oauth.MaxParamLen+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := oauth.ParseForm(httptest.NewRecorder(), formRequest(tc.body))
			if tc.ok != (err == nil) {
				t.Fatalf("ParseForm(%q) error = %v, want ok=%v", tc.body, err, tc.ok)
			}
			if err != nil && (err.Code != "invalid_request" || err.Status != http.StatusBadRequest) {
				t.Errorf("error = %+v, want invalid_request 400", err)
			}
			if tc.ok && p.Get("code") != "abc" {
				t.Errorf("code = %q", p.Get("code"))
			}
		})
	}
}

func TestReadClientCredentials_OneMethodOnly(t *testing.T) {
	basic := func(r *http.Request, id, secret string) *http.Request {
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r
	}
	for _, tc := range []struct {
		name       string
		req        *http.Request
		wantID     string
		wantMethod string
		wantErr    string
	}{
		{"basic", basic(formRequest("grant_type=x"), "web app", "s3cr:t"), "web app", "client_secret_basic", ""},
		{"post", formRequest("client_id=web&client_secret=s"), "web", "client_secret_post", ""},
		{"public", formRequest("client_id=spa"), "spa", "none", ""},
		{"both", basic(formRequest("client_secret=s"), "web", "s"), "", "", "invalid_request"},
		{"basic and another client_id", basic(formRequest("client_id=other"), "web", "s"), "", "", "invalid_request"},
		{"no client", formRequest("grant_type=x"), "", "", "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, perr := oauth.ParseForm(httptest.NewRecorder(), tc.req)
			if perr != nil {
				t.Fatal(perr)
			}
			cc, err := oauth.ReadClientCredentials(tc.req, p)
			switch {
			case tc.wantErr != "":
				if err == nil || err.Code != tc.wantErr {
					t.Fatalf("error = %v, want %s", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case cc.ClientID != tc.wantID || cc.Method != tc.wantMethod:
				t.Errorf("credentials = %+v, want %s by %s", cc, tc.wantID, tc.wantMethod)
			}
		})
	}
}

func TestVerifyPKCE_S256Only(t *testing.T) {
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if !oauth.VerifyPKCE(verifier, challenge) {
		t.Error("the right verifier was refused")
	}
	for _, bad := range []string{strings.Repeat("w", 43), verifier[:42], challenge} {
		if oauth.VerifyPKCE(bad, challenge) {
			t.Errorf("VerifyPKCE(%q) accepted", bad)
		}
	}
	if oauth.VerifyPKCE(verifier, verifier) {
		t.Error("a plain challenge was accepted")
	}
}

func TestParseScope_KeepsKnownScopesInAStableOrder(t *testing.T) {
	if got := oauth.ParseScope("email  unknown openid offline_access"); !slices.Equal(got, []string{"openid", "email", "offline_access"}) {
		t.Errorf("ParseScope = %v", got)
	}
	if !oauth.HasScope("openid email", "email") || oauth.HasScope("openid emails", "email") {
		t.Error("HasScope matched by substring or missed a scope")
	}
}

package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRequest feeds authorization and token endpoint requests —
// query, form body, content type and Authorization header — through the
// strict parameter parser and client credential reader. Whatever comes in,
// nothing panics, and what is accepted is one valid UTF-8 value per name
// within the length limit.
func FuzzParseRequest(f *testing.F) {
	f.Add(false, "response_type=code&client_id=abc&redirect_uri=https%3A%2F%2Fapp%2Fcb&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256", "", "", "")
	f.Add(true, "", "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp%2Fcb&code_verifier=v", "application/x-www-form-urlencoded", "Basic YWJjOnNlY3JldA==")
	f.Add(true, "", "grant_type=refresh_token&refresh_token=r&client_id=abc&client_secret=s", "application/x-www-form-urlencoded", "")
	f.Add(true, "", "client_id=a&client_id=b", "application/x-www-form-urlencoded; charset=utf-8", "Basic Og==")
	f.Add(false, "scope=%ff%fe&state=%00", "", "", "")
	f.Add(true, "", "a=%zz&b", "multipart/form-data; boundary=x", "Bearer x")
	f.Add(true, "", "client_id=%E2%82", "text/plain", "Basic !!!")
	f.Add(false, "x="+strings.Repeat("a", 9000), "", "", "")
	f.Fuzz(func(t *testing.T, post bool, query, body, contentType, authorization string) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "/o/acme/token", strings.NewReader(body))
		r.URL.RawQuery = query
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		p, perr := ParseRequest(httptest.NewRecorder(), r)
		if perr != nil {
			if perr.Code == "" || perr.Status < 400 {
				t.Fatalf("error without a code or status: %+v", perr)
			}
			return
		}
		for k, v := range p {
			if !utf8.ValidString(k) || !utf8.ValidString(v) || len(v) > MaxParamLen {
				t.Fatalf("accepted %q=%q", k, v)
			}
		}
		creds, cerr := ReadClientCredentials(r, p)
		if cerr == nil && creds.Method != "none" && creds.Method != "client_secret_basic" && creds.Method != "client_secret_post" {
			t.Fatalf("unknown method %q", creds.Method)
		}
		_ = ParseScope(p.Get("scope"))
		_ = ValidPKCEValue(p.Get("code_challenge"))
		_, _ = url.ParseQuery(query)
	})
}

// oldParse is how parameters were read before they were decoded straight
// into Params: url.ParseQuery, then one value per name.
func oldParse(s string) (Params, bool) {
	vals, err := url.ParseQuery(s)
	if err != nil {
		return nil, false
	}
	p := Params{}
	for k, vs := range vals {
		if len(vs) > 1 || !utf8.ValidString(k) || !utf8.ValidString(vs[0]) || len(vs[0]) > MaxParamLen {
			return nil, false
		}
		p[k] = vs[0]
	}
	return p, true
}

// FuzzParseParams checks that the parameter decoder accepts exactly what
// url.ParseQuery and the one-value rules accept, with the same values.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=1&a=2", "a;b=1", "a=%zz", "=x&&y", "k=%ff", "x=" + strings.Repeat("a", MaxParamLen+1),
		"redirect_uri=https%3A%2F%2Fapp%2Fcb&scope=openid+profile", strings.Repeat("&", maxParams), strings.Repeat("a&", maxParams)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, ok := oldParse(s)
		got, perr := parseParams(s, "malformed")
		if ok != (perr == nil) {
			t.Fatalf("%q: accepted %v, want %v (%v)", s, perr == nil, ok, perr)
		}
		if ok && !maps.Equal(got, want) {
			t.Fatalf("%q: got %v want %v", s, got, want)
		}
	})
}

// FuzzPKCEAndScope compares the PKCE shape check, the S256 verification
// and HasScope with their plain definitions.
func FuzzPKCEAndScope(f *testing.F) {
	f.Add("dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "openid profile")
	f.Add(strings.Repeat("a", 128), strings.Repeat("b", 129), " openid\tgroups\n")
	f.Add(strings.Repeat("~", 42)+"\n", "", "openidx")
	pattern := regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	f.Fuzz(func(t *testing.T, verifier, challenge, scope string) {
		if got, want := ValidPKCEValue(verifier), pattern.MatchString(verifier); got != want {
			t.Fatalf("ValidPKCEValue(%q) = %v", verifier, got)
		}
		sum := sha256.Sum256([]byte(verifier))
		want := pattern.MatchString(verifier) && base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
		if got := VerifyPKCE(verifier, challenge); got != want {
			t.Fatalf("VerifyPKCE(%q, %q) = %v", verifier, challenge, got)
		}
		for _, s := range []string{"openid", "profile", "groups", verifier} {
			if got, want := HasScope(scope, s), slices.Contains(strings.Fields(scope), s); got != want {
				t.Fatalf("HasScope(%q, %q) = %v", scope, s, got)
			}
		}
		// A matching pair is accepted.
		if pattern.MatchString(verifier) && !VerifyPKCE(verifier, base64.RawURLEncoding.EncodeToString(sum[:])) {
			t.Fatalf("VerifyPKCE refused its own challenge for %q", verifier)
		}
	})
}

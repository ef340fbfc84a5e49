package discovery_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/outbound"
	"github.com/latchkey/latchkey/internal/upstream/discovery"
)

// document is a complete discovery document for an issuer.
func document(issuer string) map[string]any {
	return map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/authorize",
		"token_endpoint":                        issuer + "/token",
		"userinfo_endpoint":                     issuer + "/userinfo",
		"jwks_uri":                              issuer + "/keys",
		"end_session_endpoint":                  issuer + "/logout",
		"response_types_supported":              []string{"code"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"backchannel_logout_supported":          true,
	}
}

// idp serves the document edit returns (given the server's own URL) at
// path+/.well-known/openid-configuration.
func idp(t *testing.T, path string, edit func(base string, doc map[string]any)) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path+discovery.WellKnownPath {
			http.NotFound(w, r)
			return
		}
		doc := document(srv.URL + path)
		if edit != nil {
			edit(srv.URL, doc)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// client is the guarded outbound client with loopback allowed, as tests
// and `latchkey demo` run it.
func client() *http.Client { return outbound.NewClient(true, 5*time.Second) }

func wantKind(t *testing.T, err error, kind discovery.Kind, detail ...string) {
	t.Helper()
	ce, ok := discovery.AsCheckError(err)
	if !ok {
		t.Fatalf("err = %v (%T), want a *CheckError of kind %s", err, err, kind)
	}
	t.Logf("%s: %s", ce.Kind, ce.Detail)
	if ce.Kind != kind {
		t.Fatalf("kind = %s (%s), want %s", ce.Kind, ce.Detail, kind)
	}
	for _, d := range detail {
		if !strings.Contains(ce.Detail, d) {
			t.Errorf("detail %q does not mention %q", ce.Detail, d)
		}
	}
}

// wantUnreachable asserts the one generic failure an organization admin
// sees for any target that could not be reached, with the exact cause
// only in Reason (for the server log).
func wantUnreachable(t *testing.T, err error, reason ...string) {
	t.Helper()
	wantKind(t, err, discovery.KindUnreachable, "could not be reached")
	ce, _ := discovery.AsCheckError(err)
	for _, leak := range []string{"refused", "resolve", "loopback", "time", "forbidden", "address"} {
		if strings.Contains(ce.Detail, leak) {
			t.Errorf("detail %q tells why (%q)", ce.Detail, leak)
		}
	}
	for _, r := range reason {
		if !strings.Contains(ce.Reason, r) {
			t.Errorf("reason %q does not mention %q", ce.Reason, r)
		}
	}
}

func TestDiscover_ReportsWhatTheUpstreamOffers(t *testing.T) {
	srv := idp(t, "/realms/acme", nil)
	iss := srv.URL + "/realms/acme"
	for _, configURL := range []string{iss + discovery.WellKnownPath, iss, iss + "/"} {
		t.Run(configURL, func(t *testing.T) {
			m, err := discovery.Discover(context.Background(), client(), configURL)
			if err != nil {
				t.Fatal(err)
			}
			want := &discovery.Metadata{
				Issuer: iss, AuthorizationEndpoint: iss + "/authorize", TokenEndpoint: iss + "/token",
				UserinfoEndpoint: iss + "/userinfo", JWKSURI: iss + "/keys", EndSessionEndpoint: iss + "/logout",
				ResponseTypesSupported:            []string{"code"},
				IDTokenSigningAlgValuesSupported:  []string{"RS256", "ES256"},
				CodeChallengeMethodsSupported:     []string{"plain", "S256"},
				TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
				BackchannelLogoutSupported:        true,
			}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("metadata:\n got %+v\nwant %+v", m, want)
			}
			if !m.SupportsPKCE() {
				t.Error("SupportsPKCE = false")
			}
			if w := m.Warnings(true); len(w) != 0 {
				t.Errorf("warnings for a complete document: %q", w)
			}
		})
	}
}

func TestDiscover_AcceptsAnIssuerWithATrailingSlash(t *testing.T) {
	// Some IdPs (Auth0) name their issuer with a trailing "/", which §4.1
	// drops before appending the well-known path.
	srv := idp(t, "", func(base string, doc map[string]any) { doc["issuer"] = base + "/" })
	m, err := discovery.Discover(context.Background(), client(), srv.URL+discovery.WellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	if m.Issuer != srv.URL+"/" {
		t.Errorf("issuer = %q", m.Issuer)
	}
}

func TestDiscover_ConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = discovery.Discover(context.Background(), client(), "http://"+addr+discovery.WellKnownPath)
	wantUnreachable(t, err, addr, "refused")
}

func TestDiscover_UnknownHost(t *testing.T) {
	_, err := discovery.Discover(context.Background(), client(), "https://no-such-host.invalid"+discovery.WellKnownPath)
	wantUnreachable(t, err, "no-such-host.invalid")
}

func TestDiscover_UntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request went through an untrusted TLS connection")
	}))
	defer srv.Close()
	_, err := discovery.Discover(context.Background(), client(), srv.URL+discovery.WellKnownPath)
	wantKind(t, err, discovery.KindTLS, "certificate")
}

func TestDiscover_HTTPSToAPlainHTTPServer(t *testing.T) {
	srv := idp(t, "", nil)
	_, err := discovery.Discover(context.Background(), client(), strings.Replace(srv.URL, "http://", "https://", 1)+discovery.WellKnownPath)
	wantKind(t, err, discovery.KindTLS)
}

func TestDiscover_LoopbackRefusedUnlessAllowed(t *testing.T) {
	srv := idp(t, "", func(string, map[string]any) { t.Error("a forbidden address was reached") })
	_, err := discovery.Discover(context.Background(), outbound.NewClient(false, 5*time.Second), srv.URL+discovery.WellKnownPath)
	wantUnreachable(t, err, "loopback", "--outbound-allow-loopback")
}

func TestDiscover_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	_, err := discovery.Discover(context.Background(), outbound.NewClient(true, 100*time.Millisecond), srv.URL+discovery.WellKnownPath)
	wantUnreachable(t, err, "in time")
}

func TestDiscover_RedirectToAnotherHostIsNotFollowed(t *testing.T) {
	target := idp(t, "", nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// localhost and 127.0.0.1 are different hosts to the client.
		http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+r.URL.Path, http.StatusFound)
	}))
	defer srv.Close()
	_, err := discovery.Discover(context.Background(), client(), srv.URL+discovery.WellKnownPath)
	wantKind(t, err, discovery.KindHTTP, "another host")
}

func TestDiscover_RefusesBadAnswers(t *testing.T) {
	tests := []struct {
		name    string
		handler func(base string, w http.ResponseWriter)
		kind    discovery.Kind
		detail  []string
	}{
		{"server error", func(_ string, w http.ResponseWriter) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, discovery.KindHTTPStatus, []string{"500"}},
		{"not found", func(_ string, w http.ResponseWriter) {
			http.Error(w, "no", http.StatusNotFound)
		}, discovery.KindHTTPStatus, []string{"404"}},
		{"HTML page", func(_ string, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html><title>Sign in</title>"))
		}, discovery.KindNotJSON, []string{"text/html", "web page"}},
		{"JSON array", func(_ string, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`["issuer"]`))
		}, discovery.KindNotJSON, nil},
		{"JSON null", func(_ string, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`null`))
		}, discovery.KindNotJSON, nil},
		{"no issuer", func(base string, w http.ResponseWriter) {
			doc := document(base)
			delete(doc, "issuer")
			_ = json.NewEncoder(w).Encode(doc)
		}, discovery.KindIssuerMismatch, []string{"no issuer"}},
		{"another issuer", func(base string, w http.ResponseWriter) {
			doc := document("https://evil.example")
			_ = json.NewEncoder(w).Encode(doc)
		}, discovery.KindIssuerMismatch, []string{"https://evil.example"}},
		{"issuer with another path", func(base string, w http.ResponseWriter) {
			_ = json.NewEncoder(w).Encode(document(base + "/realms/other"))
		}, discovery.KindIssuerMismatch, []string{"/realms/other"}},
		{"missing endpoints", func(base string, w http.ResponseWriter) {
			doc := document(base)
			delete(doc, "token_endpoint")
			delete(doc, "jwks_uri")
			_ = json.NewEncoder(w).Encode(doc)
		}, discovery.KindIncomplete, []string{"token_endpoint", "jwks_uri"}},
		{"missing authorization endpoint", func(base string, w http.ResponseWriter) {
			doc := document(base)
			doc["authorization_endpoint"] = ""
			_ = json.NewEncoder(w).Encode(doc)
		}, discovery.KindIncomplete, []string{"authorization_endpoint"}},
		{"relative endpoint", func(base string, w http.ResponseWriter) {
			doc := document(base)
			doc["token_endpoint"] = "/token"
			_ = json.NewEncoder(w).Encode(doc)
		}, discovery.KindInvalidDocument, []string{"token_endpoint"}},
		{"wrongly typed field", func(base string, w http.ResponseWriter) {
			doc := document(base)
			doc["backchannel_logout_supported"] = "yes"
			_ = json.NewEncoder(w).Encode(doc)
		}, discovery.KindInvalidDocument, []string{"backchannel_logout_supported"}},
		{"too large", func(base string, w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("x", outbound.MaxResponseBytes) + `"}`))
		}, discovery.KindHTTP, []string{"larger"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.handler(srv.URL, w)
			}))
			defer srv.Close()
			_, err := discovery.Discover(context.Background(), client(), srv.URL+discovery.WellKnownPath)
			wantKind(t, err, tc.kind, tc.detail...)
			if ce, _ := discovery.AsCheckError(err); ce.URL != srv.URL+discovery.WellKnownPath {
				t.Errorf("URL = %q", ce.URL)
			}
		})
	}
}

func TestDiscover_RefusesAConfigURLThatIsNotHTTP(t *testing.T) {
	for _, u := range []string{"", "idp.example", "ftp://idp.example/x", "file:///etc/passwd"} {
		_, err := discovery.Discover(context.Background(), client(), u)
		wantKind(t, err, discovery.KindConfigURL)
	}
}

func TestMetadata_Warnings(t *testing.T) {
	m := &discovery.Metadata{
		Issuer: "https://idp.example", AuthorizationEndpoint: "https://idp.example/a", TokenEndpoint: "https://idp.example/t",
		JWKSURI: "https://idp.example/k", ResponseTypesSupported: []string{"id_token"},
		IDTokenSigningAlgValuesSupported:  []string{"HS256"},
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"},
	}
	got := strings.Join(m.Warnings(true), "\n")
	for _, want := range []string{"\"code\"", "PKCE", "client_secret_basic", "HS256", "userinfo_endpoint", "end_session_endpoint"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings do not mention %s:\n%s", want, got)
		}
	}
	if slices.ContainsFunc(m.Warnings(false), func(w string) bool { return strings.Contains(w, "end_session_endpoint") }) {
		t.Error("warned about end_session_endpoint with end upstream session off")
	}
	if methods := (&discovery.Metadata{}).TokenEndpointAuthMethods(); !slices.Equal(methods, []string{"client_secret_basic"}) {
		t.Errorf("default auth methods = %v", methods)
	}
}

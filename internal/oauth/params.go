package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/secret"
)

// MaxFormBytes bounds every form body the provider reads.
const MaxFormBytes = 64 << 10

// MaxParamLen bounds one parameter value; state and nonce are opaque to us
// but no honest client needs more.
const MaxParamLen = 4096

// Params are a request's parameters, each given at most once (RFC 6749 §3.1).
type Params map[string]string

// Get returns the parameter or "".
func (p Params) Get(k string) string { return p[k] }

// ParseQuery reads the URL query of r.
func ParseQuery(r *http.Request) (Params, *Error) {
	return parseParams(r.URL.RawQuery, "the query string is malformed")
}

// ParseForm reads an application/x-www-form-urlencoded body of at most
// MaxFormBytes. Query parameters are not mixed in.
func ParseForm(w http.ResponseWriter, r *http.Request) (Params, *Error) {
	if r.Method != http.MethodPost {
		return nil, InvalidRequest("use POST")
	}
	if !isFormContentType(r.Header.Get("Content-Type")) {
		return nil, InvalidRequest("the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFormBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, InvalidRequest("the body is larger than %d bytes", MaxFormBytes)
		}
		return nil, InvalidRequest("the body could not be read")
	}
	return parseParams(string(body), "the body is not valid form encoding")
}

const formContentType = "application/x-www-form-urlencoded"

// isFormContentType reports whether a Content-Type header names a form
// body; the plain value every client sends needs no parsing.
func isFormContentType(h string) bool {
	if h == formContentType {
		return true
	}
	ct, _, err := mime.ParseMediaType(h)
	return err == nil && ct == formContentType
}

// ParseRequest reads GET query or POST form parameters (authorization and
// end-session endpoints accept both).
func ParseRequest(w http.ResponseWriter, r *http.Request) (Params, *Error) {
	if r.Method == http.MethodPost {
		return ParseForm(w, r)
	}
	return ParseQuery(r)
}

// maxParams is the most parameters url.ParseQuery accepts.
const maxParams = 10000

// parseParams decodes s as url.ParseQuery does, straight into Params: a
// malformed encoding anywhere is reported as malformed; otherwise a
// repeated, over-long or invalid UTF-8 parameter is refused.
func parseParams(s, malformed string) (Params, *Error) {
	n := strings.Count(s, "&") + 1
	if n > maxParams {
		return nil, InvalidRequest("%s", malformed)
	}
	p := make(Params, min(n, 32))
	var bad *Error
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, "&")
		if strings.Contains(part, ";") {
			return nil, InvalidRequest("%s", malformed)
		}
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, InvalidRequest("%s", malformed)
		}
		if bad != nil {
			continue
		}
		switch _, seen := p[k]; {
		case seen:
			bad = InvalidRequest("parameter %q is given more than once", k)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			bad = InvalidRequest("parameters must be valid UTF-8")
		case len(v) > MaxParamLen:
			bad = InvalidRequest("parameter %q is longer than %d bytes", k, MaxParamLen)
		default:
			p[k] = v
		}
	}
	if bad != nil {
		return nil, bad
	}
	return p, nil
}

// ClientCredentials are what a client presented to authenticate.
type ClientCredentials struct {
	ClientID string
	Secret   string
	// Method is client_secret_basic, client_secret_post or none. It is
	// client_secret_basic whenever the Authorization header was used, even
	// when the credentials could not be read: the invalid_client answer must
	// then carry a WWW-Authenticate challenge (RFC 6749 §5.2).
	Method string
}

// ReadClientCredentials extracts client credentials from HTTP Basic or the
// form (RFC 6749 §2.3.1). Using both methods at once is an error.
func ReadClientCredentials(r *http.Request, p Params) (ClientCredentials, *Error) {
	user, pass, hasBasic := r.BasicAuth()
	_, hasPostSecret := p["client_secret"]
	if hasBasic {
		if hasPostSecret {
			return ClientCredentials{}, InvalidRequest("use one client authentication method, not both")
		}
		id, err1 := url.QueryUnescape(user)
		sec, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || !utf8.ValidString(id) || !utf8.ValidString(sec) {
			return ClientCredentials{Method: "client_secret_basic"}, InvalidClient("malformed HTTP Basic credentials")
		}
		if pid := p.Get("client_id"); pid != "" && pid != id {
			return ClientCredentials{}, InvalidRequest("client_id does not match the authenticated client")
		}
		return ClientCredentials{ClientID: id, Secret: sec, Method: "client_secret_basic"}, nil
	}
	if r.Header.Get("Authorization") != "" {
		return ClientCredentials{Method: "client_secret_basic"}, InvalidClient("unsupported Authorization scheme; use HTTP Basic")
	}
	id := p.Get("client_id")
	if id == "" {
		return ClientCredentials{}, InvalidClient("client authentication is required")
	}
	if hasPostSecret {
		return ClientCredentials{ClientID: id, Secret: p.Get("client_secret"), Method: "client_secret_post"}, nil
	}
	return ClientCredentials{ClientID: id, Method: "none"}, nil
}

// VerifySecret compares a presented client secret with its stored hash in
// constant time.
func VerifySecret(presented string, hash []byte) bool {
	return len(hash) != 0 && secret.MatchesHash(presented, hash)
}

// ValidPKCEValue checks the RFC 7636 shape of a verifier or challenge:
// 43 to 128 characters of [A-Za-z0-9._~-].
func ValidPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}

// VerifyPKCE checks verifier against an S256 challenge.
func VerifyPKCE(verifier, challenge string) bool {
	if !ValidPKCEValue(verifier) {
		return false
	}
	var in [128]byte
	sum := sha256.Sum256(append(in[:0], verifier...))
	var want, got [43]byte // base64url of 32 bytes, unpadded
	if len(challenge) != len(want) {
		return false
	}
	base64.RawURLEncoding.Encode(want[:], sum[:])
	copy(got[:], challenge)
	return secret.Equal(want[:], got[:])
}

// Scopes Latchkey understands.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
	// ScopeGroups asks for the groups claim; granted only to applications
	// that opted in to it.
	ScopeGroups = "groups"
)

// SupportedScopes are advertised in discovery.
var SupportedScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess, ScopeGroups}

// ParseScope splits a scope string, keeps known scopes in a stable order and
// drops the rest (RFC 6749 §3.3 lets the server grant less than asked).
func ParseScope(s string) []string {
	asked := strings.Fields(s)
	var out []string
	for _, known := range SupportedScopes {
		if slices.Contains(asked, known) {
			out = append(out, known)
		}
	}
	return out
}

// HasScope reports whether the space-separated scope string contains s.
func HasScope(scope, s string) bool {
	for f := range strings.FieldsSeq(scope) {
		if f == s {
			return true
		}
	}
	return false
}

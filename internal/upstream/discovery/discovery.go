// Package discovery fetches an upstream identity provider's OpenID Connect
// discovery document and says precisely what it found, or why it could not
// use it, as a *CheckError of a fixed Kind that every management surface
// can show. Federated login (package upstream) and the management check
// (package directory) both use it.
//
// Every request goes through the caller's *http.Client, which must be the
// guarded outbound client (internal/outbound): an organization admin aims
// these requests, so this package never builds a client of its own, and it
// never stores anything.
package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"

	"github.com/latchkey/latchkey/internal/outbound"
)

// WellKnownPath is appended to an issuer to find its discovery document
// (OpenID Connect Discovery 1.0 §4).
const WellKnownPath = "/.well-known/openid-configuration"

// maxDocumentBytes bounds the document even when the caller's client does
// not (the outbound client already stops at the same size).
const maxDocumentBytes = outbound.MaxResponseBytes

// Metadata is what Latchkey uses of an upstream's discovery document.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported,omitempty"`
}

// SupportsPKCE reports whether the upstream advertises PKCE with S256,
// which Latchkey then uses on every login.
func (m *Metadata) SupportsPKCE() bool {
	return slices.Contains(m.CodeChallengeMethodsSupported, "S256")
}

// TokenEndpointAuthMethods returns the advertised client authentication
// methods, or the specification's default when none are advertised.
func (m *Metadata) TokenEndpointAuthMethods() []string {
	if len(m.TokenEndpointAuthMethodsSupported) == 0 {
		return []string{"client_secret_basic"}
	}
	return m.TokenEndpointAuthMethodsSupported
}

// VerifiableAlgs are the id_token signature algorithms an RP can verify
// with the upstream's published keys (no shared-secret HMAC, never none).
var VerifiableAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Warnings lists what in the document will make logins weaker or fail in
// part, though the connection can be used. endUpstreamSession is the
// connection's setting of that name.
func (m *Metadata) Warnings(endUpstreamSession bool) []string {
	var out []string
	if len(m.ResponseTypesSupported) > 0 && !slices.Contains(m.ResponseTypesSupported, "code") {
		out = append(out, "response_types_supported does not list \"code\": the upstream may refuse the authorization code flow")
	}
	if !m.SupportsPKCE() {
		out = append(out, "no PKCE S256 in code_challenge_methods_supported: logins rely on state and nonce alone")
	}
	methods := m.TokenEndpointAuthMethods()
	if !slices.Contains(methods, "client_secret_basic") && !slices.Contains(methods, "client_secret_post") {
		out = append(out, fmt.Sprintf("the token endpoint accepts neither client_secret_basic nor client_secret_post (it lists %s)", strings.Join(methods, ", ")))
	}
	if len(m.IDTokenSigningAlgValuesSupported) > 0 && !slices.ContainsFunc(m.IDTokenSigningAlgValuesSupported, func(a string) bool {
		return slices.Contains(VerifiableAlgs, a)
	}) {
		out = append(out, fmt.Sprintf("id_token_signing_alg_values_supported lists no public-key algorithm (%s)", strings.Join(m.IDTokenSigningAlgValuesSupported, ", ")))
	}
	if m.UserinfoEndpoint == "" {
		out = append(out, "no userinfo_endpoint: the username claim must be in the id_token")
	}
	if endUpstreamSession && m.EndSessionEndpoint == "" {
		out = append(out, "end upstream session is on, but the upstream has no end_session_endpoint: logout ends the Latchkey session only")
	}
	return out
}

// Kind names why a check failed, in words the CLI and portal show as is.
type Kind string

const (
	// KindConfigURL: the configuration URL itself is unusable.
	KindConfigURL Kind = "config_url"
	// KindUnreachable: the host could not be reached — it does not
	// resolve, refuses or drops the connection, does not answer in time, or
	// is an address Latchkey does not call. One kind for all of these, so
	// that an organization admin cannot map the network with checks; the
	// exact reason (CheckError.Reason) goes to the server log.
	KindUnreachable Kind = "unreachable"
	// KindTLS: the TLS handshake failed (untrusted or wrong certificate,
	// or the server does not speak TLS).
	KindTLS Kind = "tls"
	// KindHTTP: the request failed otherwise (a redirect to another host,
	// a response over the size limit, a protocol error).
	KindHTTP Kind = "http"
	// KindHTTPStatus: the server answered with a status other than 200.
	KindHTTPStatus Kind = "http_status"
	// KindNotJSON: the answer is not a JSON object.
	KindNotJSON Kind = "not_json"
	// KindIssuerMismatch: the document's issuer is missing or is not the
	// URL the document was found under.
	KindIssuerMismatch Kind = "issuer_mismatch"
	// KindIncomplete: a required endpoint is missing.
	KindIncomplete Kind = "incomplete"
	// KindInvalidDocument: a field has the wrong type or an endpoint is
	// not an absolute http(s) URL.
	KindInvalidDocument Kind = "invalid_document"
)

// CheckError says why an upstream could not be used.
type CheckError struct {
	Kind Kind
	// Detail is one or two sentences for an administrator.
	Detail string
	// URL is the document URL that was fetched, when there was one.
	URL string
	// Status is the HTTP status for KindHTTPStatus.
	Status int
	// Reason is the exact cause of a KindUnreachable failure, for the
	// server log and the operator's CLI; never shown to organization admins.
	Reason string
	// Err is the underlying error, for logs.
	Err error
}

func (e *CheckError) Error() string { return fmt.Sprintf("%s: %s", e.Kind, e.Detail) }
func (e *CheckError) Unwrap() error { return e.Err }

// AsCheckError reports whether err is (or wraps) a *CheckError.
func AsCheckError(err error) (*CheckError, bool) {
	var ce *CheckError
	ok := errors.As(err, &ce)
	return ce, ok
}

// DiscoveryURL returns where the document of configURL is and the issuer
// it must name. A URL ending in /.well-known/openid-configuration is the
// document; any other is taken as the issuer, and the path is appended.
// By §4.1 an issuer's trailing "/" is dropped before appending, so both
// the prefix and the prefix with "/" are the issuers that may name it.
func DiscoveryURL(configURL string) (docURL string, issuers []string, err error) {
	u, err := url.Parse(configURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, &CheckError{Kind: KindConfigURL, Detail: fmt.Sprintf("%q is not an absolute http or https URL", configURL), Err: err}
	}
	path := u.EscapedPath()
	if strings.HasSuffix(path, WellKnownPath) {
		prefix := u.Scheme + "://" + u.Host + strings.TrimSuffix(path, WellKnownPath)
		return configURL, []string{prefix, prefix + "/"}, nil
	}
	prefix := u.Scheme + "://" + u.Host + strings.TrimSuffix(path, "/")
	doc := prefix + WellKnownPath
	if u.RawQuery != "" {
		doc += "?" + u.RawQuery
	}
	return doc, []string{prefix, prefix + "/"}, nil
}

// Discover fetches and checks the discovery document of configURL through
// client (the guarded outbound client). Every failure is a *CheckError.
func Discover(ctx context.Context, client *http.Client, configURL string) (*Metadata, error) {
	docURL, issuers, err := DiscoveryURL(configURL)
	if err != nil {
		return nil, err
	}
	fail := func(kind Kind, err error, format string, args ...any) *CheckError {
		return &CheckError{Kind: kind, URL: docURL, Detail: fmt.Sprintf(format, args...), Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, docURL, nil)
	if err != nil {
		return nil, fail(KindConfigURL, err, "cannot request %s: %v", docURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, transportError(docURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ce := fail(KindHTTPStatus, nil, "%s answered HTTP %s, want 200", docURL, resp.Status)
		ce.Status = resp.StatusCode
		return nil, ce
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		if errors.Is(err, outbound.ErrTooLarge) {
			return nil, fail(KindHTTP, err, "the document at %s is larger than %d bytes", docURL, maxDocumentBytes)
		}
		return nil, transportError(docURL, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fail(KindHTTP, nil, "the document at %s is larger than %d bytes", docURL, maxDocumentBytes)
	}

	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil || object == nil {
		ct := resp.Header.Get("Content-Type")
		mt, _, _ := mime.ParseMediaType(ct)
		hint := ""
		if mt == "text/html" {
			hint = " It looks like a web page: the configuration URL usually ends in " + WellKnownPath + "."
		}
		return nil, fail(KindNotJSON, err, "the answer from %s is not a JSON object (Content-Type %q).%s", docURL, orNone(ct), hint)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fail(KindInvalidDocument, err, "field %s of the document is a JSON %s, want %s", te.Field, te.Value, te.Type)
		}
		return nil, fail(KindInvalidDocument, err, "the document cannot be read: %v", err)
	}

	if m.Issuer == "" {
		return nil, fail(KindIssuerMismatch, nil, "the document names no issuer; it must be %s", issuers[0])
	}
	if !slices.Contains(issuers, m.Issuer) {
		return nil, fail(KindIssuerMismatch, nil,
			"the document's issuer is %q, but a document at %s must name %q (OpenID Connect Discovery §4.3)", m.Issuer, docURL, issuers[0])
	}

	var missing []string
	for _, f := range []struct{ name, v string }{
		{"authorization_endpoint", m.AuthorizationEndpoint}, {"token_endpoint", m.TokenEndpoint}, {"jwks_uri", m.JWKSURI},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fail(KindIncomplete, nil, "the document lacks %s", strings.Join(missing, ", "))
	}
	for _, f := range []struct{ name, v string }{
		{"authorization_endpoint", m.AuthorizationEndpoint}, {"token_endpoint", m.TokenEndpoint}, {"jwks_uri", m.JWKSURI},
		{"userinfo_endpoint", m.UserinfoEndpoint}, {"end_session_endpoint", m.EndSessionEndpoint},
	} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fail(KindInvalidDocument, err, "%s %q is not an absolute http or https URL", f.name, f.v)
		}
	}
	return &m, nil
}

// transportError sorts a failed request into the kind an administrator
// can act on.
func transportError(docURL string, err error) *CheckError {
	ce := &CheckError{URL: docURL, Err: err}
	host := docURL
	if u, perr := url.Parse(docURL); perr == nil {
		host = u.Host
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, outbound.ErrForbiddenAddress):
		ce.Reason = fmt.Sprintf("%s is, or resolves to, an address Latchkey does not call (%v); loopback is allowed only with --outbound-allow-loopback, other ranges with --outbound-allow",
			host, forbiddenReason(err))
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			ce.Reason = fmt.Sprintf("the host name %q does not resolve (no such host)", dnsErr.Name)
		} else {
			ce.Reason = fmt.Sprintf("the host name %q could not be resolved: %v", dnsErr.Name, dnsErr.Err)
		}
	case isTLSError(err):
		ce.Kind = KindTLS
		ce.Detail = fmt.Sprintf("the TLS handshake with %s failed: %v", host, cause)
		return ce
	case errors.Is(err, syscall.ECONNREFUSED):
		ce.Reason = fmt.Sprintf("%s refused the connection (nothing listens on that port)", host)
	case outbound.Unreachable(err) && !(errors.As(err, &opErr) && opErr.Op == "dial"):
		ce.Reason = fmt.Sprintf("%s did not answer in time (a firewall dropping the connection?)", host)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		ce.Reason = fmt.Sprintf("cannot connect to %s: %v", host, opErr.Err)
	default:
		ce.Kind = KindHTTP
		ce.Detail = fmt.Sprintf("the request to %s failed: %v", docURL, cause)
		return ce
	}
	ce.Kind = KindUnreachable
	ce.Detail = fmt.Sprintf("%s could not be reached. Check the URL and that the identity provider is up; the server log has the reason.", host)
	return ce
}

// forbiddenReason digs the address check's own message out of the
// dialer's wrapping.
func forbiddenReason(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), outbound.ErrForbiddenAddress.Error()) {
			return e.Error()
		}
	}
	return err.Error()
}

func isTLSError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &record), errors.As(err, &alert):
		return true
	}
	// net/http reports a plain-HTTP answer to a TLS hello in its own words,
	// and a received alert arrives as "remote error: tls: …".
	msg := err.Error()
	return strings.Contains(msg, "HTTP response to HTTPS client") || strings.Contains(msg, "tls: ")
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

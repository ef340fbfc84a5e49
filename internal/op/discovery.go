package op

import (
	"encoding/json"
	"net/http"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
)

// Metadata is the OpenID Provider Metadata (OIDC Discovery §3).
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	UserinfoSigningAlgValuesSupported          []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported          bool     `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported                bool     `json:"frontchannel_logout_supported"`
}

// metadata describes the organization's provider.
func (p *Provider) metadata(iss string) Metadata {
	clientAuth := []string{"client_secret_basic", "client_secret_post", "none"}
	m := Metadata{
		Issuer:                                 iss,
		AuthorizationEndpoint:                  iss + "/authorize",
		TokenEndpoint:                          iss + "/token",
		UserinfoEndpoint:                       iss + "/userinfo",
		JWKSURI:                                iss + "/keys",
		RevocationEndpoint:                     iss + "/revoke",
		IntrospectionEndpoint:                  iss + "/introspect",
		ScopesSupported:                        oauth.SupportedScopes,
		ResponseTypesSupported:                 []string{"code"},
		ResponseModesSupported:                 []string{"query", "form_post"},
		GrantTypesSupported:                    []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantClientCredentials},
		SubjectTypesSupported:                  []string{"public"},
		IDTokenSigningAlgValuesSupported:       domain.SigningAlgs,
		TokenEndpointAuthMethodsSupported:      clientAuth,
		RevocationEndpointAuthMethodsSupported: clientAuth,
		// Introspection reveals token contents: public clients may not use it.
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:             []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr", "acr", "azp", "at_hash",
			"preferred_username", "name", "given_name", "family_name", "picture", "email", "email_verified", "role", "groups"},
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		AuthorizationResponseISSParameterSupported: true,
		EndSessionEndpoint:                         iss + "/end_session",
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
		FrontchannelLogoutSupported:                false,
		ACRValuesSupported:                         domain.ACRValues,
	}
	return m
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(p.metadata(request.Issuer(r.Context())))
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	set, err := p.Keys.JWKS(r.Context(), org.ID)
	if err != nil {
		p.internalError(w, r, "load JWKS", err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Next keys are published a rotation ahead, so caching cannot make a
	// verifier miss a key that is signing.
	w.Header().Set("Cache-Control", "public, max-age=600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(set)
}

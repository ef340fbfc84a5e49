package domain

import (
	"strings"
	"testing"
)

func validUpstream() *UpstreamConnection {
	c := &UpstreamConnection{
		OrgID:              "acme",
		ConfigURL:          "https://idp.acme.example/.well-known/openid-configuration",
		ClientID:           "latchkey",
		ClientSecretSealed: []byte("sealed"),
	}
	c.ApplyDefaults()
	return c
}

func TestUpstreamConnection_ApplyDefaults(t *testing.T) {
	c := &UpstreamConnection{}
	c.ApplyDefaults()
	if strings.Join(c.Scopes, " ") != "openid profile email" || c.UsernameClaim != "preferred_username" {
		t.Errorf("defaults: scopes %q, username claim %q", c.Scopes, c.UsernameClaim)
	}
	c = &UpstreamConnection{Scopes: []string{"openid"}, UsernameClaim: "upn"}
	c.ApplyDefaults()
	if strings.Join(c.Scopes, " ") != "openid" || c.UsernameClaim != "upn" {
		t.Errorf("defaults replaced given values: %q %q", c.Scopes, c.UsernameClaim)
	}
}

func TestUpstreamConnection_ValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *UpstreamConnection)
		field string // "" means valid
	}{
		{"valid", func(c *UpstreamConnection) {}, ""},
		{"http config URL for a dev IdP", func(c *UpstreamConnection) { c.ConfigURL = "http://localhost:8080/realms/dev" }, ""},
		{"issuer as config URL", func(c *UpstreamConnection) { c.ConfigURL = "https://login.example.com/tenant/v2.0" }, ""},
		{"namespaced claim", func(c *UpstreamConnection) { c.UsernameClaim = "https://acme.example/claims/username" }, ""},
		{"urn claim", func(c *UpstreamConnection) { c.UsernameClaim = "urn:oid:0.9.2342.19200300.100.1.1" }, ""},
		{"logout URL and display name", func(c *UpstreamConnection) {
			c.LogoutURL, c.DisplayName, c.EndUpstreamSession = "https://acme.example/bye", "Acme Okta", true
		}, ""},
		{"client id with a space inside", func(c *UpstreamConnection) { c.ClientID = "my app" }, ""},
		{"bad org", func(c *UpstreamConnection) { c.OrgID = "Acme!" }, "org"},
		{"no config URL", func(c *UpstreamConnection) { c.ConfigURL = "" }, "config_url"},
		{"relative config URL", func(c *UpstreamConnection) { c.ConfigURL = "/.well-known/openid-configuration" }, "config_url"},
		{"ftp config URL", func(c *UpstreamConnection) { c.ConfigURL = "ftp://idp.example/x" }, "config_url"},
		{"config URL with fragment", func(c *UpstreamConnection) { c.ConfigURL = "https://idp.example/#x" }, "config_url"},
		{"config URL with credentials", func(c *UpstreamConnection) { c.ConfigURL = "https://u:p@idp.example/" }, "config_url"},
		{"no client id", func(c *UpstreamConnection) { c.ClientID = "" }, "client_id"},
		{"long client id", func(c *UpstreamConnection) { c.ClientID = strings.Repeat("x", 256) }, "client_id"},
		{"client id with newline", func(c *UpstreamConnection) { c.ClientID = "a\nb" }, "client_id"},
		{"client id with non-ASCII", func(c *UpstreamConnection) { c.ClientID = "clïent" }, "client_id"},
		{"client id with a leading space", func(c *UpstreamConnection) { c.ClientID = " app" }, "client_id"},
		{"no secret", func(c *UpstreamConnection) { c.ClientSecretSealed = nil }, "client_secret"},
		{"scopes without openid", func(c *UpstreamConnection) { c.Scopes = []string{"profile", "email"} }, "scopes"},
		{"empty scopes", func(c *UpstreamConnection) { c.Scopes = []string{} }, "scopes"},
		{"scope with a quote", func(c *UpstreamConnection) { c.Scopes = []string{"openid", `a"b`} }, "scopes"},
		{"scope with non-ASCII", func(c *UpstreamConnection) { c.Scopes = []string{"openid", "prófile"} }, "scopes"},
		{"duplicate scope", func(c *UpstreamConnection) { c.Scopes = []string{"openid", "openid"} }, "scopes"},
		{"too many scopes", func(c *UpstreamConnection) {
			c.Scopes = []string{"openid"}
			for i := range MaxUpstreamScopes {
				c.Scopes = append(c.Scopes, "s"+strings.Repeat("x", i))
			}
		}, "scopes"},
		{"empty username claim", func(c *UpstreamConnection) { c.UsernameClaim = "" }, "username_claim"},
		{"username claim with space", func(c *UpstreamConnection) { c.UsernameClaim = "user name" }, "username_claim"},
		{"username claim path", func(c *UpstreamConnection) { c.UsernameClaim = "$.user" }, "username_claim"},
		{"long display name", func(c *UpstreamConnection) { c.DisplayName = strings.Repeat("x", 201) }, "display_name"},
		{"display name with control char", func(c *UpstreamConnection) { c.DisplayName = "a\x00b" }, "display_name"},
		{"relative logout URL", func(c *UpstreamConnection) { c.LogoutURL = "/bye" }, "logout_url"},
		{"javascript logout URL", func(c *UpstreamConnection) { c.LogoutURL = "javascript:alert(1)" }, "logout_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validUpstream()
			tc.edit(c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			fe, ok := AsFieldError(err)
			if !ok || fe.Field != tc.field {
				t.Fatalf("Validate = %v, want a field error on %s", err, tc.field)
			}
		})
	}
}

func TestValidateUpstreamClientSecret(t *testing.T) {
	for _, good := range []string{"s3cr3t", "with spaces inside", strings.Repeat("x", MaxUpstreamSecretLen)} {
		if err := ValidateUpstreamClientSecret(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", "a\tb", "a\x7fb", "\xff", strings.Repeat("x", MaxUpstreamSecretLen+1)} {
		if fe, ok := AsFieldError(ValidateUpstreamClientSecret(bad)); !ok || fe.Field != "client_secret" {
			t.Errorf("%q accepted or wrong field", bad)
		}
	}
}

package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// scimCall sends one SCIM request to org's endpoint and decodes the answer.
func scimCall(t *testing.T, iss, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, iss+"/scim/v2"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if raw, _ := io.ReadAll(res.Body); len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
	}
	return res.StatusCode, out
}

// TestSCIM_ProvisionedUserSignsInUpstreamAndDeprovisioningSignsOut: the
// organization's directory provisions carol by SCIM; carol, unknown to
// Latchkey before, then signs in through the upstream IdP and gets her
// groups in the groups claim; deactivation by SCIM ends her session and
// the application receives its back-channel logout; after reactivation
// and a new sign-in, DELETE by SCIM does the same.
func TestSCIM_ProvisionedUserSignsInUpstreamAndDeprovisioningSignsOut(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f := startFed(t, backend, fedOptions{
				Accounts: map[string]map[string]any{"u1": {"preferred_username": "carol", "email": "carol@upstream.example"}},
			})
			acme, inst := f.acme(), f.inst
			ctx := context.Background()
			_, token, err := inst.Env.Directory.CreateSCIMToken(ctx, inst.Actor, "acme", "directory", 0)
			if err != nil {
				t.Fatal(err)
			}

			// Before provisioning, carol is not known: the login is refused.
			b := servertest.NewBrowser(t)
			fl := acme.app.request()
			p := b.Follow(b.Get(fl.url), appRedirect)
			wantErrorPage(t, p, http.StatusForbidden, "not known to this organization")

			status, created := scimCall(t, acme.iss, token, "POST", "/Users", map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "carol", "externalId": "dir-42",
				"name": map[string]any{"givenName": "Carol", "familyName": "Lee"}, "active": true,
				"emails": []any{map[string]any{"value": "carol@acme.example", "primary": true}},
			})
			if status != http.StatusCreated {
				t.Fatalf("provision carol: %d %v", status, created)
			}
			sub, _ := created["id"].(string)
			status, group := scimCall(t, acme.iss, token, "POST", "/Groups", map[string]any{
				"displayName": "Engineering", "members": []any{map[string]any{"value": sub}},
			})
			if status != http.StatusCreated {
				t.Fatalf("group: %d %v", status, group)
			}
			if _, err := inst.Env.Directory.UpdateApp(ctx, inst.Actor, "acme", acme.fx.ClientID, directory.AppChanges{GroupsClaim: testkit.Ptr(true)}); err != nil {
				t.Fatal(err)
			}
			acme.app.oauth.Scopes = append(acme.app.oauth.Scopes, "groups")

			signIn := func(b *servertest.Browser) (*oauth2.Token, appClaims) {
				t.Helper()
				tok, c := acme.app.login(t, b)
				if c.Subject != sub || c.PreferredUsername != "carol" || !slices.Equal(c.AMR, []string{"fed"}) {
					t.Fatalf("id_token: sub %q preferred_username %q amr %v; want the provisioned carol %q", c.Subject, c.PreferredUsername, c.AMR, sub)
				}
				return tok, c
			}
			b = servertest.NewBrowser(t)
			tok, c := signIn(b)
			var claims struct {
				Groups     []string `json:"groups"`
				GivenName  string   `json:"given_name"`
				FamilyName string   `json:"family_name"`
				Email      string   `json:"email"`
			}
			idt, err := acme.app.verifier.Verify(ctx, tok.Extra("id_token").(string))
			if err != nil {
				t.Fatal(err)
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(claims.Groups, []string{"Engineering"}) || claims.GivenName != "Carol" || claims.FamilyName != "Lee" || claims.Email != "carol@acme.example" {
				t.Fatalf("id_token claims %+v", claims)
			}
			ui, err := acme.app.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			claims.Groups = nil
			if err := ui.Claims(&claims); err != nil || !slices.Equal(claims.Groups, []string{"Engineering"}) {
				t.Fatalf("userinfo groups %v (%v)", claims.Groups, err)
			}
			acme.app.wantSession(t, b)

			// Deactivation by SCIM (Entra's shape) signs carol out everywhere.
			status, body := scimCall(t, acme.iss, token, "PATCH", "/Users/"+sub, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "Replace", "path": "active", "value": "False"}},
			})
			if status != http.StatusOK || body["active"] != false {
				t.Fatalf("deactivate: %d %v", status, body)
			}
			if n := activeSessions(t, inst, "acme", "carol"); n != 0 {
				t.Fatalf("%d sessions left after deactivation", n)
			}
			testkit.WaitFor(t, "the application's back-channel logout after deactivation", func() bool { got, _ := acme.bc.got(); return len(got) == 1 })
			got, rejected := acme.bc.got()
			if got[0].Subject != sub || got[0].SID != c.SID || len(rejected) != 0 {
				t.Fatalf("logout token sub %q sid %q (rejected %v); want %q %q", got[0].Subject, got[0].SID, rejected, sub, c.SID)
			}
			if acme.app.refreshWorks(tok) {
				t.Fatal("the refresh token still works after deactivation")
			}
			acme.app.wantNoSession(t, b)
			if e := wantAudit(t, inst, "acme", "logout", "ok", "-"); !strings.HasPrefix(e.Actor, "scim-token:") || e.Detail["user"] != sub {
				t.Fatalf("logout audit event %+v: want the SCIM token as actor and carol as user", e)
			}

			// Reactivated, carol signs in again; DELETE signs her out the same way.
			status, body = scimCall(t, acme.iss, token, "PATCH", "/Users/"+sub, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": true}}},
			})
			if status != http.StatusOK || body["active"] != true {
				t.Fatalf("reactivate: %d %v", status, body)
			}
			b = servertest.NewBrowser(t)
			_, c = signIn(b)
			if status, body = scimCall(t, acme.iss, token, "DELETE", "/Users/"+sub, nil); status != http.StatusNoContent {
				t.Fatalf("delete: %d %v", status, body)
			}
			testkit.WaitFor(t, "the application's back-channel logout after delete", func() bool { got, _ := acme.bc.got(); return len(got) == 2 })
			if got, _ = acme.bc.got(); got[1].Subject != sub || got[1].SID != c.SID {
				t.Fatalf("second logout token sub %q sid %q; want %q %q", got[1].Subject, got[1].SID, sub, c.SID)
			}
			acme.app.wantNoSession(t, b)
			if userExists(t, inst, "acme", "carol") {
				t.Fatal("carol still exists")
			}
			e := audit(t, inst, "acme", "user.delete")
			if e == nil || !strings.HasPrefix(e.Actor, "scim-token:") {
				t.Fatalf("user.delete audit event %+v", e)
			}
		})
	}
}

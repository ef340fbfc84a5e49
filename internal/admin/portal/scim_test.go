package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestIntegrations_SCIMTokenCreateShowsOnceListsAndRevokes(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			ctx := context.Background()
			b, _ := e.signIn("acme", "ada")
			page := e.portal("acme") + "/settings/integrations"
			p := b.Get(page)
			expectContains(t, p, `<label for="scim-base-url">SCIM base URL</label>`, `value="`+e.inst.Issuer("acme")+`/scim/v2"`,
				`<label for="scim_description">Description</label>`, `<label for="scim_expires">Expires in</label>`, "No SCIM tokens.", `<option value="365" selected>365 days</option>`, `<option value="86400" selected>24 hours</option>`)

			p = submit(t, b, page, "/scim-tokens", map[string]string{"scim_description": "Okta", "scim_expires": "30"})
			expectStatus(t, p, http.StatusOK)
			if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control %q on a page with a token", cc)
			}
			i := strings.Index(p.Body, directory.SCIMTokenPrefix+"acme.")
			if i < 0 {
				t.Fatalf("new token not shown:\n%s", p.Body)
			}
			plain := p.Body[i : i+strings.IndexByte(p.Body[i:], '"')]
			tok, err := e.d.AuthenticateSCIMToken(ctx, "acme", plain)
			if err != nil || tok.Description != "Okta" || tok.ExpiresAt.Sub(tok.CreatedAt).Hours() != 30*24 {
				t.Fatalf("shown token does not work: %v %+v", err, tok)
			}
			// Listed, with its use, but never shown again.
			p = b.Get(page)
			expectContains(t, p, "<td>Okta</td><td>active</td>")
			if strings.Contains(p.Body, plain) || strings.Contains(p.Body, "<td>—</td>\n<td><form") {
				t.Fatalf("token shown again or last use missing:\n%s", p.Body)
			}
			// "Never" expires.
			p = submit(t, b, page, "/scim-tokens", map[string]string{"scim_description": "Entra", "scim_expires": "0"})
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "<td>Entra</td><td>active</td>", "<td>never</td>")

			p = b.Submit(form(t, b.Get(page), "/scim-tokens/revoke"), nil)
			expectStatus(t, p, http.StatusSeeOther)
			expectContains(t, b.Get(p.Location), "SCIM token revoked", "<td>revoked</td>")
			ts, _ := e.d.ListSCIMTokens(ctx, "acme")
			revoked := 0
			for _, tk := range ts {
				if !tk.RevokedAt.IsZero() {
					revoked++
				}
			}
			if len(ts) != 2 || revoked != 1 {
				t.Fatalf("tokens after revoke: %d, %d revoked", len(ts), revoked)
			}
			events, _ := e.audit(ctx, 1)
			if events[0].Action != "scim_token.revoke" || events[0].Actor != "ada" {
				t.Fatalf("latest audit event %+v", events[0])
			}
		})
	}
}

func TestIntegrations_SCIMTokenInvalidInputShownNothingCreated(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	page := e.portal("acme") + "/settings/integrations"
	for _, c := range []struct{ field, desc, expires string }{
		{"scim_expires", "Okta", "forever"},
		{"scim_expires", "Okta", "1000"},
		{"scim_description", strings.Repeat("x", 1000), "30"},
		{"scim_description", "bad\x01char", "30"},
	} {
		p := submit(t, b, page, "/scim-tokens", map[string]string{"scim_description": c.desc, "scim_expires": c.expires})
		expectStatus(t, p, http.StatusBadRequest)
		if fieldError(p, c.field) == "" {
			t.Fatalf("%+v: no message next to %s:\n%s", c, c.field, p.Body)
		}
		expectContains(t, p, `aria-describedby="`+c.field+`-error`)
		if strings.Contains(p.Body, directory.SCIMTokenPrefix) {
			t.Fatal("a token shown on error")
		}
	}
	if ts, _ := e.d.ListSCIMTokens(context.Background(), "acme"); len(ts) != 0 {
		t.Fatalf("%d tokens created on error", len(ts))
	}
	// Revoke needs CSRF, and another org's token id is not found.
	other, _, err := e.d.CreateSCIMToken(context.Background(), e.inst.Actor, "other", "x", 0)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, post(b, page+"/scim-tokens/revoke", url.Values{"id": {other.ID}}), http.StatusForbidden)
	f := form(t, b.Get(page), "/scim-tokens")
	p := post(b, page+"/scim-tokens/revoke", url.Values{"csrf": {f.Values.Get("csrf")}, "id": {other.ID}})
	expectStatus(t, p, http.StatusNotFound)
	if ts, _ := e.d.ListSCIMTokens(context.Background(), "other"); !ts[0].RevokedAt.IsZero() {
		t.Fatal("another organization's token revoked")
	}
}

func TestIntegrations_SCIMTokenRevokeIsNamedEvenWithoutADescription(t *testing.T) {
	e := start(t, "sqlite")
	tk, _, err := e.d.CreateSCIMToken(context.Background(), e.inst.Actor, "acme", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.signIn("acme", "ada")
	p := b.Get(e.portal("acme") + "/settings/integrations")
	expectContains(t, p, `aria-label="Revoke SCIM token `+tk.ID+`"`)
}

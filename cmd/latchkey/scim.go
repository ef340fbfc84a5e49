package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// scimTokenCreatedJSON is printed once, on create: it carries the token.
type scimTokenCreatedJSON struct {
	ID        string  `json:"id"`
	Token     string  `json:"token"`
	Org       string  `json:"org"`
	BaseURL   string  `json:"baseUrl"`
	ExpiresAt *string `json:"expiresAt"`
}

// defaultSCIMTokenExpiry is how long a new SCIM token works unless
// --expires says otherwise.
var defaultSCIMTokenExpiry = strconv.Itoa(int(directory.DefaultSCIMTokenTTL/(24*time.Hour))) + "d"

func (c *cli) scimCmd() *cobra.Command {
	return c.tokenGroup("scim", "SCIM 2.0 provisioning: the tokens an organization's directory (Entra ID, Okta …) uses",
		"Create, list and revoke an organization's SCIM bearer tokens", c.scimTokenCreateCmd(), c.scimTokenListCmd(), c.scimTokenRevokeCmd())
}

func (c *cli) scimTokenCreateCmd() *cobra.Command {
	var ttl time.Duration
	var desc string
	cmd := orgCmd[scimTokenCreatedJSON]{
		check: func(cmd *cobra.Command, _ []string) (err error) {
			desc, _ = cmd.Flags().GetString("description")
			ttl, err = expiresFlag(cmd)
			return err
		},
		act: func(o orgCall) (scimTokenCreatedJSON, error) {
			t, plain, err := o.dir().CreateSCIMToken(o.ctx(), cliActor, o.org, desc, ttl)
			if err != nil {
				return scimTokenCreatedJSON{}, err
			}
			return scimTokenCreatedJSON{ID: t.ID, Token: plain, Org: o.org, BaseURL: o.dir().Issuer(o.org) + "/scim/v2", ExpiresAt: resource.OptStamp(t.ExpiresAt)}, nil
		},
		show: func(o orgCall, out scimTokenCreatedJSON) error {
			// Only the token goes to stdout, so TOKEN=$(latchkey scim token create …) works.
			return c.printOnce(o.cmd, out, out.Token, fmt.Sprintf("Created SCIM token %s for organization %s; it %s. It is shown only now: store it safely.\nSCIM base URL (Tenant URL): %s\n",
				out.ID, o.org, expiryOf(out.ExpiresAt), out.BaseURL))
		},
	}.on(c, &cobra.Command{
		Use:   "create --org ORG [--expires 90d] [--description D]",
		Short: "Create a SCIM token for an organization; prints the token (shown only this once) and the SCIM base URL",
		Example: `  latchkey scim token create --org acme --expires 90d --description "Microsoft Entra ID"
  TOKEN=$(latchkey scim token create --org acme)`,
		Args: args(),
	})
	addTokenFlags(cmd, defaultSCIMTokenExpiry, "90d", "what the token is for (the directory that uses it), shown by list")
	return cmd
}

func (c *cli) scimTokenListCmd() *cobra.Command {
	return orgCmd[[]resource.SCIMToken]{
		act: func(o orgCall) ([]resource.SCIMToken, error) {
			all, err := o.dir().ListSCIMTokens(o.ctx(), o.org)
			now := o.env.Now()
			return each(all, func(t *domain.SCIMToken) resource.SCIMToken { return resource.NewSCIMToken(t, now) }), err
		},
		show: func(o orgCall, out []resource.SCIMToken) error {
			return printList(c, o.cmd, out, []string{"ID", "STATE", "CREATED", "EXPIRES", "LAST USED", "DESCRIPTION"},
				func(t resource.SCIMToken) []string {
					return []string{t.ID, t.State, t.CreatedAt, orElse(t.ExpiresAt, "never"), orElse(t.LastUsedAt, "never"), orNone(t.Description)}
				})
		},
	}.on(c, command("list --org ORG", "List an organization's SCIM tokens (never the tokens themselves)", args()))
}

func (c *cli) scimTokenRevokeCmd() *cobra.Command {
	return orgCmd[done]{
		act: func(o orgCall) (done, error) {
			err := o.dir().RevokeSCIMToken(o.ctx(), cliActor, o.org, o.arg())
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("no active SCIM token %q in organization %q", o.arg(), o.org)
			}
			return done{map[string]any{"id": o.arg(), "org": o.org, "revoked": true}, fmt.Sprintf("Revoked SCIM token %s of %s.\n", o.arg(), o.org)}, err
		},
		show: c.showDone,
	}.on(c, command("revoke ID --org ORG", "Revoke a SCIM token at once", args("ID")))
}

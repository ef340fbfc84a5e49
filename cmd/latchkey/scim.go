package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
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

// scimTokenJSON describes a SCIM token without the token or its hash.
type scimTokenJSON struct {
	ID          string  `json:"id"`
	Org         string  `json:"org"`
	Description string  `json:"description"`
	State       string  `json:"state"`
	CreatedAt   string  `json:"createdAt"`
	ExpiresAt   *string `json:"expiresAt"`
	LastUsedAt  *string `json:"lastUsedAt"`
	RevokedAt   *string `json:"revokedAt"`
}

func toSCIMTokenJSON(t *domain.SCIMToken, now time.Time) scimTokenJSON {
	return scimTokenJSON{
		ID: t.ID, Org: t.OrgID, Description: t.Description, State: directory.SCIMTokenState(t, now),
		CreatedAt: resource.Stamp(t.CreatedAt), ExpiresAt: resource.OptStamp(t.ExpiresAt), LastUsedAt: resource.OptStamp(t.LastUsedAt), RevokedAt: resource.OptStamp(t.RevokedAt),
	}
}

// defaultSCIMTokenExpiry is how long a new SCIM token works unless
// --expires says otherwise (directories are set up once and run for months).
const defaultSCIMTokenExpiry = "365d"

func (c *cli) scimCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "scim", Short: "SCIM 2.0 provisioning: the tokens an organization's directory (Entra ID, Okta …) uses"})
	addJSONFlag(cmd)
	token := c.group(&cobra.Command{Use: "token", Short: "Create, list and revoke an organization's SCIM bearer tokens"})
	token.AddCommand(c.scimTokenCreateCmd(), c.scimTokenListCmd(), c.scimTokenRevokeCmd())
	cmd.AddCommand(token)
	return cmd
}

func (c *cli) scimTokenCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG [--expires 90d] [--description D]",
		Short: "Create a SCIM token for an organization; prints the token (shown only this once) and the SCIM base URL",
		Example: `  latchkey scim token create --org acme --expires 90d --description "Microsoft Entra ID"
  TOKEN=$(latchkey scim token create --org acme)`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			raw, _ := cmd.Flags().GetString("expires")
			ttl, err := parseExpires(raw)
			if err != nil {
				return err
			}
			desc, _ := cmd.Flags().GetString("description")
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				t, plain, err := env.Directory.CreateSCIMToken(cmd.Context(), cliActor, org, desc, ttl)
				if err != nil {
					return err
				}
				out := scimTokenCreatedJSON{ID: t.ID, Token: plain, Org: org, BaseURL: env.Directory.Issuer(org) + "/scim/v2", ExpiresAt: resource.OptStamp(t.ExpiresAt)}
				return c.print(cmd, out, func(w io.Writer) {
					// Only the token goes to stdout, so TOKEN=$(latchkey scim token create …) works.
					fmt.Fprintln(w, plain)
					expiry := "never expires"
					if !t.ExpiresAt.IsZero() {
						expiry = "expires " + resource.Stamp(t.ExpiresAt)
					}
					fmt.Fprintf(c.stderr, "Created SCIM token %s for organization %s; it %s. It is shown only now: store it safely.\nSCIM base URL (Tenant URL): %s\n",
						t.ID, org, expiry, out.BaseURL)
				})
			})
		},
	}
	f := cmd.Flags()
	addOrgFlag(cmd)
	f.String("expires", defaultSCIMTokenExpiry, "how long the token works: a duration like 90d, 12h or 90m, or never")
	f.String("description", "", "what the token is for (the directory that uses it), shown by list")
	return cmd
}

func (c *cli) scimTokenListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List an organization's SCIM tokens (never the tokens themselves)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				all, err := env.Directory.ListSCIMTokens(cmd.Context(), org)
				if err != nil {
					return err
				}
				now := env.Now()
				out := make([]scimTokenJSON, 0, len(all))
				for _, t := range all {
					out = append(out, toSCIMTokenJSON(t, now))
				}
				return c.print(cmd, out, func(w io.Writer) {
					rows := make([][]string, 0, len(out))
					for _, t := range out {
						rows = append(rows, []string{t.ID, t.State, t.CreatedAt, orNever(t.ExpiresAt), orNever(t.LastUsedAt), orNone(t.Description)})
					}
					table(w, []string{"ID", "STATE", "CREATED", "EXPIRES", "LAST USED", "DESCRIPTION"}, rows)
				})
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) scimTokenRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID --org ORG",
		Short: "Revoke a SCIM token at once",
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				if err := env.Directory.RevokeSCIMToken(cmd.Context(), cliActor, org, a[0]); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("no active SCIM token %q in organization %q", a[0], org)
					}
					return err
				}
				return c.print(cmd, map[string]any{"id": a[0], "org": org, "revoked": true}, func(w io.Writer) {
					fmt.Fprintf(w, "Revoked SCIM token %s of %s.\n", a[0], org)
				})
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

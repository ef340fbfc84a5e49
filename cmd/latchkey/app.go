package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

func (c *cli) appCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "app", Short: "Manage an organization's applications (OpenID Connect clients)"})
	addJSONFlag(cmd)
	cmd.AddCommand(c.appCreateCmd(), c.appListCmd(), c.appShowCmd(), c.appUpdateCmd(), c.appDeleteCmd(), c.appRotateSecretCmd())
	return cmd
}

// addAppFlags adds the flags create and update share.
func addAppFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addOrgFlag(cmd)
	f.String("name", "", "display name")
	f.StringArray("redirect-uri", nil, "redirect URI, matched exactly (repeat for several; on update the list given replaces the old one)")
	f.StringArray("post-logout-redirect-uri", nil, "post-logout redirect URI (repeat for several; --post-logout-redirect-uri \"\" clears)")
	f.String("backchannel-logout-uri", "", "OIDC Back-Channel Logout URI (\"\" clears)")
	f.String("id-token-alg", "", "id_token signing algorithm: RS256, ES256 or EdDSA (default RS256)")
	f.StringArray("grant-type", nil, "allowed grant type: authorization_code, refresh_token, client_credentials (repeat; default authorization_code and refresh_token)")
	f.String("access-token-format", "", "opaque or jwt (default opaque)")
	f.String("access-token-lifetime", "", "access token lifetime in seconds (default 3600)")
	f.String("refresh-token-lifetime", "", "refresh token lifetime in seconds (default 2,592,000: 30 days)")
	f.String("id-token-lifetime", "", "id_token lifetime in seconds (default 3600)")
	f.String("refresh-token-reuse-interval", "", "seconds after a rotation during which the same client may present the rotated refresh token again and get tokens of the same family (concurrent refreshes); 0 turns it off, at most 300 (default 30)")
}

// appChanges reads the flags that were given.
func appChanges(cmd *cobra.Command) (directory.AppChanges, error) {
	ch := directory.AppChanges{
		Name:                   stringFlag(cmd, "name"),
		RedirectURIs:           listFlag(cmd, "redirect-uri"),
		PostLogoutRedirectURIs: listFlag(cmd, "post-logout-redirect-uri"),
		BackchannelLogoutURI:   stringFlag(cmd, "backchannel-logout-uri"),
		GrantTypes:             listFlag(cmd, "grant-type"),
		IDTokenAlg:             stringFlag(cmd, "id-token-alg"),
		AccessTokenFormat:      stringFlag(cmd, "access-token-format"),
	}
	var err error
	if ch.AccessTokenLifetime, err = secondsFlag(cmd, "access-token-lifetime", "access_token_lifetime"); err != nil {
		return ch, err
	}
	if ch.RefreshTokenLifetime, err = secondsFlag(cmd, "refresh-token-lifetime", "refresh_token_lifetime"); err != nil {
		return ch, err
	}
	if ch.IDTokenLifetime, err = secondsFlag(cmd, "id-token-lifetime", "id_token_lifetime"); err != nil {
		return ch, err
	}
	if ch.RefreshTokenReuseInterval, err = secondsFlag(cmd, "refresh-token-reuse-interval", "refresh_token_reuse_interval"); err != nil {
		return ch, err
	}
	return ch, nil
}

func (c *cli) appCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG --name NAME [flags]",
		Short: "Register an application; prints its client ID and (for a confidential app) its secret, shown only this once",
		Example: `  latchkey app create --org acme --name Wiki --redirect-uri https://wiki.acme.example/callback \
      --post-logout-redirect-uri https://wiki.acme.example/ --backchannel-logout-uri https://wiki.acme.example/backchannel
  latchkey app create --org acme --name "Mobile app" --public --redirect-uri com.acme.app:/callback`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			public, _ := cmd.Flags().GetBool("public")
			ch, err := appChanges(cmd)
			if err != nil {
				return err
			}
			if ch.Name == nil || strings.TrimSpace(*ch.Name) == "" {
				return domain.Invalid("name", "is required")
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			app, secret, err := env.Directory.CreateApp(cmd.Context(), cliActor, org, public, ch)
			if err != nil {
				return err
			}
			out := appSecretJSON{ClientID: app.ClientID, ClientSecret: secret, Name: app.Name, OrgID: org}
			return c.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "Created application %q in %s.\n", app.Name, org)
				c.printSecret(w, env, org, out)
			})
		},
	}
	addAppFlags(cmd)
	cmd.Flags().Bool("public", false, "a public client (no secret; PKCE required), e.g. a native or single-page app")
	return cmd
}

// printSecret shows a client ID with its secret, once.
func (c *cli) printSecret(w io.Writer, env *bootstrap.Env, org string, out appSecretJSON) {
	kv := []string{"Client ID", out.ClientID}
	if out.ClientSecret != "" {
		kv = append(kv, "Client secret", out.ClientSecret)
	} else {
		kv = append(kv, "Client secret", "(none: public client, PKCE required)")
	}
	kv = append(kv, "Issuer", env.Directory.Issuer(org))
	fields(w, kv...)
	if out.ClientSecret != "" {
		fmt.Fprintln(w, "Store the secret now: it is not shown again (rotate it with `latchkey app rotate-secret`).")
	}
}

func (c *cli) printApp(cmd *cobra.Command, a *domain.Application) error {
	out := toAppJSON(a)
	return c.print(cmd, out, func(w io.Writer) {
		kind := "confidential"
		if a.Public {
			kind = "public (PKCE required)"
		}
		fields(w,
			"Client ID", a.ClientID,
			"Name", a.Name,
			"Type", kind,
			"Redirect URIs", orNone(strings.Join(a.RedirectURIs, " ")),
			"Post-logout redirect URIs", orNone(strings.Join(a.PostLogoutRedirectURIs, " ")),
			"Back-channel logout URI", orNone(a.BackchannelLogoutURI),
			"Grant types", strings.Join(a.GrantTypes, " "),
			"Access token", fmt.Sprintf("%s, %s", a.AccessTokenFormat, seconds(a.AccessTokenLifetime)),
			"ID token", fmt.Sprintf("%s, %s", a.IDTokenAlg, seconds(a.IDTokenLifetime)),
			"Refresh token", seconds(a.RefreshTokenLifetime),
			"Refresh token reuse interval", reuseInterval(a.RefreshTokenReuseInterval),
			"Created", out.CreatedAt,
			"Updated", out.UpdatedAt)
	})
}

func (c *cli) appListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List applications",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			apps, err := env.Store.ListApps(cmd.Context(), org)
			if err != nil {
				return err
			}
			out := make([]appJSON, 0, len(apps))
			for _, a := range apps {
				out = append(out, toAppJSON(a))
			}
			return c.print(cmd, out, func(w io.Writer) {
				rows := make([][]string, 0, len(out))
				for _, a := range out {
					kind := "confidential"
					if a.Public {
						kind = "public"
					}
					rows = append(rows, []string{a.ClientID, a.Name, kind, strings.Join(a.RedirectURIs, " ")})
				}
				table(w, []string{"CLIENT ID", "NAME", "TYPE", "REDIRECT URIS"}, rows)
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) appShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show --org ORG CLIENT_ID",
		Short: "Show an application's settings (never its secret)",
		Args:  args("CLIENT_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			app, err := env.Store.GetApp(cmd.Context(), org, a[0])
			if err != nil {
				return notFound(err, "application %q in organization %q", a[0], org)
			}
			return c.printApp(cmd, app)
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) appUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update --org ORG CLIENT_ID [flags]",
		Short: "Change an application (only the flags given change; a repeated flag replaces its whole list)",
		Args:  args("CLIENT_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			ch, err := appChanges(cmd)
			if err != nil {
				return err
			}
			if ch == (directory.AppChanges{}) {
				return usagef("nothing to change: give at least one flag (see latchkey app update --help)")
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			if _, err := env.Store.GetApp(cmd.Context(), org, a[0]); err != nil {
				return notFound(err, "application %q in organization %q", a[0], org)
			}
			app, err := env.Directory.UpdateApp(cmd.Context(), cliActor, org, a[0], ch)
			if err != nil {
				return err
			}
			return c.printApp(cmd, app)
		},
	}
	addAppFlags(cmd)
	return cmd
}

func (c *cli) appDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete --org ORG CLIENT_ID --yes",
		Short: "Delete an application with the codes and tokens issued to it",
		Args:  args("CLIENT_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			if err := confirmed(cmd, fmt.Sprintf("deleting application %q", a[0])); err != nil {
				return err
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			if err := env.Directory.DeleteApp(cmd.Context(), cliActor, org, a[0]); err != nil {
				if isNotFound(err) {
					return notFound(err, "application %q in organization %q", a[0], org)
				}
				return err
			}
			return c.print(cmd, map[string]any{"clientId": a[0], "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted application %s from %s.\n", a[0], org)
			})
		},
	}
	addOrgFlag(cmd)
	addYesFlag(cmd)
	return cmd
}

func (c *cli) appRotateSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-secret --org ORG CLIENT_ID",
		Short: "Give a confidential application a new secret; the old one stops working at once",
		Args:  args("CLIENT_ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			if _, err := env.Store.GetApp(cmd.Context(), org, a[0]); err != nil {
				return notFound(err, "application %q in organization %q", a[0], org)
			}
			secret, err := env.Directory.RotateAppSecret(cmd.Context(), cliActor, org, a[0])
			if err != nil {
				return err
			}
			out := appSecretJSON{ClientID: a[0], ClientSecret: secret}
			return c.print(cmd, out, func(w io.Writer) { c.printSecret(w, env, org, out) })
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func reuseInterval(n int64) string {
	if n == 0 {
		return "off"
	}
	return seconds(n)
}

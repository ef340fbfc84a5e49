package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
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
	f.Bool("groups-claim", false, "send the user's groups as the groups claim when the application asks for the groups scope (--groups-claim=false turns it off)")
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
	ch.GroupsClaim = boolFlag(cmd, "groups-claim")
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
	var public bool
	var ch directory.AppChanges
	cmd := orgCmd[resource.AppCreated]{
		check: func(cmd *cobra.Command, _ []string) (err error) {
			public, _ = cmd.Flags().GetBool("public")
			if ch, err = appChanges(cmd); err != nil {
				return err
			}
			if ch.Name == nil || strings.TrimSpace(*ch.Name) == "" {
				return domain.Invalid("name", "is required")
			}
			return nil
		},
		act: func(o orgCall) (resource.AppCreated, error) {
			app, secret, err := o.dir().CreateApp(o.ctx(), cliActor, o.org, public, ch)
			if err != nil {
				return resource.AppCreated{}, err
			}
			return resource.AppCreated{ClientID: app.ClientID, ClientSecret: secret, Name: app.Name, OrgID: o.org}, nil
		},
		show: func(o orgCall, out resource.AppCreated) error {
			return c.print(o.cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "Created application %q in %s.\n", out.Name, o.org)
				c.printSecret(w, o, out.ClientID, out.ClientSecret)
			})
		},
	}.on(c, &cobra.Command{
		Use:   "create --org ORG --name NAME [flags]",
		Short: "Register an application; prints its client ID and (for a confidential app) its secret, shown only this once",
		Example: `  latchkey app create --org acme --name Wiki --redirect-uri https://wiki.acme.example/callback \
      --post-logout-redirect-uri https://wiki.acme.example/ --backchannel-logout-uri https://wiki.acme.example/backchannel
  latchkey app create --org acme --name "Mobile app" --public --redirect-uri com.acme.app:/callback`,
		Args: args(),
	})
	addAppFlags(cmd)
	cmd.Flags().Bool("public", false, "a public client (no secret; PKCE required), e.g. a native or single-page app")
	return cmd
}

// printSecret shows a client ID with its secret, once.
func (c *cli) printSecret(w io.Writer, o orgCall, clientID, secret string) {
	kv := []string{"Client ID", clientID}
	if secret != "" {
		kv = append(kv, "Client secret", secret)
	} else {
		kv = append(kv, "Client secret", "(none: public client, PKCE required)")
	}
	kv = append(kv, "Issuer", o.dir().Issuer(o.org))
	fields(w, kv...)
	if secret != "" {
		fmt.Fprintln(w, "Store the secret now: it is not shown again (rotate it with `latchkey app rotate-secret`).")
	}
}

func appKind(public bool, publicKind string) string {
	if public {
		return publicKind
	}
	return "confidential"
}

func (c *cli) printApp(o orgCall, a *domain.Application) error {
	out := resource.NewApp(a)
	return c.print(o.cmd, out, func(w io.Writer) {
		fields(w,
			"Client ID", a.ClientID,
			"Name", a.Name,
			"Type", appKind(a.Public, "public (PKCE required)"),
			"Redirect URIs", orNone(strings.Join(a.RedirectURIs, " ")),
			"Post-logout redirect URIs", orNone(strings.Join(a.PostLogoutRedirectURIs, " ")),
			"Back-channel logout URI", orNone(a.BackchannelLogoutURI),
			"Grant types", strings.Join(a.GrantTypes, " "),
			"Access token", fmt.Sprintf("%s, %s", a.AccessTokenFormat, seconds(a.AccessTokenLifetime)),
			"ID token", fmt.Sprintf("%s, %s", a.IDTokenAlg, seconds(a.IDTokenLifetime)),
			"Refresh token", seconds(a.RefreshTokenLifetime),
			"Groups claim", onOff(a.GroupsClaim),
			"Refresh token reuse interval", reuseInterval(a.RefreshTokenReuseInterval),
			"Created", out.CreatedAt,
			"Updated", out.UpdatedAt)
	})
}

func (c *cli) appListCmd() *cobra.Command {
	return orgCmd[[]*domain.Application]{
		act: func(o orgCall) ([]*domain.Application, error) { return o.dir().ListApps(o.ctx(), o.org) },
		show: func(o orgCall, apps []*domain.Application) error {
			return printList(c, o.cmd, each(apps, resource.NewApp), []string{"CLIENT ID", "NAME", "TYPE", "REDIRECT URIS"},
				func(a resource.App) []string {
					return []string{a.ClientID, a.Name, appKind(a.Public, "public"), strings.Join(a.RedirectURIs, " ")}
				})
		},
	}.on(c, command("list --org ORG", "List applications", args()))
}

func (c *cli) appShowCmd() *cobra.Command {
	return orgCmd[*domain.Application]{
		act:  func(o orgCall) (*domain.Application, error) { return o.dir().GetApp(o.ctx(), o.org, o.arg()) },
		show: c.printApp,
	}.on(c, command("show --org ORG CLIENT_ID", "Show an application's settings (never its secret)", args("CLIENT_ID")))
}

func (c *cli) appUpdateCmd() *cobra.Command {
	var ch directory.AppChanges
	cmd := orgCmd[*domain.Application]{
		check: func(cmd *cobra.Command, _ []string) (err error) {
			if ch, err = appChanges(cmd); err == nil && ch == (directory.AppChanges{}) {
				return usagef("nothing to change: give at least one flag (see latchkey app update --help)")
			}
			return err
		},
		act: func(o orgCall) (*domain.Application, error) {
			return o.dir().UpdateApp(o.ctx(), cliActor, o.org, o.arg(), ch)
		},
		show: c.printApp,
	}.on(c, command("update --org ORG CLIENT_ID [flags]", "Change an application (only the flags given change; a repeated flag replaces its whole list)", args("CLIENT_ID")))
	addAppFlags(cmd)
	return cmd
}

func (c *cli) appDeleteCmd() *cobra.Command {
	return c.deleteCmd(command("delete --org ORG CLIENT_ID --yes", "Delete an application with the codes and tokens issued to it", args("CLIENT_ID")),
		"application", "clientId", func(o orgCall) error { return o.dir().DeleteApp(o.ctx(), cliActor, o.org, o.arg()) })
}

func (c *cli) appRotateSecretCmd() *cobra.Command {
	return orgCmd[resource.AppSecret]{
		act: func(o orgCall) (resource.AppSecret, error) {
			secret, err := o.dir().RotateAppSecret(o.ctx(), cliActor, o.org, o.arg())
			return resource.AppSecret{ClientID: o.arg(), ClientSecret: secret}, err
		},
		show: func(o orgCall, out resource.AppSecret) error {
			return c.print(o.cmd, out, func(w io.Writer) { c.printSecret(w, o, out.ClientID, out.ClientSecret) })
		},
	}.on(c, command("rotate-secret --org ORG CLIENT_ID", "Give a confidential application a new secret; the old one stops working at once", args("CLIENT_ID")))
}

func reuseInterval(n int64) string {
	if n == 0 {
		return "off"
	}
	return seconds(n)
}

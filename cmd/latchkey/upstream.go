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

// upstreamFlags names the flag behind each field of an upstream connection.
var upstreamFlags = map[string]string{
	"config_url":     "--config-url",
	"client_id":      "--client-id",
	"client_secret":  "--client-secret-stdin",
	"scopes":         "--scopes",
	"username_claim": "--username-claim",
	"display_name":   "--display-name",
	"logout_url":     "--logout-url",
}

// upstreamFieldError names the flag in a field error about an upstream
// connection, so the message says what to fix on the command line. The
// error stays a *domain.FieldError, so it still exits 2.
func upstreamFieldError(err error) error {
	fe, ok := domain.AsFieldError(err)
	if !ok {
		return err
	}
	if flag, ok := upstreamFlags[fe.Field]; ok {
		return &domain.FieldError{Field: fe.Field + " (" + flag + ")", Message: fe.Message}
	}
	return err
}

func (c *cli) upstreamCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "upstream", Short: "Manage an organization's upstream OpenID Connect identity provider"})
	addJSONFlag(cmd)
	cmd.AddCommand(c.upstreamSetCmd(), c.upstreamShowCmd(), c.upstreamCheckCmd(), c.upstreamDeleteCmd())
	return cmd
}

// shownUpstream is an upstream connection with the line said above it.
type shownUpstream struct {
	conn     *domain.UpstreamConnection
	headline string
}

func (c *cli) printUpstream(o orgCall, u shownUpstream) error {
	out := resource.NewUpstream(o.dir(), u.conn)
	headline := u.headline
	return c.print(o.cmd, out, func(w io.Writer) {
		if headline != "" {
			fmt.Fprintln(w, headline)
		}
		fields(w,
			"Organization", out.OrgID,
			"Configuration URL", out.ConfigURL,
			"Client ID", out.ClientID,
			"Client secret", "(set; never shown)",
			"Scopes", strings.Join(out.Scopes, " "),
			"Username claim", out.UsernameClaim,
			"Display name", orNone(out.DisplayName),
			"Logout page URL", orNone(out.LogoutURL),
			"End upstream session", onOff(out.EndUpstreamSession),
			"Redirect URI", out.RedirectURI,
			"Logout callback URI", out.LogoutCallbackURI,
			"Created", out.CreatedAt,
			"Updated", out.UpdatedAt)
		fmt.Fprintln(w, "Register the redirect URI at the upstream IdP (and the logout callback URI as a post-logout redirect URI).")
	})
}

// splitScopes reads --scopes: scope names separated by spaces or commas.
func splitScopes(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// upstreamChanges reads the set flags that were given; the secret is read
// from stdin here, before anything is opened.
func (c *cli) upstreamChanges(cmd *cobra.Command) (directory.UpstreamChanges, error) {
	ch := directory.UpstreamChanges{
		ConfigURL:     stringFlag(cmd, "config-url"),
		ClientID:      stringFlag(cmd, "client-id"),
		UsernameClaim: stringFlag(cmd, "username-claim"),
		DisplayName:   stringFlag(cmd, "display-name"),
		LogoutURL:     stringFlag(cmd, "logout-url"),
	}
	if v := stringFlag(cmd, "scopes"); v != nil {
		scopes := splitScopes(*v)
		ch.Scopes = &scopes
	}
	ch.EndUpstreamSession = boolFlag(cmd, "end-upstream-session")
	var err error
	ch.ClientSecret, err = c.stdinFlag(cmd, "client-secret-stdin", "client_secret", "client secret")
	return ch, err
}

func (c *cli) upstreamSetCmd() *cobra.Command {
	var ch directory.UpstreamChanges
	cmd := orgCmd[shownUpstream]{
		check: func(cmd *cobra.Command, _ []string) (err error) {
			if ch, err = c.upstreamChanges(cmd); err != nil {
				return upstreamFieldError(err)
			}
			if ch.IsZero() {
				return usagef("nothing to set: give at least one of --config-url, --client-id, --client-secret-stdin, --scopes, --username-claim, --display-name, --logout-url, --end-upstream-session")
			}
			return upstreamFieldError(ch.Check())
		},
		act: func(o orgCall) (shownUpstream, error) {
			u, created, err := o.dir().SetUpstream(o.ctx(), cliActor, o.org, ch)
			if err != nil {
				return shownUpstream{}, upstreamFieldError(err)
			}
			if created {
				return shownUpstream{u, "Created the upstream connection of " + o.org + "."}, nil
			}
			return shownUpstream{u, "Updated the upstream connection of " + o.org + "."}, nil
		},
		show: c.printUpstream,
	}.on(c, &cobra.Command{
		Use:   "set --org ORG [flags]",
		Short: "Create or change the organization's upstream connection (on a change, only the flags given change)",
		Long: `Create or change the organization's upstream OpenID Connect connection.

The first set needs --config-url, --client-id and --client-secret-stdin. Later
sets change only the flags given; without --client-secret-stdin the stored
secret is kept. The secret is read from the first line of standard input and
is never printed.`,
		Example: `  printf '%s\n' "$SECRET" | latchkey upstream set --org acme \
      --config-url https://idp.acme.example/.well-known/openid-configuration \
      --client-id latchkey --client-secret-stdin --logout-url https://acme.example/signed-out
  latchkey upstream set --org acme --scopes "openid profile email groups" --end-upstream-session`,
		Args: args(),
	})
	f := cmd.Flags()
	f.String("config-url", "", "the upstream's discovery URL (…/.well-known/openid-configuration) or its issuer URL")
	f.String("client-id", "", "the client ID Latchkey has at the upstream")
	f.Bool("client-secret-stdin", false, "read the client secret from the first line of standard input (without it, an update keeps the stored secret)")
	f.String("scopes", "", `scopes to request, space-separated; must include openid (default "openid profile email"; "" restores it)`)
	f.String("username-claim", "", `claim holding the userName of an existing user (default preferred_username; "" restores it)`)
	f.String("display-name", "", "label of the login button")
	f.String("logout-url", "", `the organization's logout page URL, where users land after signing out ("" clears)`)
	f.Bool("end-upstream-session", false, "on logout, also end the upstream session when the upstream supports it (--end-upstream-session=false turns it off)")
	return cmd
}

func (c *cli) upstreamShowCmd() *cobra.Command {
	return orgCmd[shownUpstream]{
		act: func(o orgCall) (shownUpstream, error) {
			u, err := o.dir().GetUpstream(o.ctx(), o.org)
			return shownUpstream{conn: u}, err
		},
		show: c.printUpstream,
	}.on(c, command("show --org ORG", "Show the upstream connection (never its secret) and the URIs to register upstream", args()))
}

func (c *cli) upstreamCheckCmd() *cobra.Command {
	return orgCmd[*directory.UpstreamCheck]{
		act: func(o orgCall) (*directory.UpstreamCheck, error) {
			return o.dir().CheckUpstream(o.ctx(), cliActor, o.org)
		},
		show: func(o orgCall, check *directory.UpstreamCheck) error {
			return c.printUpstreamCheck(o.cmd, resource.NewUpstreamCheck(check))
		},
	}.on(c, &cobra.Command{
		Use:   "check --org ORG",
		Short: "Fetch the upstream's discovery document and show what it offers, or why it cannot be used",
		Long: `Fetch the upstream's discovery document through Latchkey's outbound client
(the same address rules as real logins) and show what it offers, or why it
failed: dns, connect, timeout, tls, forbidden_address, http, http_status,
not_json, issuer_mismatch, incomplete or invalid_document. Exits 1 on failure.`,
		Args: args(),
	})
}

// printUpstreamCheck shows how a check went; a failed check is an error
// (exit 1) after its JSON.
func (c *cli) printUpstreamCheck(cmd *cobra.Command, out resource.UpstreamCheck) error {
	if ce := out.Error; ce != nil {
		if wantJSON(cmd) {
			if err := c.print(cmd, out, nil); err != nil {
				return err
			}
		}
		detail := ce.Detail
		if ce.Reason != "" { // the operator, on the server, may see what the log says
			detail += " Reason: " + ce.Reason
		}
		return fmt.Errorf("upstream check of %s failed [%s]: %s", out.OrgID, ce.Kind, detail)
	}
	return c.print(cmd, out, func(w io.Writer) {
		f := out.Found
		fmt.Fprintf(w, "The upstream of %s is usable.\n", out.OrgID)
		fields(w,
			"Configuration URL", out.ConfigURL,
			"Issuer", f.Issuer,
			"Authorization endpoint", f.AuthorizationEndpoint,
			"Token endpoint", f.TokenEndpoint,
			"Userinfo endpoint", orNone(f.UserinfoEndpoint),
			"JWKS URI", f.JWKSURI,
			"End session endpoint", orNone(f.EndSessionEndpoint),
			"ID token algorithms", orNone(strings.Join(f.IDTokenSigningAlgValuesSupported, " ")),
			"PKCE S256", yesNo(f.PKCES256),
			"Token endpoint auth", strings.Join(f.TokenEndpointAuthMethodsSupported, " "),
			"Back-channel logout", yesNo(f.BackchannelLogoutSupported))
		for _, warn := range out.Warnings {
			fmt.Fprintf(w, "Warning: %s\n", warn)
		}
	})
}

func (c *cli) upstreamDeleteCmd() *cobra.Command {
	return orgCmd[done]{
		confirm: "deleting the upstream connection of %q",
		act: func(o orgCall) (done, error) {
			return done{map[string]any{"orgId": o.org, "deleted": true}, fmt.Sprintf("Deleted the upstream connection of %s.\n", o.org)},
				o.dir().DeleteUpstream(o.ctx(), cliActor, o.org)
		},
		show: c.showDone,
	}.on(c, command("delete --org ORG --yes", "Delete the organization's upstream connection and its stored secret", args()))
}

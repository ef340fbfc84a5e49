package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// upstreamJSON is an organization's upstream connection as `upstream set`
// and `upstream show` print it: never the client secret.
type upstreamJSON struct {
	OrgID              string   `json:"orgId"`
	ConfigURL          string   `json:"configUrl"`
	ClientID           string   `json:"clientId"`
	Scopes             []string `json:"scopes"`
	UsernameClaim      string   `json:"usernameClaim"`
	DisplayName        string   `json:"displayName"`
	LogoutURL          string   `json:"logoutUrl"`
	EndUpstreamSession bool     `json:"endUpstreamSession"`
	RedirectURI        string   `json:"redirectUri"`
	LogoutCallbackURI  string   `json:"logoutCallbackUri"`
	CreatedAt          string   `json:"createdAt"`
	UpdatedAt          string   `json:"updatedAt"`
}

// upstreamCheckJSON is what `upstream check --json` prints, whether the
// check passed (found) or not (error).
type upstreamCheckJSON struct {
	OrgID     string             `json:"orgId"`
	ConfigURL string             `json:"configUrl"`
	OK        bool               `json:"ok"`
	Found     *upstreamFoundJSON `json:"found,omitempty"`
	Warnings  []string           `json:"warnings"`
	Error     *upstreamErrorJSON `json:"error,omitempty"`
}

type upstreamFoundJSON struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorizationEndpoint"`
	TokenEndpoint                     string   `json:"tokenEndpoint"`
	UserinfoEndpoint                  string   `json:"userinfoEndpoint"`
	JWKSURI                           string   `json:"jwksUri"`
	EndSessionEndpoint                string   `json:"endSessionEndpoint"`
	IDTokenSigningAlgValuesSupported  []string `json:"idTokenSigningAlgValuesSupported"`
	CodeChallengeMethodsSupported     []string `json:"codeChallengeMethodsSupported"`
	PKCES256                          bool     `json:"pkceS256"`
	TokenEndpointAuthMethodsSupported []string `json:"tokenEndpointAuthMethodsSupported"`
	BackchannelLogoutSupported        bool     `json:"backchannelLogoutSupported"`
}

type upstreamErrorJSON struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	URL    string `json:"url,omitempty"`
	Status int    `json:"status,omitempty"`
}

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

func toUpstreamJSON(d *directory.Directory, u *domain.UpstreamConnection) upstreamJSON {
	return upstreamJSON{
		OrgID: u.OrgID, ConfigURL: u.ConfigURL, ClientID: u.ClientID, Scopes: nonNil(u.Scopes), UsernameClaim: u.UsernameClaim,
		DisplayName: u.DisplayName, LogoutURL: u.LogoutURL, EndUpstreamSession: u.EndUpstreamSession,
		RedirectURI: d.UpstreamRedirectURI(u.OrgID), LogoutCallbackURI: d.UpstreamLogoutCallbackURI(u.OrgID),
		CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt),
	}
}

func (c *cli) printUpstream(cmd *cobra.Command, env *bootstrap.Env, u *domain.UpstreamConnection, headline string) error {
	out := toUpstreamJSON(env.Directory, u)
	return c.print(cmd, out, func(w io.Writer) {
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

// readSecretLine reads the client secret from the first line of r.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read client secret from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", domain.Invalid("client_secret", "stdin gave an empty client secret")
	}
	return line, nil
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
	if cmd.Flags().Changed("end-upstream-session") {
		v, _ := cmd.Flags().GetBool("end-upstream-session")
		ch.EndUpstreamSession = &v
	}
	if use, _ := cmd.Flags().GetBool("client-secret-stdin"); use {
		if c.stdin == nil {
			return ch, domain.Invalid("client_secret", "--client-secret-stdin needs standard input")
		}
		s, err := readSecretLine(c.stdin)
		if err != nil {
			return ch, err
		}
		ch.ClientSecret = &s
	}
	return ch, nil
}

func (c *cli) upstreamSetCmd() *cobra.Command {
	cmd := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			ch, err := c.upstreamChanges(cmd)
			if err != nil {
				return upstreamFieldError(err)
			}
			if ch.IsZero() {
				return usagef("nothing to set: give at least one of --config-url, --client-id, --client-secret-stdin, --scopes, --username-claim, --display-name, --logout-url, --end-upstream-session")
			}
			if err := ch.Check(); err != nil {
				return upstreamFieldError(err)
			}
			env, err := c.openOrg(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			u, created, err := env.Directory.SetUpstream(cmd.Context(), cliActor, org, ch)
			if err != nil {
				return upstreamFieldError(err)
			}
			headline := "Updated the upstream connection of " + org + "."
			if created {
				headline = "Created the upstream connection of " + org + "."
			}
			return c.printUpstream(cmd, env, u, headline)
		},
	}
	addOrgFlag(cmd)
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

// loadUpstream opens the environment and the organization's connection,
// failing clearly when either is missing. The caller closes env.
func (c *cli) loadUpstream(cmd *cobra.Command, org string) (*bootstrap.Env, *domain.UpstreamConnection, error) {
	env, err := c.openOrg(cmd, org)
	if err != nil {
		return nil, nil, err
	}
	u, err := env.Store.GetUpstream(cmd.Context(), org)
	if err != nil {
		env.Close()
		if isNotFound(err) {
			return nil, nil, fmt.Errorf("organization %q has no upstream connection (create one with `latchkey upstream set`)", org)
		}
		return nil, nil, err
	}
	return env, u, nil
}

func (c *cli) upstreamShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show --org ORG",
		Short: "Show the upstream connection (never its secret) and the URIs to register upstream",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			env, u, err := c.loadUpstream(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			return c.printUpstream(cmd, env, u, "")
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) upstreamCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check --org ORG",
		Short: "Fetch the upstream's discovery document and show what it offers, or why it cannot be used",
		Long: `Fetch the upstream's discovery document through Latchkey's outbound client
(the same address rules as real logins) and show what it offers, or why it
failed: unreachable (DNS, connection, timeout or a refused address), tls, http, http_status,
not_json, issuer_mismatch, incomplete or invalid_document. Exits 1 on failure.`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			env, _, err := c.loadUpstream(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			check, err := env.Directory.CheckUpstream(cmd.Context(), cliActor, org)
			if err != nil {
				return err
			}
			out := upstreamCheckJSON{OrgID: org, ConfigURL: check.ConfigURL, OK: check.OK, Warnings: check.Warnings}
			if ce := check.Error; ce != nil {
				out.Error = &upstreamErrorJSON{Kind: string(ce.Kind), Detail: ce.Detail, URL: ce.URL, Status: ce.Status}
				detail := ce.Detail
				if ce.Reason != "" { // the operator, on the server, may see what the log says
					detail += " Reason: " + ce.Reason
				}
				failure := fmt.Errorf("upstream check of %s failed [%s]: %s", org, ce.Kind, detail)
				if wantJSON(cmd) {
					if err := c.print(cmd, out, nil); err != nil {
						return err
					}
				}
				return failure
			}
			m := check.Found
			out.Found = &upstreamFoundJSON{
				Issuer: m.Issuer, AuthorizationEndpoint: m.AuthorizationEndpoint, TokenEndpoint: m.TokenEndpoint,
				UserinfoEndpoint: m.UserinfoEndpoint, JWKSURI: m.JWKSURI, EndSessionEndpoint: m.EndSessionEndpoint,
				IDTokenSigningAlgValuesSupported:  nonNil(m.IDTokenSigningAlgValuesSupported),
				CodeChallengeMethodsSupported:     nonNil(m.CodeChallengeMethodsSupported),
				PKCES256:                          m.SupportsPKCE(),
				TokenEndpointAuthMethodsSupported: m.TokenEndpointAuthMethods(),
				BackchannelLogoutSupported:        m.BackchannelLogoutSupported,
			}
			return c.print(cmd, out, func(w io.Writer) {
				f := out.Found
				fmt.Fprintf(w, "The upstream of %s is usable.\n", org)
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
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) upstreamDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete --org ORG --yes",
		Short: "Delete the organization's upstream connection and its stored secret",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			if err := confirmed(cmd, fmt.Sprintf("deleting the upstream connection of %q", org)); err != nil {
				return err
			}
			env, _, err := c.loadUpstream(cmd, org)
			if err != nil {
				return err
			}
			defer env.Close()
			if err := env.Directory.DeleteUpstream(cmd.Context(), cliActor, org); err != nil {
				return err
			}
			return c.print(cmd, map[string]any{"orgId": org, "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted the upstream connection of %s.\n", org)
			})
		},
	}
	addOrgFlag(cmd)
	addYesFlag(cmd)
	return cmd
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// The JSON shapes below are a contract: scripts parse them. Add fields if
// needed; never rename or remove one, and never add a secret or hash.

type orgJSON struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Issuer    string             `json:"issuer"`
	Settings  domain.OrgSettings `json:"settings"`
	CreatedAt string             `json:"createdAt"`
	UpdatedAt string             `json:"updatedAt"`
}

// orgCreatedJSON is printed once, on create: it carries the API key.
type orgCreatedJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	APIKey string `json:"apiKey"`
}

type apiKeyJSON struct {
	ID     string `json:"id"`
	APIKey string `json:"apiKey"`
	// PreviousKeyExpiresAt is set on rotate: until then the old key works too.
	PreviousKeyExpiresAt *string `json:"previousKeyExpiresAt,omitempty"`
}

type userJSON struct {
	UserName      string `json:"userName"`
	Sub           string `json:"sub"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
	Picture       string `json:"picture"`
	Role          string `json:"role"`
	Disabled      bool   `json:"disabled"`
	CreatedAt     string `json:"createdAt"`
	UpdatedAt     string `json:"updatedAt"`
}

type appJSON struct {
	ClientID               string   `json:"clientId"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	BackchannelLogoutURI   string   `json:"backchannelLogoutUri"`
	GrantTypes             []string `json:"grantTypes"`
	AccessTokenLifetime    int64    `json:"accessTokenLifetime"`
	IDTokenLifetime        int64    `json:"idTokenLifetime"`
	RefreshTokenLifetime   int64    `json:"refreshTokenLifetime"`
	// RefreshTokenReuseInterval is in seconds; 0 is off.
	RefreshTokenReuseInterval int64  `json:"refreshTokenReuseInterval"`
	IDTokenAlg                string `json:"idTokenAlg"`
	AccessTokenFormat         string `json:"accessTokenFormat"`
	CreatedAt                 string `json:"createdAt"`
	UpdatedAt                 string `json:"updatedAt"`
}

// appSecretJSON is printed on create and on rotate-secret, the only times
// a client secret is ever shown.
type appSecretJSON struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"`
	Name         string `json:"name,omitempty"`
	OrgID        string `json:"orgId,omitempty"`
}

type keyJSON struct {
	KID         string  `json:"kid"`
	Alg         string  `json:"alg"`
	State       string  `json:"state"`
	CreatedAt   string  `json:"createdAt"`
	ActivatedAt *string `json:"activatedAt"`
	ExpiresAt   *string `json:"expiresAt"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// optStamp is nil for the zero time, so JSON says null rather than year 1.
func optStamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := stamp(t)
	return &s
}

func toOrgJSON(o *domain.Organization, issuer string) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Issuer: issuer, Settings: o.Settings, CreatedAt: stamp(o.CreatedAt), UpdatedAt: stamp(o.UpdatedAt)}
}

func toUserJSON(u *domain.User) userJSON {
	return userJSON{
		UserName: u.UserName, Sub: u.Sub, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified,
		Picture: u.Picture, Role: u.Role, Disabled: u.Disabled, CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt),
	}
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func toAppJSON(a *domain.Application) appJSON {
	return appJSON{
		ClientID: a.ClientID, Name: a.Name, Public: a.Public,
		RedirectURIs: nonNil(a.RedirectURIs), PostLogoutRedirectURIs: nonNil(a.PostLogoutRedirectURIs),
		BackchannelLogoutURI: a.BackchannelLogoutURI, GrantTypes: nonNil(a.GrantTypes),
		AccessTokenLifetime: a.AccessTokenLifetime, IDTokenLifetime: a.IDTokenLifetime, RefreshTokenLifetime: a.RefreshTokenLifetime,
		RefreshTokenReuseInterval: a.RefreshTokenReuseInterval,
		IDTokenAlg:                a.IDTokenAlg, AccessTokenFormat: a.AccessTokenFormat,
		CreatedAt: stamp(a.CreatedAt), UpdatedAt: stamp(a.UpdatedAt),
	}
}

func toKeyJSON(k *domain.SigningKey) keyJSON {
	return keyJSON{KID: k.KID, Alg: k.Alg, State: k.State, CreatedAt: stamp(k.CreatedAt), ActivatedAt: optStamp(k.ActivatedAt), ExpiresAt: optStamp(k.ExpiresAt)}
}

// addJSONFlag gives a command group the --json switch.
func addJSONFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().Bool("json", false, "print JSON instead of text")
}

func wantJSON(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("json")
	return v
}

// print writes v as JSON with --json, else calls human.
func (c *cli) print(cmd *cobra.Command, v any, human func(w io.Writer)) error {
	if wantJSON(cmd) {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(c.stdout)
	return nil
}

// fields prints label/value lines aligned in two columns.
func fields(w io.Writer, kv ...string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	tw.Flush()
}

// table prints a header and rows in aligned columns.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func seconds(n int64) string {
	return fmt.Sprintf("%d seconds (%s)", n, domain.DescribeSeconds(n))
}

// fieldFlags names the command-line flag or argument behind each field a
// *domain.FieldError can name, so a message points at what to fix.
var fieldFlags = map[string]string{
	"id":                           "ID argument",
	"name":                         "--name",
	"sso_enabled":                  "--sso",
	"session_lifetime_seconds":     "--session-lifetime",
	"ticket_lifetime_seconds":      "--ticket-lifetime",
	"auth_redirect_url":            "--auth-redirect-url",
	"login_method":                 "--login-method",
	"overlap":                      "--overlap",
	"userName":                     "USERNAME argument",
	"email":                        "--email",
	"picture":                      "--picture",
	"role":                         "--role",
	"password":                     "--password-stdin",
	"redirect_uris":                "--redirect-uri",
	"post_logout_redirect_uris":    "--post-logout-redirect-uri",
	"backchannel_logout_uri":       "--backchannel-logout-uri",
	"grant_types":                  "--grant-type",
	"access_token_lifetime":        "--access-token-lifetime",
	"id_token_lifetime":            "--id-token-lifetime",
	"refresh_token_lifetime":       "--refresh-token-lifetime",
	"refresh_token_reuse_interval": "--refresh-token-reuse-interval",
	"id_token_signed_response_alg": "--id-token-alg",
	"access_token_format":          "--access-token-format",
	"alg":                          "--alg",
	"org":                          "--org",
	"master-key-file":              "--master-key-file",
}

// describeFieldError says which field is wrong, in the product's name and
// the command line's: `redirect_uris (--redirect-uri): must be …`.
func describeFieldError(fe *domain.FieldError) string {
	if flag, ok := fieldFlags[fe.Field]; ok && flag != "--"+fe.Field {
		return fmt.Sprintf("%s (%s): %s", fe.Field, flag, fe.Message)
	}
	return fe.Error()
}

// notFound turns a store.ErrNotFound into a plain sentence.
func notFound(err error, what string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s not found", fmt.Sprintf(what, args...))
	}
	return err
}

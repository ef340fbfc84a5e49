package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

// The JSON shapes are package resource's, shared with the admin API; they
// are a contract: scripts parse them. keyJSON is the CLI's own (signing
// keys are managed here only).

type keyJSON struct {
	KID         string  `json:"kid"`
	Alg         string  `json:"alg"`
	State       string  `json:"state"`
	CreatedAt   string  `json:"createdAt"`
	ActivatedAt *string `json:"activatedAt"`
	ExpiresAt   *string `json:"expiresAt"`
}

func toKeyJSON(k *domain.SigningKey) keyJSON {
	return keyJSON{KID: k.KID, Alg: k.Alg, State: k.State, CreatedAt: resource.Stamp(k.CreatedAt), ActivatedAt: resource.OptStamp(k.ActivatedAt), ExpiresAt: resource.OptStamp(k.ExpiresAt)}
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
		enc.SetEscapeHTML(false) // as the admin API: the same bytes for the same object
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

// orElse is *v, or none for nil.
func orElse(v *string, none string) string {
	if v == nil {
		return none
	}
	return *v
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

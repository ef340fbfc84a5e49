package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

// adminTokenCreatedJSON is printed once, on create: it carries the token.
type adminTokenCreatedJSON struct {
	ID        string  `json:"id"`
	Token     string  `json:"token"`
	Org       *string `json:"org"` // null: an operator token, valid for every organization
	ExpiresAt *string `json:"expiresAt"`
}

func optOrg(org string) *string {
	if org == "" {
		return nil
	}
	return &org
}

// defaultAdminTokenExpiry is how long a new admin token works unless
// --expires says otherwise.
const defaultAdminTokenExpiry = "30d"

var leadingDays = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseExpires reads --expires: a Go duration ("12h", "90m"), days ("30d",
// "1d12h"), or "0"/"never" for a token that does not expire (returned as 0).
// It only parses: how long a token may live is the directory's rule.
func parseExpires(v string) (time.Duration, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	bad := domain.Invalid("expires", "must be a duration like 30d, 12h or 90m, or never (got %q)", v)
	if s == "never" || s == "0" {
		return 0, nil
	}
	var d time.Duration
	if m := leadingDays.FindStringSubmatch(s); m != nil {
		days, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || days > math.MaxInt64/int64(24*time.Hour) {
			return 0, tooLong(v)
		}
		d = time.Duration(days) * 24 * time.Hour
		s = m[2]
		if s == "" {
			return checkExpires(d, v)
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if rest < 0 {
		return 0, domain.Invalid("expires", "must not be negative (got %q)", v)
	}
	if rest > math.MaxInt64-d {
		return 0, tooLong(v)
	}
	return checkExpires(d+rest, v)
}

// expiresFlag reads --expires with parseExpires.
func expiresFlag(cmd *cobra.Command) (time.Duration, error) {
	raw, _ := cmd.Flags().GetString("expires")
	return parseExpires(raw)
}

// addTokenFlags gives a token create command --expires (default def, e.g.
// like) and --description (help desc).
func addTokenFlags(cmd *cobra.Command, def, like, desc string) {
	cmd.Flags().String("expires", def, "how long the token works: a duration like "+like+", 12h or 90m, or never")
	cmd.Flags().String("description", "", desc)
}

func checkExpires(d time.Duration, v string) (time.Duration, error) {
	if d <= 0 {
		return 0, domain.Invalid("expires", "must be positive, or never (got %q)", v)
	}
	return d, nil
}

func tooLong(v string) error {
	return domain.Invalid("expires", "is too long; use never for a token that does not expire (got %q)", v)
}

// optionalOrgFlag returns the validated --org value, "" when not given.
func optionalOrgFlag(cmd *cobra.Command) (string, error) {
	org, _ := cmd.Flags().GetString("org")
	if !cmd.Flags().Changed("org") {
		return "", nil
	}
	if err := domain.ValidateOrgID(org); err != nil {
		fe, _ := domain.AsFieldError(err)
		return "", domain.Invalid("org", "%s", fe.Message)
	}
	return org, nil
}

func (c *cli) adminCmd() *cobra.Command {
	return c.tokenGroup("admin", "Manage access to the admin JSON API (/api/admin/…)", "Create, list and revoke admin API bearer tokens",
		c.adminTokenCreateCmd(), c.adminTokenListCmd(), c.adminTokenRevokeCmd())
}

func (c *cli) adminTokenCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create [--org ORG] [--expires 30d] [--description D]",
		Short: "Create an admin API token for one organization, or without --org for every organization (operators)",
		Example: `  latchkey admin token create --org acme --description "deploy pipeline"
  TOKEN=$(latchkey admin token create --expires 12h)
  curl -H "Authorization: Bearer $TOKEN" https://sso.example.com/api/admin/orgs`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := optionalOrgFlag(cmd)
			if err != nil {
				return err
			}
			ttl, err := expiresFlag(cmd)
			if err != nil {
				return err
			}
			desc, _ := cmd.Flags().GetString("description")
			return c.withEnv(cmd, func(env *bootstrap.Env) error {
				t, plain, err := env.Directory.CreateAdminToken(cmd.Context(), cliActor, org, desc, ttl)
				if err != nil {
					return err
				}
				out := adminTokenCreatedJSON{ID: t.ID, Token: plain, Org: optOrg(org), ExpiresAt: resource.OptStamp(t.ExpiresAt)}
				scope := "every organization (operator token)"
				if org != "" {
					scope = "organization " + org
				}
				// Only the token goes to stdout, so TOKEN=$(latchkey admin token create) works.
				return c.printOnce(cmd, out, plain, fmt.Sprintf("Created admin token %s for %s; it %s. It is shown only now: store it safely.\n", t.ID, scope, expiryOf(out.ExpiresAt)))
			})
		},
	}
	cmd.Flags().String("org", "", "organization the token may manage (default: every organization)")
	addTokenFlags(cmd, defaultAdminTokenExpiry, "30d", "what the token is for, shown by list")
	return cmd
}

func (c *cli) adminTokenListCmd() *cobra.Command {
	cmd := runCmd("list [--org ORG]", "List admin API tokens (never the tokens themselves)", args(), func(cmd *cobra.Command, _ []string) error {
		org, err := optionalOrgFlag(cmd)
		if err != nil {
			return err
		}
		return c.withEnv(cmd, func(env *bootstrap.Env) error {
			all, err := env.Directory.ListAdminTokens(cmd.Context())
			if err != nil {
				return err
			}
			now := env.Now()
			out := []resource.AdminToken{}
			for _, t := range all {
				if org == "" || t.OrgID == org {
					out = append(out, resource.NewAdminToken(t, now))
				}
			}
			return printList(c, cmd, out, []string{"ID", "ORG", "STATE", "CREATED", "EXPIRES", "LAST USED", "DESCRIPTION"},
				func(t resource.AdminToken) []string {
					return []string{t.ID, orElse(t.Org, "(all)"), t.State, t.CreatedAt, orElse(t.ExpiresAt, "never"), orElse(t.LastUsedAt, "never"), orNone(t.Description)}
				})
		})
	})
	cmd.Flags().String("org", "", "only tokens of this organization")
	return cmd
}

func (c *cli) adminTokenRevokeCmd() *cobra.Command {
	cmd := runCmd("revoke ID [--org ORG]", "Revoke an admin API token at once", args("ID"), func(cmd *cobra.Command, a []string) error {
		org, err := optionalOrgFlag(cmd)
		if err != nil {
			return err
		}
		return c.withEnv(cmd, func(env *bootstrap.Env) error {
			t, err := findAdminToken(cmd, env, a[0], org)
			if err != nil {
				return err
			}
			if err := env.Directory.RevokeAdminToken(cmd.Context(), cliActor, t.OrgID, t.ID); err != nil {
				return err
			}
			return c.printDone(cmd, done{map[string]any{"id": t.ID, "org": optOrg(t.OrgID), "revoked": true}, fmt.Sprintf("Revoked admin token %s.\n", t.ID)})
		})
	})
	cmd.Flags().String("org", "", "organization of the token (needed only if two tokens share the id)")
	return cmd
}

// findAdminToken finds the token to revoke: the one with id, of org when
// --org was given; it must be the only one and not revoked yet.
func findAdminToken(cmd *cobra.Command, env *bootstrap.Env, id, org string) (*domain.AdminToken, error) {
	all, err := env.Directory.ListAdminTokens(cmd.Context())
	if err != nil {
		return nil, err
	}
	var match []*domain.AdminToken
	for _, t := range all {
		if t.ID == id && (!cmd.Flags().Changed("org") || t.OrgID == org) {
			match = append(match, t)
		}
	}
	switch {
	case len(match) == 0 && cmd.Flags().Changed("org"):
		return nil, fmt.Errorf("admin token %q of organization %q not found", id, org)
	case len(match) == 0:
		return nil, fmt.Errorf("admin token %q not found", id)
	case len(match) > 1:
		return nil, usagef("several admin tokens have id %q; name the organization with --org", id)
	}
	if t := match[0]; !t.RevokedAt.IsZero() {
		return nil, fmt.Errorf("admin token %q was already revoked at %s", id, resource.Stamp(t.RevokedAt))
	}
	return match[0], nil
}

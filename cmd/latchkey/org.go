package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

// cliActor is who the audit log names for changes made with this CLI.
var cliActor = directory.Actor{Name: "cli"}

func (c *cli) orgCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "org", Short: "Manage organizations"})
	addJSONFlag(cmd)
	apiKey := c.group(&cobra.Command{Use: "api-key", Short: "Show or rotate an organization's trusted-platform API key"})
	apiKey.AddCommand(c.orgAPIKeyShowCmd(), c.orgAPIKeyRotateCmd())
	cmd.AddCommand(c.orgCreateCmd(), c.orgListCmd(), c.orgShowCmd(), c.orgUpdateCmd(), c.orgDeleteCmd(), apiKey)
	return cmd
}

func (c *cli) orgCreateCmd() *cobra.Command {
	cmd := runCmd("create ID --name NAME", "Create an organization with its signing keys and first API key", args("ID"), func(cmd *cobra.Command, a []string) error {
		name, _ := cmd.Flags().GetString("name")
		probe := domain.Organization{ID: a[0], Name: name, Settings: domain.DefaultOrgSettings()}
		if err := probe.Validate(); err != nil {
			return err
		}
		return c.withEnv(cmd, func(env *bootstrap.Env) error {
			o, key, err := env.Directory.CreateOrg(cmd.Context(), cliActor, a[0], name)
			if err != nil {
				return err
			}
			out := resource.OrgCreated{ID: o.ID, Name: o.Name, Issuer: env.Directory.Issuer(o.ID), APIKey: key}
			return c.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "Created organization %s (%s).\n", o.ID, o.Name)
				fields(w, "Issuer", out.Issuer, "Discovery", out.Issuer+"/.well-known/openid-configuration", "API key", out.APIKey)
				fmt.Fprintf(w, "Reveal the API key again with `latchkey org api-key show %s`.\n", o.ID)
			})
		})
	})
	cmd.Flags().String("name", "", "display name (required)")
	return cmd
}

func (c *cli) orgListCmd() *cobra.Command {
	return runCmd("list", "List organizations", args(), func(cmd *cobra.Command, _ []string) error {
		return c.withEnv(cmd, func(env *bootstrap.Env) error {
			orgs, err := env.Directory.ListOrgs(cmd.Context())
			if err != nil {
				return err
			}
			out := each(orgs, func(o *domain.Organization) resource.Org { return resource.NewOrg(o, env.Directory.Issuer(o.ID)) })
			return printList(c, cmd, out, []string{"ID", "NAME", "SSO", "LOGIN", "ISSUER"}, func(o resource.Org) []string {
				return []string{o.ID, o.Name, onOff(o.Settings.SSOEnabled), o.Settings.LoginMethod, o.Issuer}
			})
		})
	})
}

func (c *cli) printOrg(o orgCall, org *domain.Organization) error {
	out := resource.NewOrg(org, o.dir().Issuer(org.ID))
	return c.print(o.cmd, out, func(w io.Writer) {
		s := org.Settings
		fields(w,
			"ID", org.ID,
			"Name", org.Name,
			"Issuer", out.Issuer,
			"Discovery", out.Issuer+"/.well-known/openid-configuration",
			"SSO", onOff(s.SSOEnabled),
			"Session lifetime", seconds(s.SessionLifetimeSeconds),
			"Ticket lifetime", seconds(s.TicketLifetimeSeconds),
			"Auth redirect URL", orNone(s.AuthRedirectURL),
			"Login method", s.LoginMethod,
			"Second factor", s.MFA,
			"Created", out.CreatedAt,
			"Updated", out.UpdatedAt)
	})
}

func (c *cli) orgShowCmd() *cobra.Command {
	return orgCmd[*domain.Organization]{
		fromArg: true,
		act:     func(o orgCall) (*domain.Organization, error) { return o.dir().GetOrg(o.ctx(), o.org) },
		show:    c.printOrg,
	}.on(c, command("show ID", "Show an organization and its settings", args("ID")))
}

// parseSSO reads --sso: on/off (true/false, yes/no, 1/0 also do).
func parseSSO(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, domain.Invalid("sso_enabled", "must be on or off (got %q)", v)
}

func (c *cli) orgUpdateCmd() *cobra.Command {
	var ch directory.OrgChanges
	cmd := orgCmd[*domain.Organization]{
		fromArg: true,
		check: func(cmd *cobra.Command, _ []string) (err error) {
			ch, err = orgChanges(cmd)
			return err
		},
		act:  func(o orgCall) (*domain.Organization, error) { return o.dir().UpdateOrg(o.ctx(), cliActor, o.org, ch) },
		show: c.printOrg,
	}.on(c, &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change an organization's name or settings (only the flags given change)",
		Example: `  latchkey org update acme --sso=off
  latchkey org update acme --session-lifetime 1.296.000   # 15 days
  latchkey org update acme --auth-redirect-url https://acme.example/login --login-method platform
  latchkey org update acme --mfa required`,
		Args: args("ID"),
	})
	f := cmd.Flags()
	f.String("name", "", "display name")
	f.String("sso", "", "single sign-on across the organization's applications: on or off (--sso alone means on)")
	f.Lookup("sso").NoOptDefVal = "on"
	f.String("session-lifetime", "", "SSO session lifetime in seconds (60 to 31,536,000; thousands separators allowed: 1.296.000)")
	f.String("ticket-lifetime", "", "login ticket lifetime in seconds (10 to 3600)")
	f.String("auth-redirect-url", "", "where the organization's platform logs users in (for --login-method platform); \"\" clears it")
	f.String("login-method", "", "how browsers sign in: password, platform or upstream")
	f.String("mfa", "", "second factor policy: off, optional, admins (role ADMIN must) or required (everyone with a password must)")
	return cmd
}

// orgChanges reads the update flags, so every flag is checked before the
// database is opened.
func orgChanges(cmd *cobra.Command) (directory.OrgChanges, error) {
	name := stringFlag(cmd, "name")
	authURL := stringFlag(cmd, "auth-redirect-url")
	login := stringFlag(cmd, "login-method")
	var sso *bool
	if v := stringFlag(cmd, "sso"); v != nil {
		b, err := parseSSO(*v)
		if err != nil {
			return directory.OrgChanges{}, err
		}
		sso = &b
	}
	session, err := secondsFlag(cmd, "session-lifetime", "session_lifetime_seconds")
	if err != nil {
		return directory.OrgChanges{}, err
	}
	ticket, err := secondsFlag(cmd, "ticket-lifetime", "ticket_lifetime_seconds")
	if err != nil {
		return directory.OrgChanges{}, err
	}
	ch := directory.OrgChanges{Name: name, SSOEnabled: sso, SessionLifetimeSeconds: session, TicketLifetimeSeconds: ticket,
		AuthRedirectURL: authURL, LoginMethod: login, MFA: stringFlag(cmd, "mfa")}
	if ch.IsZero() {
		return ch, usagef("nothing to change: give at least one of --name, --sso, --session-lifetime, --ticket-lifetime, --auth-redirect-url, --login-method, --mfa")
	}
	return ch, nil
}

func (c *cli) orgDeleteCmd() *cobra.Command {
	return orgCmd[done]{
		fromArg: true,
		confirm: "deleting organization %q with all its users, applications and keys",
		act: func(o orgCall) (done, error) {
			return done{map[string]any{"id": o.org, "deleted": true}, fmt.Sprintf("Deleted organization %s.\n", o.org)}, o.dir().DeleteOrg(o.ctx(), cliActor, o.org)
		},
		show: c.showDone,
	}.on(c, command("delete ID --yes", "Delete an organization with all its users, applications, keys and sessions", args("ID")))
}

func (c *cli) orgAPIKeyShowCmd() *cobra.Command {
	return orgCmd[resource.APIKey]{
		fromArg: true,
		act: func(o orgCall) (resource.APIKey, error) {
			key, err := o.dir().RevealAPIKey(o.ctx(), cliActor, o.org)
			return resource.APIKey{ID: o.org, APIKey: key}, err
		},
		show: func(o orgCall, out resource.APIKey) error { return c.printOnce(o.cmd, out, out.APIKey, "") },
	}.on(c, command("show ID", "Reveal the organization's current API key (the reveal is audited)", args("ID")))
}

func (c *cli) orgAPIKeyRotateCmd() *cobra.Command {
	var overlap time.Duration
	cmd := orgCmd[resource.APIKey]{
		fromArg: true,
		check: func(cmd *cobra.Command, _ []string) error {
			// RotateAPIKey checks the range.
			overlap, _ = cmd.Flags().GetDuration("overlap")
			return nil
		},
		act: func(o orgCall) (resource.APIKey, error) {
			started := o.env.Now()
			key, err := o.dir().RotateAPIKey(o.ctx(), cliActor, o.org, overlap)
			out := resource.APIKey{ID: o.org, APIKey: key}
			if overlap > 0 {
				out.PreviousKeyExpiresAt = resource.OptStamp(started.Add(overlap))
			}
			return out, err
		},
		show: func(o orgCall, out resource.APIKey) error {
			note := "The previous API key stopped working.\n"
			if overlap > 0 {
				note = fmt.Sprintf("The previous API key keeps working for %s.\n", domain.DescribeSeconds(int64(overlap/time.Second)))
			}
			// Only the key goes to stdout, so KEY=$(latchkey org api-key rotate acme) works.
			return c.printOnce(o.cmd, out, out.APIKey, note)
		},
	}.on(c, command("rotate ID [--overlap 24h]", "Make a new API key; the previous one keeps working for the overlap", args("ID")))
	cmd.Flags().Duration("overlap", directory.DefaultAPIKeyOverlap, fmt.Sprintf("how long the previous key keeps working (0 stops it at once; at most %dh)", int(directory.MaxAPIKeyOverlap.Hours())))
	return cmd
}

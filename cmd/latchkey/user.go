package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

func (c *cli) userCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "user", Short: "Manage an organization's users"})
	addJSONFlag(cmd)
	cmd.AddCommand(c.userCreateCmd(), c.userListCmd(), c.userShowCmd(), c.userUpdateCmd(),
		c.userSetDisabledCmd(true), c.userSetDisabledCmd(false), c.userDeleteCmd())
	return cmd
}

func (c *cli) printUser(cmd *cobra.Command, u *domain.User) error {
	out := resource.NewUser(u)
	return c.print(cmd, out, func(w io.Writer) {
		fields(w,
			"User name", u.UserName,
			"Sub", u.Sub,
			"Name", orNone(u.Name),
			"Email", orNone(u.Email),
			"Email verified", yesNo(u.EmailVerified),
			"Picture", orNone(u.Picture),
			"Role", u.Role,
			"Password", yesNo(u.PasswordHash != ""),
			"Disabled", yesNo(u.Disabled),
			"Created", out.CreatedAt,
			"Updated", out.UpdatedAt)
	})
}

// addUserFlags adds the flags create and update share.
func addUserFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addOrgFlag(cmd)
	f.String("name", "", "full name")
	f.String("email", "", "email address")
	f.String("picture", "", "picture URL (absolute http or https)")
	f.String("role", "", "USER or ADMIN")
	f.Bool("password-stdin", false, "read a password from the first line of standard input")
	f.Bool("email-verified", false, "whether the email address is verified")
}

// userChanges reads the flags that were given; the password is read from
// stdin here, before anything is opened.
func (c *cli) userChanges(cmd *cobra.Command) (directory.UserChanges, error) {
	ch := directory.UserChanges{
		Name:    stringFlag(cmd, "name"),
		Email:   stringFlag(cmd, "email"),
		Picture: stringFlag(cmd, "picture"),
		Role:    stringFlag(cmd, "role"),
	}
	if cmd.Flags().Changed("email-verified") {
		v, _ := cmd.Flags().GetBool("email-verified")
		ch.EmailVerified = &v
	}
	if ch.Role != nil {
		if err := domain.ValidateRole(*ch.Role); err != nil {
			return ch, err
		}
	}
	if use, _ := cmd.Flags().GetBool("password-stdin"); use {
		if c.stdin == nil {
			return ch, domain.Invalid("password", "--password-stdin needs standard input")
		}
		pw, err := readPassword(c.stdin)
		if err != nil {
			return ch, err
		}
		ch.Password = &pw
	}
	return ch, nil
}

func (c *cli) userCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG USERNAME [flags]",
		Short: "Create a user",
		Example: `  latchkey user create --org acme alice --name "Alice Liddell" --email alice@acme.example --role ADMIN
  printf '%s\n' "$PASSWORD" | latchkey user create --org acme bob --password-stdin`,
		Args: args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			if err := domain.ValidateUserName(a[0]); err != nil {
				return err
			}
			ch, err := c.userChanges(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				u, err := env.Directory.CreateUser(cmd.Context(), cliActor, org, a[0], ch)
				if err != nil {
					return err
				}
				return c.printUser(cmd, u)
			})
		},
	}
	addUserFlags(cmd)
	return cmd
}

func (c *cli) userListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ORG [--query Q]",
		Short: "List users, optionally those whose userName, name or email contains Q",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			query, _ := cmd.Flags().GetString("query")
			limit, _ := cmd.Flags().GetInt("limit")
			if limit < 1 || limit > directory.MaxListUsers {
				return usagef("--limit must be between 1 and %d (got %d)", directory.MaxListUsers, limit)
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				users, err := env.Directory.ListUsers(cmd.Context(), org, directory.UserFilter{Query: query, Limit: limit})
				if err != nil {
					return err
				}
				out := make([]resource.User, 0, len(users))
				for _, u := range users {
					out = append(out, resource.NewUser(u))
				}
				return c.print(cmd, out, func(w io.Writer) {
					rows := make([][]string, 0, len(out))
					for _, u := range out {
						rows = append(rows, []string{u.UserName, u.Name, u.Email, u.Role, yesNo(u.Disabled), u.Sub})
					}
					table(w, []string{"USERNAME", "NAME", "EMAIL", "ROLE", "DISABLED", "SUB"}, rows)
				})
			})
		},
	}
	addOrgFlag(cmd)
	cmd.Flags().String("query", "", "only users whose userName, name or email contains this (case-insensitive)")
	cmd.Flags().Int("limit", 1000, "at most this many users (1 to 1000)")
	return cmd
}

func (c *cli) userShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show --org ORG USERNAME",
		Short: "Show a user",
		Args:  args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				u, err := env.Directory.GetUser(cmd.Context(), org, a[0])
				if err != nil {
					return err
				}
				return c.printUser(cmd, u)
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

// updateUser applies ch to the user.
func (c *cli) updateUser(cmd *cobra.Command, org, userName string, ch directory.UserChanges) error {
	return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
		u, err := env.Directory.UpdateUser(cmd.Context(), cliActor, org, userName, ch)
		if err != nil {
			return err
		}
		return c.printUser(cmd, u)
	})
}

func (c *cli) userUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update --org ORG USERNAME [flags]",
		Short: "Change a user (only the flags given change)",
		Args:  args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			ch, err := c.userChanges(cmd)
			if err != nil {
				return err
			}
			if ch == (directory.UserChanges{}) {
				return usagef("nothing to change: give at least one of --name, --email, --picture, --role, --password-stdin, --email-verified")
			}
			return c.updateUser(cmd, org, a[0], ch)
		},
	}
	addUserFlags(cmd)
	return cmd
}

func (c *cli) userSetDisabledCmd(disabled bool) *cobra.Command {
	use, short := "enable", "Let a disabled user sign in again"
	if disabled {
		use, short = "disable", "Stop a user from signing in and end their sessions (single logout; existing data stays)"
	}
	cmd := &cobra.Command{
		Use:   use + " --org ORG USERNAME",
		Short: short,
		Args:  args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.updateUser(cmd, org, a[0], directory.UserChanges{Disabled: &disabled})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) userDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete --org ORG USERNAME --yes",
		Short: "Delete a user with their sessions and tokens",
		Args:  args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			if err := confirmed(cmd, fmt.Sprintf("deleting user %q", a[0])); err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				if err := env.Directory.DeleteUser(cmd.Context(), cliActor, org, a[0]); err != nil {
					return err
				}
				return c.print(cmd, map[string]any{"userName": a[0], "deleted": true}, func(w io.Writer) {
					fmt.Fprintf(w, "Deleted user %s from %s.\n", a[0], org)
				})
			})
		},
	}
	addOrgFlag(cmd)
	addYesFlag(cmd)
	return cmd
}

package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

func (c *cli) userCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "user", Short: "Manage an organization's users"})
	addJSONFlag(cmd)
	cmd.AddCommand(c.userMFACmd())
	cmd.AddCommand(c.userCreateCmd(), c.userListCmd(), c.userShowCmd(), c.userUpdateCmd(),
		c.userSetDisabledCmd(true), c.userSetDisabledCmd(false), c.userDeleteCmd())
	return cmd
}

func (c *cli) printUser(o orgCall, u *domain.User) error {
	out := resource.NewUser(u)
	return c.print(o.cmd, out, func(w io.Writer) {
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
	ch.EmailVerified = boolFlag(cmd, "email-verified")
	if ch.Role != nil {
		if err := domain.ValidateRole(*ch.Role); err != nil {
			return ch, err
		}
	}
	var err error
	ch.Password, err = c.stdinFlag(cmd, "password-stdin", "password", "password")
	return ch, err
}

func (c *cli) userCreateCmd() *cobra.Command {
	var ch directory.UserChanges
	cmd := orgCmd[*domain.User]{
		check: func(cmd *cobra.Command, a []string) (err error) {
			if err := domain.ValidateUserName(a[0]); err != nil {
				return err
			}
			ch, err = c.userChanges(cmd)
			return err
		},
		act: func(o orgCall) (*domain.User, error) {
			return o.dir().CreateUser(o.ctx(), cliActor, o.org, o.arg(), ch)
		},
		show: c.printUser,
	}.on(c, &cobra.Command{
		Use:   "create --org ORG USERNAME [flags]",
		Short: "Create a user",
		Example: `  latchkey user create --org acme alice --name "Alice Liddell" --email alice@acme.example --role ADMIN
  printf '%s\n' "$PASSWORD" | latchkey user create --org acme bob --password-stdin`,
		Args: args("USERNAME"),
	})
	addUserFlags(cmd)
	return cmd
}

func (c *cli) userListCmd() *cobra.Command {
	var filter directory.UserFilter
	cmd := orgCmd[[]*domain.User]{
		check: func(cmd *cobra.Command, _ []string) error {
			filter.Query, _ = cmd.Flags().GetString("query")
			filter.Limit, _ = cmd.Flags().GetInt("limit")
			if filter.Limit < 1 || filter.Limit > directory.MaxListUsers {
				return usagef("--limit must be between 1 and %d (got %d)", directory.MaxListUsers, filter.Limit)
			}
			return nil
		},
		act: func(o orgCall) ([]*domain.User, error) { return o.dir().ListUsers(o.ctx(), o.org, filter) },
		show: func(o orgCall, users []*domain.User) error {
			return printList(c, o.cmd, each(users, resource.NewUser), []string{"USERNAME", "NAME", "EMAIL", "ROLE", "DISABLED", "SUB"},
				func(u resource.User) []string {
					return []string{u.UserName, u.Name, u.Email, u.Role, yesNo(u.Disabled), u.Sub}
				})
		},
	}.on(c, command("list --org ORG [--query Q]", "List users, optionally those whose userName, name or email contains Q", args()))
	cmd.Flags().String("query", "", "only users whose userName, name or email contains this (case-insensitive)")
	cmd.Flags().Int("limit", 1000, "at most this many users (1 to 1000)")
	return cmd
}

func (c *cli) userShowCmd() *cobra.Command {
	return orgCmd[*domain.User]{
		act:  func(o orgCall) (*domain.User, error) { return o.dir().GetUser(o.ctx(), o.org, o.arg()) },
		show: c.printUser,
	}.on(c, command("show --org ORG USERNAME", "Show a user", args("USERNAME")))
}

// userUpdate is a command that applies the changes check reads to the user.
func (c *cli) userUpdate(cmd *cobra.Command, check func(cmd *cobra.Command) (directory.UserChanges, error)) *cobra.Command {
	var ch directory.UserChanges
	return orgCmd[*domain.User]{
		check: func(cmd *cobra.Command, _ []string) (err error) {
			ch, err = check(cmd)
			return err
		},
		act: func(o orgCall) (*domain.User, error) {
			return o.dir().UpdateUser(o.ctx(), cliActor, o.org, o.arg(), ch)
		},
		show: c.printUser,
	}.on(c, cmd)
}

func (c *cli) userUpdateCmd() *cobra.Command {
	cmd := c.userUpdate(&cobra.Command{
		Use:   "update --org ORG USERNAME [flags]",
		Short: "Change a user (only the flags given change)",
		Args:  args("USERNAME"),
	}, func(cmd *cobra.Command) (directory.UserChanges, error) {
		ch, err := c.userChanges(cmd)
		if err == nil && ch == (directory.UserChanges{}) {
			return ch, usagef("nothing to change: give at least one of --name, --email, --picture, --role, --password-stdin, --email-verified")
		}
		return ch, err
	})
	addUserFlags(cmd)
	return cmd
}

func (c *cli) userSetDisabledCmd(disabled bool) *cobra.Command {
	use, short := "enable", "Let a disabled user sign in again"
	if disabled {
		use, short = "disable", "Stop a user from signing in and end their sessions (single logout; existing data stays)"
	}
	return c.userUpdate(&cobra.Command{Use: use + " --org ORG USERNAME", Short: short, Args: args("USERNAME")},
		func(*cobra.Command) (directory.UserChanges, error) {
			return directory.UserChanges{Disabled: &disabled}, nil
		})
}

func (c *cli) userDeleteCmd() *cobra.Command {
	return c.deleteCmd(command("delete --org ORG USERNAME --yes", "Delete a user with their sessions and tokens", args("USERNAME")),
		"user", "userName", func(o orgCall) error { return o.dir().DeleteUser(o.ctx(), cliActor, o.org, o.arg()) })
}

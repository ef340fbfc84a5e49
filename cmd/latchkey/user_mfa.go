package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory"
)

func (c *cli) userMFACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "List or reset a user's second factors (passkeys, one-time codes, recovery codes)",
	}
	cmd.AddCommand(c.userMFAListCmd(), c.userMFAResetCmd())
	return cmd
}

func (c *cli) printUserMFA(cmd *cobra.Command, m *directory.UserMFA) error {
	return c.print(cmd, m, func(w io.Writer) {
		totp := "off"
		if m.TOTP {
			totp = "on"
		}
		required := "no"
		if m.Required {
			required = "yes"
		}
		fields(w,
			"User", m.UserName,
			"Policy", m.Policy,
			"Required for this user", required,
			"One-time codes", totp,
			"Recovery codes left", fmt.Sprint(m.RecoveryCodesLeft),
			"Passkeys", fmt.Sprint(len(m.Passkeys)))
		if len(m.Passkeys) > 0 {
			rows := make([][]string, 0, len(m.Passkeys))
			for _, k := range m.Passkeys {
				last := k.LastUsedAt
				if last == "" {
					last = "never"
				}
				rows = append(rows, []string{k.Name, k.CreatedAt, last, k.AAGUID})
			}
			fmt.Fprintln(w)
			table(w, []string{"PASSKEY", "ADDED", "LAST USED", "AAGUID"}, rows)
		}
	})
}

func (c *cli) userMFAListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ORG USERNAME",
		Short: "Show a user's second factors",
		Args:  args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				m, err := env.Directory.UserMFA(cmd.Context(), org, a[0])
				if err != nil {
					return err
				}
				return c.printUserMFA(cmd, m)
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) userMFAResetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reset --org ORG USERNAME",
		Short: "Remove every second factor of a user and end their sessions (they enrol again where required)",
		Args:  args("USERNAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				m, err := env.Directory.ResetUserMFA(cmd.Context(), cliActor, org, a[0])
				if err != nil {
					return err
				}
				return c.printUserMFA(cmd, m)
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

package main

import (
	"cmp"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/directory"
)

func (c *cli) userMFACmd() *cobra.Command {
	cmd := command("mfa", "List or reset a user's second factors (passkeys, one-time codes, recovery codes)", nil)
	cmd.AddCommand(c.userMFAListCmd(), c.userMFAResetCmd())
	return cmd
}

func (c *cli) printUserMFA(o orgCall, m *directory.UserMFA) error {
	return c.print(o.cmd, m, func(w io.Writer) {
		fields(w,
			"User", m.UserName,
			"Policy", m.Policy,
			"Required for this user", yesNo(m.Required),
			"One-time codes", onOff(m.TOTP),
			"Recovery codes left", fmt.Sprint(m.RecoveryCodesLeft),
			"Passkeys", fmt.Sprint(len(m.Passkeys)))
		if len(m.Passkeys) > 0 {
			fmt.Fprintln(w)
			rows := make([][]string, 0, len(m.Passkeys))
			for _, k := range m.Passkeys {
				rows = append(rows, []string{k.Name, k.CreatedAt, cmp.Or(k.LastUsedAt, "never"), k.AAGUID})
			}
			table(w, []string{"PASSKEY", "ADDED", "LAST USED", "AAGUID"}, rows)
		}
	})
}

func (c *cli) userMFAListCmd() *cobra.Command {
	return orgCmd[*directory.UserMFA]{
		act:  func(o orgCall) (*directory.UserMFA, error) { return o.dir().UserMFA(o.ctx(), o.org, o.arg()) },
		show: c.printUserMFA,
	}.on(c, command("list --org ORG USERNAME", "Show a user's second factors", args("USERNAME")))
}

func (c *cli) userMFAResetCmd() *cobra.Command {
	return orgCmd[*directory.UserMFA]{
		act: func(o orgCall) (*directory.UserMFA, error) {
			return o.dir().ResetUserMFA(o.ctx(), cliActor, o.org, o.arg())
		},
		show: c.printUserMFA,
	}.on(c, command("reset --org ORG USERNAME", "Remove every second factor of a user and end their sessions (they enrol again where required)", args("USERNAME")))
}

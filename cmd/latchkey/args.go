package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/domain"
)

// args accepts exactly the named positional arguments, as a usage error.
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		switch {
		case len(got) < len(names):
			return usagef("%s needs %s", cmd.CommandPath(), strings.Join(names[len(got):], " "))
		case len(got) > len(names):
			return usagef("%s takes %s, got unexpected %q", cmd.CommandPath(), plural(names), got[len(names)])
		}
		return nil
	}
}

func plural(names []string) string {
	if len(names) == 0 {
		return "no arguments"
	}
	return strings.Join(names, " ")
}

// command is a command with its usage line, summary and arguments.
func command(use, short string, a cobra.PositionalArgs) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: a}
}

// runCmd is a command that runs run.
func runCmd(use, short string, a cobra.PositionalArgs, run func(cmd *cobra.Command, a []string) error) *cobra.Command {
	cmd := command(use, short, a)
	cmd.RunE = run
	return cmd
}

// tokenGroup is the group of a kind of bearer token ("admin", "scim"):
// it holds "token", which holds create, list and revoke.
func (c *cli) tokenGroup(use, short, tokenShort string, create, list, revoke *cobra.Command) *cobra.Command {
	cmd := c.group(&cobra.Command{Use: use, Short: short})
	addJSONFlag(cmd)
	token := c.group(&cobra.Command{Use: "token", Short: tokenShort})
	token.AddCommand(create, list, revoke)
	cmd.AddCommand(token)
	return cmd
}

// addOrgFlag gives a command the --org flag.
func addOrgFlag(cmd *cobra.Command) {
	cmd.Flags().String("org", "", "organization id (required)")
}

// orgFlag returns the validated --org value.
func orgFlag(cmd *cobra.Command) (string, error) {
	org, _ := cmd.Flags().GetString("org")
	if org == "" {
		return "", usagef("--org is required")
	}
	if err := domain.ValidateOrgID(org); err != nil {
		fe, _ := domain.AsFieldError(err)
		return "", domain.Invalid("org", "%s", fe.Message)
	}
	return org, nil
}

// orgArg validates an organization id given as an argument.
func orgArg(id string) error { return domain.ValidateOrgID(id) }

// withOrg runs fn for a command about organization org, which must exist
// ("organization "nope" not found" otherwise), with the environment
// opened, and closes it after. Commands check their flags first, so bad
// input is refused before anything is opened.
func (c *cli) withOrg(cmd *cobra.Command, org string, fn func(env *bootstrap.Env) error) error {
	env, err := c.open(cmd)
	if err != nil {
		return err
	}
	defer env.Close()
	if _, err := env.Directory.GetOrg(cmd.Context(), org); err != nil {
		return err
	}
	return fn(env)
}

// addYesFlag gives a destructive command its confirmation switch.
func addYesFlag(cmd *cobra.Command) {
	cmd.Flags().Bool("yes", false, "confirm: this cannot be undone")
}

func confirmed(cmd *cobra.Command, what string) error {
	if yes, _ := cmd.Flags().GetBool("yes"); !yes {
		return usagef("%s cannot be undone; add --yes to confirm", what)
	}
	return nil
}

// secondsFlag reads a lifetime flag with ParseSeconds; nil when not given.
func secondsFlag(cmd *cobra.Command, flag, field string) (*int64, error) {
	if !cmd.Flags().Changed(flag) {
		return nil, nil
	}
	raw, _ := cmd.Flags().GetString(flag)
	n, err := domain.ParseSeconds(raw)
	if err != nil {
		return nil, domain.Invalid(field, "%q %s", raw, err.Error())
	}
	return &n, nil
}

// given returns the flag's value, read with get, when it was given, else
// nil.
func given[T any](cmd *cobra.Command, flag string, get func(string) (T, error)) *T {
	if !cmd.Flags().Changed(flag) {
		return nil
	}
	v, _ := get(flag)
	return &v
}

// stringFlag returns the flag's value when it was given, else nil.
func stringFlag(cmd *cobra.Command, flag string) *string {
	return given(cmd, flag, cmd.Flags().GetString)
}

// listFlag returns a repeatable flag's values when it was given, else nil.
// Empty values are dropped, so --flag "" clears a list.
func listFlag(cmd *cobra.Command, flag string) *[]string {
	if !cmd.Flags().Changed(flag) {
		return nil
	}
	raw, _ := cmd.Flags().GetStringArray(flag)
	out := []string{}
	for _, v := range raw {
		if v != "" {
			out = append(out, v)
		}
	}
	return &out
}

// readLine reads a secret from the first line of r, without its line
// ending: field is what a *domain.FieldError names, what how messages
// say it ("password", "client secret").
func readLine(r io.Reader, field, what string) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", domain.Invalid(field, "stdin gave an empty %s", what)
	}
	return line, nil
}

// stdinFlag reads a secret from standard input when the switch flag
// (--password-stdin, --client-secret-stdin) was given, else returns nil.
func (c *cli) stdinFlag(cmd *cobra.Command, flag, field, what string) (*string, error) {
	if use, _ := cmd.Flags().GetBool(flag); !use {
		return nil, nil
	}
	if c.stdin == nil {
		return nil, domain.Invalid(field, "--%s needs standard input", flag)
	}
	v, err := readLine(c.stdin, field, what)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// boolFlag returns the switch's value when it was given, else nil.
func boolFlag(cmd *cobra.Command, flag string) *bool {
	return given(cmd, flag, cmd.Flags().GetBool)
}

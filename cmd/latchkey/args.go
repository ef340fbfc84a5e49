package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
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

// requireOrg fails clearly when the organization does not exist.
func requireOrg(ctx context.Context, env *bootstrap.Env, id string) (*domain.Organization, error) {
	o, err := env.Store.GetOrg(ctx, id)
	if err != nil {
		return nil, notFound(err, "organization %q", id)
	}
	return o, nil
}

// openOrg opens the environment for a command about organization id,
// which must exist. The caller closes the environment.
func (c *cli) openOrg(cmd *cobra.Command, id string) (*bootstrap.Env, error) {
	env, err := c.open(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := requireOrg(cmd.Context(), env, id); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
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

// stringFlag returns the flag's value when it was given, else nil.
func stringFlag(cmd *cobra.Command, flag string) *string {
	if !cmd.Flags().Changed(flag) {
		return nil
	}
	v, _ := cmd.Flags().GetString(flag)
	return &v
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

// readPassword reads one line from stdin, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", domain.Invalid("password", "stdin gave an empty password")
	}
	return line, nil
}

// isNotFound reports whether err means a missing row.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

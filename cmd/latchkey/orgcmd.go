package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/directory"
)

// orgCall is one run of a command about an organization: the command, the
// open environment, the organization (known to exist) and the arguments.
type orgCall struct {
	cmd  *cobra.Command
	env  *bootstrap.Env
	org  string
	args []string
}

func (o orgCall) ctx() context.Context      { return o.cmd.Context() }
func (o orgCall) dir() *directory.Directory { return o.env.Directory }

// arg is the command's only argument (USERNAME, CLIENT_ID, ID).
func (o orgCall) arg() string { return o.args[0] }

// orgCmd is what a command about one organization does. The organization
// is the one --org names (the flag is added), or with fromArg the first
// argument. The organization, then --yes, then check are looked at before
// anything is opened, so bad input is refused first.
type orgCmd[T any] struct {
	fromArg bool
	// confirm makes the command refuse without --yes (the flag is added):
	// it is what cannot be undone, a format given the target (the first
	// argument, else the organization) for its %q.
	confirm string
	// check reads and checks the other flags; nil when there are none.
	// What it reads it keeps in variables of the command's constructor,
	// for act (the command tree is built for each run).
	check func(cmd *cobra.Command, a []string) error
	// act does the work with the environment open; show prints what it
	// returned.
	act  func(o orgCall) (T, error)
	show func(o orgCall, v T) error
}

// on makes cmd run oc.
func (oc orgCmd[T]) on(c *cli, cmd *cobra.Command) *cobra.Command {
	if !oc.fromArg {
		addOrgFlag(cmd)
	}
	if oc.confirm != "" {
		addYesFlag(cmd)
	}
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		org, target, err := oc.orgOf(cmd, a)
		if err != nil {
			return err
		}
		if oc.confirm != "" {
			if err := confirmed(cmd, fmt.Sprintf(oc.confirm, target)); err != nil {
				return err
			}
		}
		if oc.check != nil {
			if err := oc.check(cmd, a); err != nil {
				return err
			}
		}
		return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
			o := orgCall{cmd: cmd, env: env, org: org, args: a}
			v, err := oc.act(o)
			if err != nil {
				return err
			}
			return oc.show(o, v)
		})
	}
	return cmd
}

// orgOf returns the checked organization and what the command is about:
// its first argument, or the organization when it takes none.
func (oc orgCmd[T]) orgOf(cmd *cobra.Command, a []string) (org, target string, err error) {
	if oc.fromArg {
		return a[0], a[0], orgArg(a[0])
	}
	if org, err = orgFlag(cmd); err != nil || len(a) == 0 {
		return org, org, err
	}
	return org, a[0], nil
}

// withEnv runs fn with the environment opened, and closes it after.
func (c *cli) withEnv(cmd *cobra.Command, fn func(env *bootstrap.Env) error) error {
	env, err := c.open(cmd)
	if err != nil {
		return err
	}
	defer env.Close()
	return fn(env)
}

// done is what a command that removes something prints: the object with
// --json, else the sentence.
type done struct {
	json map[string]any
	text string
}

func (c *cli) printDone(cmd *cobra.Command, d done) error {
	return c.print(cmd, d.json, func(w io.Writer) { fmt.Fprint(w, d.text) })
}

func (c *cli) showDone(o orgCall, d done) error { return c.printDone(o.cmd, d) }

// deleteCmd deletes, with del and after --yes, the noun ("application")
// of the organization that its argument names (key is the argument's
// member in the JSON printed).
func (c *cli) deleteCmd(cmd *cobra.Command, noun, key string, del func(o orgCall) error) *cobra.Command {
	return orgCmd[done]{
		confirm: "deleting " + noun + " %q",
		act: func(o orgCall) (done, error) {
			return done{map[string]any{key: o.arg(), "deleted": true}, fmt.Sprintf("Deleted %s %s from %s.\n", noun, o.arg(), o.org)}, del(o)
		},
		show: c.showDone,
	}.on(c, cmd)
}

// printList prints items as a JSON array with --json, else as a table of
// the header's columns, a row an item.
func printList[T any](c *cli, cmd *cobra.Command, items []T, header []string, row func(T) []string) error {
	return c.print(cmd, items, func(w io.Writer) {
		rows := make([][]string, 0, len(items))
		for _, it := range items {
			rows = append(rows, row(it))
		}
		table(w, header, rows)
	})
}

// each shows every item of in with show; never nil, so JSON says [].
func each[S, T any](in []S, show func(S) T) []T {
	out := make([]T, 0, len(in))
	for _, v := range in {
		out = append(out, show(v))
	}
	return out
}

// printOnce prints a secret made just now, which is not shown again: with
// --json the object out, else the secret alone on stdout (so
// VAR=$(latchkey …) works) and the note, if any, on stderr.
func (c *cli) printOnce(cmd *cobra.Command, out any, secret, note string) error {
	return c.print(cmd, out, func(w io.Writer) {
		fmt.Fprintln(w, secret)
		fmt.Fprint(c.stderr, note)
	})
}

// expiryOf says when a token stops working, given its expiresAt.
func expiryOf(expiresAt *string) string {
	if expiresAt == nil {
		return "never expires"
	}
	return "expires " + *expiresAt
}

// Command latchkey is the Latchkey single sign-on server and its management
// CLI. Commands are thin: they parse flags and call into internal/….
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/domain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli carries what every command needs: its streams and the root flags.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	root           *cobra.Command
	getenv         func(string) string
}

// usageError marks bad arguments: exit code 2, nothing written.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes one command line and returns the process exit code: 0 on
// success, 2 for bad arguments or invalid input, 1 for anything else.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	c.root = &cobra.Command{
		Use:           "latchkey",
		Short:         "Latchkey: a self-hosted OpenID Provider with single sign-on and single logout per organization",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.root.SetArgs(args)
	c.root.SetIn(stdin)
	c.root.SetOut(stdout)
	c.root.SetErr(stderr)
	c.root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	config.RegisterFlags(c.root.PersistentFlags())
	c.group(c.root)
	c.addCommands()

	err := c.root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if fe, ok := domain.AsFieldError(err); ok {
		fmt.Fprintln(stderr, "latchkey:", describeFieldError(fe))
		return 2
	}
	fmt.Fprintln(stderr, "latchkey:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// group makes cmd a command that only holds subcommands: run bare or with
// an unknown subcommand it prints its usage and fails as a usage error
// (cobra would print help and succeed).
func (c *cli) group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			cmd.SetOut(c.stderr)
			_ = cmd.Usage()
			return usagef("%s needs a subcommand", cmd.CommandPath())
		}
		return usagef("unknown command %q for %q; run %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return cmd
}

// config loads the process configuration for cmd.
func (c *cli) config(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(cmd.Flags(), c.getenv)
	if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// open loads the configuration and opens the environment, migrating the
// database so management commands work on a fresh one.
func (c *cli) open(cmd *cobra.Command) (*bootstrap.Env, error) {
	cfg, err := c.config(cmd)
	if err != nil {
		return nil, err
	}
	return bootstrap.Open(cmd.Context(), cfg, c.logger(cfg), true)
}

// logger writes the process log to the command's stderr.
func (c *cli) logger(cfg config.Config) *slog.Logger {
	if f, ok := c.stderr.(*os.File); ok {
		return bootstrap.NewLogger(cfg, f)
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

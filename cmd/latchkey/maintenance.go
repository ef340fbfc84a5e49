package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/secret"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func (c *cli) migrateCmd() *cobra.Command {
	return runCmd("migrate", "Apply pending database migrations (serve and every command also do this; safe to run from several nodes at once)", args(), func(cmd *cobra.Command, _ []string) error {
		cfg, err := c.config(cmd)
		if err != nil {
			return err
		}
		st, err := bootstrap.OpenStore(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Migrate(cmd.Context()); err != nil {
			return fmt.Errorf("migrate %s: %w", cfg.Redacted(), err)
		}
		fmt.Fprintf(c.stdout, "Database %s is up to date.\n", cfg.Redacted())
		// The operator organization needs the master key (its signing
		// keys are sealed); without one, serve creates it.
		if cfg.DatabaseKind() == "postgres" && !cfg.MasterKeyExplicit {
			return nil
		}
		env, err := bootstrap.Open(cmd.Context(), cfg, bootstrap.NewLogger(cfg, os.Stderr), false)
		if err != nil {
			return err
		}
		defer env.Close()
		link, err := bootstrap.EnsureBuiltins(cmd.Context(), env)
		if err != nil {
			return err
		}
		if link != "" {
			fmt.Fprintf(c.stdout, "Set up the first operator of the admin portal (one-time link, valid 1 hour):\n  %s\n", link)
		}
		return nil
	})
}

type versionJSON struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
}

func buildVersion() versionJSON {
	v := versionJSON{Version: version, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (c *cli) versionCmd() *cobra.Command {
	cmd := runCmd("version", "Print the version, Go version and source revision", args(), func(cmd *cobra.Command, _ []string) error {
		v := buildVersion()
		return c.print(cmd, v, func(w io.Writer) {
			fmt.Fprintf(w, "latchkey %s (%s", v.Version, v.Go)
			if v.Revision != "" {
				fmt.Fprintf(w, ", revision %s", v.Revision)
				if v.Modified {
					fmt.Fprint(w, "-dirty")
				}
			}
			fmt.Fprintln(w, ")")
		})
	})
	addJSONFlag(cmd)
	return cmd
}

func (c *cli) masterKeyCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "master-key", Short: "Manage the master key that encrypts private keys and secrets at rest"})
	cmd.AddCommand(&cobra.Command{
		Use:   "generate FILE",
		Short: "Write a new random master key to FILE (mode 0600); never overwrites",
		Example: `  latchkey master-key generate /etc/latchkey/master.key
  latchkey serve --database postgres://… --master-key-file /etc/latchkey/master.key`,
		Args: args("FILE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if _, err := secret.CreateMasterKeyFile(a[0]); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return usagef("%s already exists; refusing to overwrite a master key (data sealed under it would be lost)", a[0])
				}
				return err
			}
			fmt.Fprintf(c.stdout, "Wrote a new master key to %s (mode 0600).\n", a[0])
			fmt.Fprintln(c.stdout, "Back it up and give the same file to every node: without it, signing keys and API keys cannot be read.")
			return nil
		},
	})
	return cmd
}

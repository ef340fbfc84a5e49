package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server"
)

func (c *cli) demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run Latchkey with a demo organization and two demo applications (fresh SQLite database, no setup)",
		Long: `demo starts Latchkey on a fresh SQLite database in a temporary directory
(removed on exit), creates the organization "demo" with an admin and a user,
and two demo applications served by the same process, then prints what to
open. --addr and --public-url apply (--addr 127.0.0.1:0 takes a free port and
prints it); --database and --data-dir are ignored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd)
			if err != nil {
				return err
			}
			// Bind first: a taken port fails here, before the welcome is
			// printed. With --addr HOST:0 the port is the one given.
			ln, err := listen(cfg.Addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			if cfg.PublicURL == "http://"+cfg.Addr {
				cfg.Addr = ln.Addr().String()
				cfg.PublicURL = "http://" + cfg.Addr
			}
			dir, err := os.MkdirTemp("", "latchkey-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg.DataDir, cfg.Database = dir, "sqlite:"+filepath.Join(dir, "latchkey.db")
			cfg.MasterKeyFile, cfg.MasterKeyExplicit = filepath.Join(dir, "master.key"), false
			cfg.OutboundAllowLoopback = true
			// A throwaway key for a throwaway database: nothing to back up.
			if _, err := secret.CreateMasterKeyFile(cfg.MasterKeyFile); err != nil {
				return err
			}
			env, err := openServing(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer env.Close()
			setup, err := demo.Provision(cmd.Context(), env.Directory, cfg.PublicURL, env.Logger)
			if err != nil {
				return err
			}
			setupLink, err := bootstrap.EnsureBuiltins(cmd.Context(), env)
			if err != nil {
				return err
			}
			platform, err := demo.NewPlatform(cmd.Context(), env.Directory, setup, cfg.PublicURL, env.Logger)
			if err != nil {
				return err
			}
			srv, err := server.New(env, server.WithHandler("/demo/", setup.Handler()), server.WithHandler(platform.Path+"/", platform.Handler()))
			if err != nil {
				return err
			}
			w := c.stdout
			fmt.Fprintf(w, "\nLatchkey demo is running at %s\n\n", cfg.PublicURL)
			fmt.Fprintf(w, "  Demo applications:   %s/demo/\n", cfg.PublicURL)
			for _, a := range setup.Apps {
				fmt.Fprintf(w, "    %-19s %s/\n", a.Name+":", a.BaseURL)
			}
			fmt.Fprintf(w, "  Community platform:  %s/ (%s / %s: sign in there, land in Latchkey)\n", platform.BaseURL, demo.PlatformUsers[0].UserName, demo.PlatformUsers[0].Password)
			fmt.Fprintf(w, "  Organization:        %s (issuer %s)\n", demo.OrgID, setup.Issuer)
			fmt.Fprintf(w, "  Discovery:           %s/.well-known/openid-configuration\n", setup.Issuer)
			fmt.Fprintf(w, "  User:                %s / %s\n", demo.User, demo.UserPassword)
			fmt.Fprintf(w, "  Admin:               %s / %s\n", demo.AdminUser, demo.AdminPassword)
			fmt.Fprintf(w, "  Organization API key: %s\n", setup.APIKey)
			fmt.Fprintf(w, "  Admin portal:        %s/ (sign in as %s / %s)\n", env.Directory.PortalURL(demo.OrgID), demo.AdminUser, demo.AdminPassword)
			if setupLink != "" {
				fmt.Fprintf(w, "  Operators:           %s/admin/ (first set up an operator: %s)\n", cfg.PublicURL, setupLink)
			}
			fmt.Fprintf(w, "  Data (removed on exit): %s\n\n", dir)
			fmt.Fprintf(w, "Sign in to one application, open the other: no password is asked. Press Ctrl+C to stop.\n\n")
			return serve(cmd.Context(), env, ln, srv, "")
		},
	}
}

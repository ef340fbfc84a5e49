package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/sdnotify"
	"github.com/latchkey/latchkey/internal/server"
)

func (c *cli) serveCmd() *cobra.Command {
	return runCmd("serve", "Run the server (migrates the database first)", cobra.NoArgs, func(cmd *cobra.Command, _ []string) error {
		cfg, err := c.config(cmd)
		if err != nil {
			return err
		}
		env, err := openServing(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer env.Close()
		if _, err := bootstrap.EnsureBuiltins(cmd.Context(), env); err != nil {
			return err
		}
		srv, err := server.New(env)
		if err != nil {
			return err
		}
		ln, err := listen(cfg.Addr)
		if err != nil {
			return err
		}
		return serve(cmd.Context(), env, ln, srv, c.getenv("NOTIFY_SOCKET"))
	})
}

// Shutdown bounds: in-flight requests get drainRequests after the listener
// closes, then back-channel sends in flight get drainSends before they are
// cut short and handed to the other nodes.
const (
	drainRequests = 15 * time.Second
	drainSends    = 5 * time.Second
)

// openServing opens the environment a server runs in: logging to stderr,
// the database migrated.
func openServing(ctx context.Context, cfg config.Config) (*bootstrap.Env, error) {
	return bootstrap.Open(ctx, cfg, bootstrap.NewLogger(cfg, os.Stderr), true)
}

// listen binds addr, saying what to do when the address is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: the address is already in use; stop what uses it or choose another with --addr (--addr 127.0.0.1:0 takes a free port)", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// serve starts srv's background work and serves it on ln until ctx ends (SIGTERM or SIGINT): then it stops
// accepting connections, lets the requests in flight finish (bounded),
// drains the back-channel sends and returns nil so the process exits 0.
// Under systemd (notifySocket set, Type=notify) it reports readiness once
// serving, after the database has been migrated, and stopping when it
// drains.
func serve(ctx context.Context, env *bootstrap.Env, ln net.Listener, srv *server.Server, notifySocket string) error {
	if env.Config.DebugAddr != "" {
		dln, err := net.Listen("tcp", env.Config.DebugAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("debug-addr: %w", err)
		}
		go server.ServeDebug(ctx, dln, env.Logger)
	}
	srv.Start(ctx)
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	env.Logger.Info("latchkey listening", "addr", ln.Addr().String(), "public_url", env.Config.PublicURL, "database", env.Config.DatabaseKind())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	notify(env, notifySocket, "READY=1\nSTATUS=listening on "+ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	env.Logger.Info("shutting down: draining requests", "grace", drainRequests)
	notify(env, notifySocket, "STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), drainRequests)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		env.Logger.Warn("requests still running after the grace period were cut off", "err", err)
		_ = hs.Close()
	}
	dctx, dcancel := context.WithTimeout(context.Background(), drainSends)
	defer dcancel()
	srv.Drain(dctx)
	env.Logger.Info("stopped")
	return nil
}

// notify tells systemd about the server's state; a failure is logged, not
// fatal, since serving matters more than the report.
func notify(env *bootstrap.Env, socket, state string) {
	if _, err := sdnotify.Notify(socket, state); err != nil {
		env.Logger.Warn("systemd notification failed", "err", err)
	}
}

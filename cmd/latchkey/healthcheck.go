package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd probes a running server's /readyz, so a container image
// needs neither a shell nor curl for its health check.
func (c *cli) healthcheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a running server's /readyz answers 200 (for container and service health checks)",
		Example: `  latchkey healthcheck                                   # http://ADDR/readyz, ADDR from --addr / LATCHKEY_ADDR
  latchkey healthcheck --url http://127.0.0.1:8080/readyz`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, _ := cmd.Flags().GetString("url")
			timeout, _ := cmd.Flags().GetDuration("timeout")
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			if target == "" {
				cfg, err := c.config(cmd)
				if err != nil {
					return err
				}
				target = readyzURL(cfg.Addr)
			}
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("--url: %q must be an absolute http(s) URL", target)
			}
			if err := probe(cmd.Context(), u.String(), timeout); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s: ready\n", u.Redacted())
			return nil
		},
	}
	cmd.Flags().String("url", "", "URL to probe (default http://ADDR/readyz, a wildcard ADDR host probed on loopback)")
	cmd.Flags().Duration("timeout", 5*time.Second, "give up after this long")
	return cmd
}

// readyzURL is the readiness URL of a server listening on addr. A wildcard
// or empty host (0.0.0.0, ::) is reached on loopback.
func readyzURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/readyz"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}

// probe succeeds when a GET of target answers 200. Redirects are not
// followed: a redirect is not readiness.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return fmt.Errorf("not ready: %s answered %d: %s", req.URL.Redacted(), resp.StatusCode, msg)
	}
	return nil
}

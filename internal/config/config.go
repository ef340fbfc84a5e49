// Package config loads Latchkey's process configuration once at start:
// command-line flags win over LATCHKEY_* environment variables, which win
// over an optional YAML config file, which wins over the defaults. Unknown
// file keys are errors, and every error names the setting.
//
// It knows nothing of organizations: per-organization settings live in the
// database.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is the validated process configuration.
type Config struct {
	Addr                  string
	PublicURL             string
	Database              string
	DataDir               string
	MasterKeyFile         string
	LogLevel              slog.Level
	LogFormat             string // text or json; "" = text on a terminal, else json
	OutboundAllowLoopback bool
	// OutboundDenyPrivate also refuses private (RFC 1918, ULA) targets.
	OutboundDenyPrivate bool
	// OutboundAllow are ranges outbound calls may reach whatever the rules.
	OutboundAllow []netip.Prefix
	// DatabaseTimeout bounds every database statement and transaction.
	DatabaseTimeout time.Duration
	// Back-channel logout delivery: the lease on a claimed notification,
	// concurrent sends per node, and per organization per node.
	BackchannelLease   time.Duration
	BackchannelSenders int
	BackchannelPerOrg  int
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MasterKeyExplicit is true when master-key-file was set by the operator.
	MasterKeyExplicit bool
	// DebugAddr is the loopback host:port serving net/http/pprof and
	// expvar; "" (the default) serves neither.
	DebugAddr string
}

// DatabaseKind returns "sqlite" or "postgres".
func (c Config) DatabaseKind() string {
	if strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// SQLitePath is the file of a sqlite: database URL.
func (c Config) SQLitePath() string { return strings.TrimPrefix(c.Database, "sqlite:") }

type setting struct {
	name, def, usage string
	isBool           bool
}

// settings lists every setting once: flag name, env name (LATCHKEY_ + upper
// snake case) and file key (snake case) derive from name.
var settings = []setting{
	{name: "config", usage: "YAML config file (keys as the flag names with '_' for '-')"},
	{name: "addr", def: "127.0.0.1:8080", usage: "listen address"},
	{name: "public-url", usage: "externally visible base URL (default http://ADDR)"},
	{name: "database", usage: "sqlite:PATH or postgres://… (default sqlite:DATA_DIR/latchkey.db)"},
	{name: "data-dir", def: "./latchkey-data", usage: "directory for the SQLite file and the generated master key"},
	{name: "master-key-file", usage: "file holding the 32-byte master key (default DATA_DIR/master.key, generated on first start with SQLite)"},
	{name: "log-level", def: "info", usage: "debug, info, warn or error"},
	{name: "log-format", usage: "text or json (default text on a terminal, json otherwise)"},
	{name: "trusted-proxies", usage: "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client address (for rate limits and audit)"},
	{name: "database-timeout", def: "5s", usage: "longest a database statement or transaction may take before the request answers 503 (e.g. 5s); bounds waiting on a failed or frozen database"},
	{name: "backchannel-lease", def: "30s", usage: "how long a node holds a back-channel logout notification it is sending; each send ends within half of it"},
	{name: "backchannel-senders", def: "16", usage: "concurrent back-channel logout sends per node"},
	{name: "backchannel-per-org", def: "4", usage: "concurrent back-channel logout sends per organization per node"},
	{name: "debug-addr", usage: "loopback host:port serving /debug/pprof/ and /debug/vars for profiling (default off), e.g. 127.0.0.1:6060"},
	{name: "outbound-allow-loopback", def: "false", usage: "allow outbound calls (back-channel logout, upstream IdP) to loopback addresses; for development", isBool: true},
	{name: "outbound-deny-private", def: "false", usage: "also refuse outbound calls to private addresses (RFC 1918, RFC 6598, IPv6 unique local); for shared multi-tenant deployments", isBool: true},
	{name: "outbound-allow", usage: "comma-separated CIDRs outbound calls may always reach (exceptions to every outbound address rule)"},
}

func envName(name string) string {
	return "LATCHKEY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func fileKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// RegisterFlags adds the configuration flags to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range settings {
		usage := s.usage + " (env " + envName(s.name) + ")"
		if s.isBool {
			fs.Bool(s.name, s.def == "true", usage)
		} else {
			fs.String(s.name, s.def, usage)
		}
	}
}

// Load resolves the configuration from fs (already parsed), the environment
// (getenv) and the config file.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	raw := map[string]string{}
	explicit := map[string]bool{}
	for _, s := range settings {
		raw[s.name] = s.def
		if v := getenv(envName(s.name)); v != "" {
			raw[s.name], explicit[s.name] = v, true
		}
		if f := fs.Lookup(s.name); f != nil && f.Changed {
			raw[s.name], explicit[s.name] = f.Value.String(), true
		}
	}
	if path := raw["config"]; path != "" {
		file, err := readFile(path)
		if err != nil {
			return Config{}, err
		}
		for _, s := range settings {
			if v, ok := file[fileKey(s.name)]; ok && !explicit[s.name] {
				raw[s.name], explicit[s.name] = v, true
			}
		}
	}
	return build(raw, explicit)
}

func readFile(path string) (map[string]string, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[fileKey(s.name)] = true
	}
	out := map[string]string{}
	for k, v := range doc {
		if !known[k] || k == "config" {
			return nil, fmt.Errorf("config %s: unknown setting %q", path, k)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		case int:
			out[k] = strconv.Itoa(v)
		default:
			return nil, fmt.Errorf("config %s: setting %q must be a string", path, k)
		}
	}
	return out, nil
}

func build(raw map[string]string, explicit map[string]bool) (Config, error) {
	c := Config{
		Addr:          raw["addr"],
		PublicURL:     strings.TrimRight(raw["public-url"], "/"),
		Database:      raw["database"],
		DataDir:       raw["data-dir"],
		MasterKeyFile: raw["master-key-file"],
		LogFormat:     raw["log-format"],
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, fmt.Errorf("addr: %q is not host:port: %v", c.Addr, err)
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return c, fmt.Errorf("public-url: %q must be an absolute http(s) URL without query or fragment", c.PublicURL)
	}
	if c.DataDir == "" {
		return c, errors.New("data-dir: must not be empty")
	}
	if c.Database == "" {
		// Joined by hand, not filepath.Join, so that ./data stays ./data in messages.
		c.Database = "sqlite:" + strings.TrimRight(c.DataDir, string(filepath.Separator)) + string(filepath.Separator) + "latchkey.db"
	}
	switch {
	case strings.HasPrefix(c.Database, "sqlite:"):
		if strings.TrimPrefix(c.Database, "sqlite:") == "" {
			return c, errors.New("database: sqlite: needs a file path, e.g. sqlite:./latchkey-data/latchkey.db")
		}
	case strings.HasPrefix(c.Database, "postgres://"), strings.HasPrefix(c.Database, "postgresql://"):
	default:
		return c, fmt.Errorf("database: must start with sqlite: or postgres:// (got %q)", redact(c.Database))
	}
	c.MasterKeyExplicit = explicit["master-key-file"] && c.MasterKeyFile != ""
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if err := c.LogLevel.UnmarshalText([]byte(raw["log-level"])); err != nil {
		return c, fmt.Errorf("log-level: must be debug, info, warn or error (got %q)", raw["log-level"])
	}
	if c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("log-format: must be text or json (got %q)", c.LogFormat)
	}
	if c.TrustedProxies, err = prefixes("trusted-proxies", raw["trusted-proxies"]); err != nil {
		return c, err
	}
	if c.DatabaseTimeout, err = time.ParseDuration(raw["database-timeout"]); err != nil || c.DatabaseTimeout < 100*time.Millisecond || c.DatabaseTimeout > 10*time.Minute {
		return c, fmt.Errorf("database-timeout: must be a duration from 100ms to 10m, e.g. 5s (got %q)", raw["database-timeout"])
	}
	if c.BackchannelLease, err = time.ParseDuration(raw["backchannel-lease"]); err != nil || c.BackchannelLease < time.Second || c.BackchannelLease > time.Hour {
		return c, fmt.Errorf("backchannel-lease: must be a duration from 1s to 1h, e.g. 30s (got %q)", raw["backchannel-lease"])
	}
	if c.BackchannelSenders, err = strconv.Atoi(raw["backchannel-senders"]); err != nil || c.BackchannelSenders < 1 || c.BackchannelSenders > 1024 {
		return c, fmt.Errorf("backchannel-senders: must be a whole number from 1 to 1024 (got %q)", raw["backchannel-senders"])
	}
	if c.BackchannelPerOrg, err = strconv.Atoi(raw["backchannel-per-org"]); err != nil || c.BackchannelPerOrg < 1 || c.BackchannelPerOrg > 1024 {
		return c, fmt.Errorf("backchannel-per-org: must be a whole number from 1 to 1024 (got %q)", raw["backchannel-per-org"])
	}
	if c.OutboundAllowLoopback, err = strconv.ParseBool(raw["outbound-allow-loopback"]); err != nil {
		return c, fmt.Errorf("outbound-allow-loopback: must be true or false (got %q)", raw["outbound-allow-loopback"])
	}
	if c.OutboundDenyPrivate, err = strconv.ParseBool(raw["outbound-deny-private"]); err != nil {
		return c, fmt.Errorf("outbound-deny-private: must be true or false (got %q)", raw["outbound-deny-private"])
	}
	if c.OutboundAllow, err = prefixes("outbound-allow", raw["outbound-allow"]); err != nil {
		return c, err
	}
	if c.DebugAddr = strings.TrimSpace(raw["debug-addr"]); c.DebugAddr != "" {
		if err := loopbackOnly(c.DebugAddr); err != nil {
			return c, fmt.Errorf("debug-addr: %w", err)
		}
	}
	return c, nil
}

// loopbackOnly accepts host:port only when host is a loopback address or
// "localhost": profiles and runtime variables reveal memory contents and
// cost CPU, so they are never reachable from another machine.
func loopbackOnly(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", hostport, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", hostport)
	}
	if host == "localhost" {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("%q must be a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT); profiles are never served to other machines", hostport)
	}
	return nil
}

// prefixes parses a comma-separated list of CIDRs (a bare address is a
// one-address range).
func prefixes(setting, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(v)
		if err != nil {
			addr, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR or IP address", setting, v)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}

// redact hides a password in a database URL for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Redacted returns the database URL with any password hidden.
func (c Config) Redacted() string { return redact(c.Database) }

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs, func(k string) string { return env[k] })
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "latchkey.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_FlagsBeatEnvironmentBeatFileBeatDefaults(t *testing.T) {
	file := writeFile(t, "addr: 127.0.0.1:7000\nlog_level: warn\ndata_dir: /from/file\n")
	cfg, err := load(t, []string{"--config", file, "--addr", "127.0.0.1:9000"},
		map[string]string{"LATCHKEY_ADDR": "127.0.0.1:8000", "LATCHKEY_LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" {
		t.Errorf("addr = %s, want the flag's", cfg.Addr)
	}
	if cfg.LogLevel.String() != "DEBUG" {
		t.Errorf("log level = %s, want the environment's", cfg.LogLevel)
	}
	if cfg.DataDir != "/from/file" || cfg.MasterKeyFile != "/from/file/master.key" {
		t.Errorf("data dir = %s, master key = %s, want the file's", cfg.DataDir, cfg.MasterKeyFile)
	}
	if cfg.PublicURL != "http://127.0.0.1:9000" || cfg.Database != "sqlite:/from/file/latchkey.db" || cfg.MasterKeyExplicit {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestLoad_DataDirMovesTheDefaultDatabase(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "sqlite:./latchkey-data/latchkey.db"},
		{[]string{"--data-dir", "/var/lib/latchkey"}, nil, "sqlite:/var/lib/latchkey/latchkey.db"},
		{[]string{"--data-dir", "/var/lib/latchkey/"}, nil, "sqlite:/var/lib/latchkey/latchkey.db"},
		{nil, map[string]string{"LATCHKEY_DATA_DIR": "/srv/lk"}, "sqlite:/srv/lk/latchkey.db"},
		{[]string{"--data-dir", "/var/lib/latchkey", "--database", "sqlite:/elsewhere/lk.db"}, nil, "sqlite:/elsewhere/lk.db"},
	} {
		cfg, err := load(t, tc.args, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Database != tc.want {
			t.Errorf("%v %v: database = %s, want %s", tc.args, tc.env, cfg.Database, tc.want)
		}
	}
}

func TestLoad_ErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		{args: []string{"--addr", "nonsense"}, want: "addr:"},
		{args: []string{"--public-url", "ftp://x"}, want: "public-url:"},
		{args: []string{"--database", "mysql://x"}, want: "database:"},
		{args: []string{"--database", "sqlite:"}, want: "database:"},
		{env: map[string]string{"LATCHKEY_LOG_LEVEL": "loud"}, want: "log-level:"},
		{args: []string{"--log-format", "xml"}, want: "log-format:"},
		{env: map[string]string{"LATCHKEY_OUTBOUND_ALLOW_LOOPBACK": "perhaps"}, want: "outbound-allow-loopback:"},
		{args: []string{"--debug-addr", ":6060"}, want: "debug-addr:"},
		{args: []string{"--debug-addr", "0.0.0.0:6060"}, want: "debug-addr:"},
		{args: []string{"--debug-addr", "192.0.2.1:6060"}, want: "debug-addr:"},
		{env: map[string]string{"LATCHKEY_DEBUG_ADDR": "example.com:6060"}, want: "debug-addr:"},
		{args: []string{"--debug-addr", "127.0.0.1"}, want: "debug-addr:"},
		{args: []string{"--debug-addr", "127.0.0.1:http"}, want: "debug-addr:"},
		{file: "adr: 127.0.0.1:1\n", want: `unknown setting "adr"`},
		{file: "addr: [1, 2]\n", want: `setting "addr" must be a string`},
	} {
		args := tc.args
		if tc.file != "" {
			args = append(args, "--config", writeFile(t, tc.file))
		}
		_, err := load(t, args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v %q: err = %v, want it to contain %q", tc.args, tc.env, tc.file, err, tc.want)
		}
	}
}

func TestLoad_PostgresAndExplicitMasterKey(t *testing.T) {
	cfg, err := load(t, []string{"--database", "postgres://u:pw@db/latchkey", "--master-key-file", "/etc/latchkey/master.key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseKind() != "postgres" || !cfg.MasterKeyExplicit || strings.Contains(cfg.Redacted(), "pw") {
		t.Fatalf("%+v redacted=%s", cfg, cfg.Redacted())
	}
}

func TestLoad_TrustedProxies(t *testing.T) {
	cfg, err := load(t, []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1].String() != "192.0.2.1/32" {
		t.Fatalf("trusted proxies = %v", cfg.TrustedProxies)
	}
	if _, err := load(t, []string{"--trusted-proxies", "10.0.0.0/33"}, nil); err == nil || !strings.Contains(err.Error(), "trusted-proxies:") {
		t.Fatalf("bad CIDR: %v", err)
	}
}

func TestLoad_DebugAddrOffByDefaultAndLoopbackOnly(t *testing.T) {
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DebugAddr != "" {
		t.Fatalf("debug-addr defaults to %q, want off", cfg.DebugAddr)
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:0", "127.0.0.2:7070"} {
		cfg, err := load(t, []string{"--debug-addr", addr}, nil)
		if err != nil || cfg.DebugAddr != addr {
			t.Errorf("--debug-addr %s: %q, %v", addr, cfg.DebugAddr, err)
		}
	}
}

func TestLoad_OutboundDenyPrivateAndAllow(t *testing.T) {
	cfg, err := load(t, nil, map[string]string{"LATCHKEY_OUTBOUND_DENY_PRIVATE": "true", "LATCHKEY_OUTBOUND_ALLOW": "10.9.0.0/16, fd00:1::/32,192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.OutboundDenyPrivate || len(cfg.OutboundAllow) != 3 || cfg.OutboundAllow[2].String() != "192.0.2.7/32" {
		t.Fatalf("deny private %v, allow %v", cfg.OutboundDenyPrivate, cfg.OutboundAllow)
	}
	cfg, err = load(t, []string{"--outbound-deny-private=false", "--outbound-allow", "10.1.0.0/16"}, map[string]string{"LATCHKEY_OUTBOUND_DENY_PRIVATE": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OutboundDenyPrivate || len(cfg.OutboundAllow) != 1 {
		t.Fatalf("flags did not win: deny private %v, allow %v", cfg.OutboundDenyPrivate, cfg.OutboundAllow)
	}
	if _, err := load(t, []string{"--outbound-allow", "10.0.0.0/99"}, nil); err == nil || !strings.Contains(err.Error(), "outbound-allow:") {
		t.Fatalf("bad CIDR: %v", err)
	}
	if _, err := load(t, nil, map[string]string{"LATCHKEY_OUTBOUND_DENY_PRIVATE": "maybe"}); err == nil || !strings.Contains(err.Error(), "outbound-deny-private:") {
		t.Fatalf("bad bool: %v", err)
	}
	cfg, err = load(t, []string{"--config", writeFile(t, "outbound_deny_private: true\noutbound_allow: 10.2.0.0/16\n")}, nil)
	if err != nil || !cfg.OutboundDenyPrivate || len(cfg.OutboundAllow) != 1 {
		t.Fatalf("file: %v %+v", err, cfg)
	}
}

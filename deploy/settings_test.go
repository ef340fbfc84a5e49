package deploy

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/internal/config"
)

// knownSettings is every LATCHKEY_* variable the server reads.
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	fs := pflag.NewFlagSet("latchkey", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		known["LATCHKEY_"+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))] = true
	})
	if !known["LATCHKEY_DATABASE"] || !known["LATCHKEY_MASTER_KEY_FILE"] {
		t.Fatalf("settings = %v; the env names no longer derive from the flag names", known)
	}
	return known
}

// checkSettings fails for every LATCHKEY_* name the server does not read:
// packaging that sets a misspelt variable is silently ignored otherwise.
func checkSettings(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := knownSettings(t)
	for name := range env {
		if strings.HasPrefix(name, "LATCHKEY_") && !known[name] {
			t.Errorf("%s sets %s, which is not a Latchkey setting", where, name)
		}
	}
}

// loadConfig validates env as the server would at start.
func loadConfig(t *testing.T, where string, env map[string]string) config.Config {
	t.Helper()
	fs := pflag.NewFlagSet("latchkey", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	cfg, err := config.Load(fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s: the server would refuse this configuration: %v", where, err)
	}
	return cfg
}

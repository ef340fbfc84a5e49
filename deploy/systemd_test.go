package deploy

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "systemd/latchkey.service"

// unit reads a systemd unit or environment file: each key's values in order.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// envAssignments turns Environment= values (or env file lines) into a map.
func envAssignments(values []string) map[string]string {
	env := map[string]string{}
	for _, v := range values {
		for _, a := range strings.Fields(v) {
			if k, val, ok := strings.Cut(a, "="); ok {
				env[k] = val
			}
		}
	}
	return env
}

// analyzeRoot is a file system root for systemd-analyze holding the system's
// unit directory, the unit under test and an executable where its ExecStart
// points (verify checks that one exists; it never runs it).
func analyzeRoot(t *testing.T, unit map[string][]string) string {
	t.Helper()
	root := t.TempDir()
	system := "/usr/lib/systemd/system"
	if _, err := os.Stat(system); err != nil {
		system = "/lib/systemd/system"
	}
	if err := os.CopyFS(filepath.Join(root, "usr/lib/systemd/system"), os.DirFS(system)); err != nil {
		t.Fatalf("copy %s: %v", system, err)
	}
	body, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "etc/systemd/system/latchkey.service"), body, 0o644)
	exe := strings.Fields(unit["ExecStart"][0])[0]
	write(t, filepath.Join(root, exe), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	return root
}

func write(t *testing.T, path string, body []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, mode); err != nil {
		t.Fatal(err)
	}
}

func TestSystemdUnit_VerifiesAndScoresAtMostTwo(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "Debian package systemd")
	unit := readUnit(t, unitFile)
	root := analyzeRoot(t, unit)

	out, err := exec.Command(analyze, "verify", "--root="+root, "latchkey.service").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = exec.Command(analyze, "security", "--offline=yes", "--root="+root, "--threshold=20", "latchkey.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for latchkey\.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure (%v):\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f %s", score, m[2])
	if err != nil || score > 2.0 {
		var exposed []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "✗") {
				exposed = append(exposed, line)
			}
		}
		t.Fatalf("exposure %.1f, want at most 2.0 (%v); exposed:\n%s", score, err, strings.Join(exposed, "\n"))
	}
}

// TestSystemdUnit_HasTheDocumentedSettings keeps the options the README
// promises, which a lower score alone would not notice going.
func TestSystemdUnit_HasTheDocumentedSettings(t *testing.T) {
	unit := readUnit(t, unitFile)
	want := map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"DynamicUser":             "yes",
		"StateDirectory":          "latchkey",
		"LoadCredential":          "master.key:/etc/latchkey/master.key",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter":        "@system-service",
		"EnvironmentFile":         "-/etc/latchkey/latchkey.env",
	}
	for k, v := range want {
		if !slices.Contains(unit[k], v) {
			t.Errorf("%s=%s missing (have %q)", k, v, unit[k])
		}
	}
	if exec := unit["ExecStart"]; len(exec) != 1 || !strings.HasSuffix(exec[0], "latchkey serve") {
		t.Errorf("ExecStart = %q, want latchkey serve", exec)
	}

	env := envAssignments(unit["Environment"])
	if env["LATCHKEY_MASTER_KEY_FILE"] != "%d/master.key" {
		t.Errorf("LATCHKEY_MASTER_KEY_FILE = %q, want the credential %%d/master.key", env["LATCHKEY_MASTER_KEY_FILE"])
	}
	if !strings.HasPrefix(env["LATCHKEY_DATA_DIR"], "%S/latchkey") || !strings.HasPrefix(env["LATCHKEY_DATABASE"], "sqlite:%S/latchkey/") {
		t.Errorf("data dir %q and database %q must live in the StateDirectory", env["LATCHKEY_DATA_DIR"], env["LATCHKEY_DATABASE"])
	}
	checkSettings(t, unitFile, env)

	// The unit's defaults overlaid with the example file must be a
	// configuration the server accepts, as systemd would expand it.
	example := readUnit(t, "systemd/latchkey.env")
	checkSettings(t, "systemd/latchkey.env", envAssignments(flatten(example)))
	expanded := map[string]string{}
	for k, v := range env {
		v = strings.ReplaceAll(v, "%S", "/var/lib")
		expanded[k] = strings.ReplaceAll(v, "%d", "/run/credentials/latchkey.service")
	}
	for k, v := range envAssignments(flatten(example)) {
		expanded[k] = v
	}
	if _, ok := expanded["LATCHKEY_PUBLIC_URL"]; !ok {
		t.Error("the example environment file does not set LATCHKEY_PUBLIC_URL")
	}
	cfg := loadConfig(t, "unit + example environment file", expanded)
	if !cfg.MasterKeyExplicit || cfg.MasterKeyFile != "/run/credentials/latchkey.service/master.key" {
		t.Errorf("master key file = %q (explicit %v), want the credential", cfg.MasterKeyFile, cfg.MasterKeyExplicit)
	}
}

func flatten(m map[string][]string) []string {
	var out []string
	for k, vs := range m {
		for _, v := range vs {
			out = append(out, k+"="+v)
		}
	}
	return out
}

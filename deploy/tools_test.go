package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// tool finds an external program the packaging checks need. Missing, the
// test is skipped, except under CI=true, where it fails: CI installs them.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimRight(string(out), "\r\n")) {
			if path := filepath.Join(dir, "bin", name); isExecutable(path) {
				return path
			}
		}
	}
	testkit.Unavailable(t, "%s is not installed (%s)", name, install)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

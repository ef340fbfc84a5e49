package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// The image test runs under `make package-check`, which builds the image and
// names it here; `go test ./...` alone skips it.
const (
	envImage   = "LATCHKEY_IMAGE"         // image reference
	envEngine  = "LATCHKEY_IMAGE_ENGINE"  // docker, podman or buildah
	envStore   = "LATCHKEY_IMAGE_STORE"   // podman/buildah storage root (vfs driver)
	envVersion = "LATCHKEY_IMAGE_VERSION" // the version the image was built as
)

// imageConfig is the part of a docker image config the checks read.
type imageConfig struct {
	Config struct {
		User         string              `json:"User"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Env          []string            `json:"Env"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		WorkingDir   string              `json:"WorkingDir"`
		Volumes      map[string]struct{} `json:"Volumes"`
		Labels       map[string]string   `json:"Labels"`
		Healthcheck  *struct {
			Test []string `json:"Test"`
		} `json:"Healthcheck"`
	} `json:"config"`
}

type engine struct {
	name  string
	store []string
}

func (e engine) command(args ...string) *exec.Cmd {
	if e.name == "docker" {
		return exec.Command("docker", args...)
	}
	return exec.Command(e.name, append(slices.Clone(e.store), args...)...)
}

func imageUnderTest(t *testing.T) (string, engine) {
	t.Helper()
	ref := os.Getenv(envImage)
	if ref == "" {
		t.Skipf("%s is not set: `make package-check` builds the image and runs this test", envImage)
	}
	e := engine{name: os.Getenv(envEngine)}
	if e.name == "" {
		e.name = "podman"
	}
	if root := os.Getenv(envStore); root != "" && e.name != "docker" {
		e.store = []string{"--storage-driver", "vfs", "--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run")}
	}
	return ref, e
}

// saveImage exports the image as a docker archive and unpacks its layers
// into a root file system. It returns the config, the root, the owner of
// each path and the uncompressed and gzip-compressed layer sizes.
func saveImage(t *testing.T, ref string, e engine) (cfg imageConfig, root string, owners map[string]int, size, compressed int64) {
	t.Helper()
	archive, err := exportImage(ref, e)
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, archive)
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("docker archive manifest.json: %v (%d images)", err, len(manifest))
	}
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		t.Fatalf("image config: %v", err)
	}
	root = filepath.Join(t.TempDir(), "rootfs")
	owners = map[string]int{}
	for _, layer := range manifest[0].Layers {
		body := files[layer]
		size += int64(len(body))
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		_, _ = w.Write(body)
		_ = w.Close()
		compressed += int64(gz.Len())
		unpack(t, body, root, owners)
	}
	return cfg, root, owners, size, compressed
}

// exported holds each image's docker archive, exported once for all the
// image tests (in a directory TestMain removes).
var (
	exported   = map[string]string{}
	exportsDir string
)

// exportImage writes ref as a docker archive, which keeps HEALTHCHECK.
func exportImage(ref string, e engine) (string, error) {
	if archive, ok := exported[ref]; ok {
		return archive, nil
	}
	if exportsDir == "" {
		dir, err := os.MkdirTemp("", "latchkey-image-")
		if err != nil {
			return "", err
		}
		exportsDir = dir
	}
	archive := filepath.Join(exportsDir, fmt.Sprintf("image-%d.tar", len(exported)))
	var cmd *exec.Cmd
	switch e.name {
	case "buildah":
		cmd = e.command("push", ref, "docker-archive:"+archive)
	case "docker":
		cmd = e.command("save", "-o", archive, ref)
	default:
		cmd = e.command("save", "--format", "docker-archive", "-o", archive, ref)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	exported[ref] = archive
	return archive, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exportsDir != "" {
		_ = os.RemoveAll(exportsDir)
	}
	os.Exit(code)
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = body
		}
	}
}

// unpack extracts one layer. Layers of an image FROM scratch built only
// by COPY hold files, directories and links, never whiteouts.
func unpack(t *testing.T, layer []byte, root string, owners map[string]int) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("layer: %v", err)
		}
		name := filepath.Clean("/" + h.Name)
		if strings.HasPrefix(filepath.Base(name), ".wh.") {
			t.Fatalf("layer has a whiteout %s; the image should only add files", name)
		}
		owners[name] = h.Uid
		dst := filepath.Join(root, name)
		switch h.Typeflag {
		case tar.TypeDir:
			// Parents (the root among them) missing from the layer are 0755.
			_ = os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.MkdirAll(dst, os.FileMode(h.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(dst, os.FileMode(h.Mode).Perm())
		case tar.TypeReg:
			_ = os.MkdirAll(filepath.Dir(dst), 0o755)
			body, _ := io.ReadAll(tr)
			if err := os.WriteFile(dst, body, os.FileMode(h.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			_ = os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("layer entry %s has unexpected type %c", name, h.Typeflag)
		}
		if os.Geteuid() == 0 {
			_ = os.Lchown(dst, h.Uid, h.Gid)
		}
	}
}

func TestImage_IsSmallNonRootAndConfiguredByEnvironment(t *testing.T) {
	ref, e := imageUnderTest(t)
	cfg, root, owners, size, compressed := saveImage(t, ref, e)
	t.Logf("image %s: %.1f MB uncompressed, %.1f MB compressed", ref, float64(size)/1e6, float64(compressed)/1e6)
	// One static binary and a CA bundle: 28 MB uncompressed (11 MB as
	// pulled) with the portal, SCIM and WebAuthn. The bound catches a
	// base image or a stray file creeping in, not the binary's growth.
	if size > 32e6 {
		t.Errorf("image is %.1f MB uncompressed, want under 32 MB", float64(size)/1e6)
	}

	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532 (non-root)", c.User)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v, want 8080/tcp", c.ExposedPorts)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/bin/latchkey"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %v Cmd %v, want /usr/bin/latchkey serve", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("Volumes = %v, want /data", c.Volumes)
	}
	if c.Healthcheck == nil || !slices.Contains(c.Healthcheck.Test, "healthcheck") {
		t.Errorf("Healthcheck = %+v, want latchkey healthcheck", c.Healthcheck)
	}
	env := map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	checkSettings(t, "image", env)
	if env["LATCHKEY_ADDR"] != "0.0.0.0:8080" || env["LATCHKEY_DATA_DIR"] != "/data" || env["LATCHKEY_DATABASE"] != "sqlite:/data/latchkey.db" {
		t.Errorf("Env = %v, want listen on 0.0.0.0:8080 with SQLite in /data", c.Env)
	}
	loadConfig(t, "image environment", env)
	if !slices.Contains(filepath.SplitList(env["PATH"]), "/usr/bin") {
		t.Errorf("PATH = %q: `exec CONTAINER latchkey …` needs /usr/bin", env["PATH"])
	}
	for _, label := range []string{"version", "revision", "source", "created"} {
		if v := c.Labels["org.opencontainers.image."+label]; v == "" || v == "unknown" {
			t.Errorf("label org.opencontainers.image.%s = %q", label, v)
		}
	}
	if want := os.Getenv(envVersion); want != "" && c.Labels["org.opencontainers.image.version"] != want {
		t.Errorf("version label %q, want %q", c.Labels["org.opencontainers.image.version"], want)
	}

	for _, path := range []string{"/usr/bin/latchkey", "/etc/ssl/certs/ca-certificates.crt", "/etc/passwd", "/etc/group"} {
		if fi, err := os.Stat(filepath.Join(root, path)); err != nil || fi.Size() == 0 {
			t.Errorf("image lacks %s: %v", path, err)
		}
	}
	if owners["/data"] != 65532 {
		t.Errorf("/data is owned by uid %d, want 65532", owners["/data"])
	}
	if fi, err := os.Stat(filepath.Join(root, "data")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("/data mode: %v %v, want 0700", fi, err)
	}
	// A dynamically linked binary names its loader in a PT_INTERP header.
	bin, err := elf.Open(filepath.Join(root, "usr/bin/latchkey"))
	if err != nil {
		t.Fatalf("the image's latchkey is not an ELF binary: %v", err)
	}
	defer bin.Close()
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the image's latchkey is dynamically linked; an empty base has no loader")
		}
	}
}

// runner starts the image's binary with args and extra environment on top
// of the image's own.
type runner func(extra []string, args ...string) *exec.Cmd

// TestImage_ServesAndPassesItsHealthcheck runs the image: in a container
// where this machine can start one (podman or docker; buildah with its OCI
// runtime or, failing that, its chroot isolation), otherwise its own binary
// from its extracted file system, chrooted there as uid 65532 when running
// as root. Either way `latchkey version` must report the labelled version,
// `latchkey serve` must come up with the image's environment and pass
// `latchkey healthcheck` run as the image's HEALTHCHECK runs it, and the
// check must fail once the server is stopped.
func TestImage_ServesAndPassesItsHealthcheck(t *testing.T) {
	ref, e := imageUnderTest(t)
	cfg, root, _, _, _ := saveImage(t, ref, e)
	version := cfg.Config.Labels["org.opencontainers.image.version"]

	run, how, inContainer := runner(nil), "LATCHKEY_IMAGE_RUN=extracted", false
	if os.Getenv("LATCHKEY_IMAGE_RUN") != "extracted" {
		run, how, inContainer = containerRunner(t, e, ref)
	}
	if run == nil {
		t.Logf("containers cannot run here (%s); running the binary from the image's extracted file system instead", how)
		run = imageRunner(t, root, cfg)
	} else {
		t.Logf("running in containers: %s", how)
	}

	out, err := run(nil, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "latchkey "+version) {
		t.Fatalf("latchkey version from the image: %v: %s, want latchkey %s", err, out, version)
	}
	t.Logf("latchkey version: %s", strings.TrimSpace(lastLine(string(out))))

	port := freePort(t)
	addr := "0.0.0.0:" + port
	var log bytes.Buffer
	serve := run([]string{"LATCHKEY_ADDR=" + addr, "LATCHKEY_PUBLIC_URL=http://127.0.0.1:" + port}, "serve")
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		_ = serve.Process.Kill()
	}()

	// The healthcheck as the image's HEALTHCHECK runs it: no flags, the
	// address from LATCHKEY_ADDR.
	healthcheck := func() (string, error) {
		out, err := run([]string{"LATCHKEY_ADDR=" + addr}, "healthcheck").CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := healthcheck()
		if err == nil {
			t.Logf("latchkey healthcheck: %s", strings.TrimSpace(lastLine(out)))
			break
		}
		select {
		case werr := <-exited:
			t.Fatalf("serve from the image exited (%v):\n%s", werr, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed: %v: %s\nserver log:\n%s", err, out, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(log.String(), `/data/master.key"`) {
		t.Errorf("the server did not keep its generated master key in /data:\n%s", log.String())
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		// Only a bare process gets the signal itself; a container engine
		// may end its container some other way.
		if err != nil && !inContainer {
			t.Errorf("serve did not stop cleanly on SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute of SIGTERM")
	}
	if out, err := healthcheck(); err == nil {
		t.Errorf("healthcheck passed with the server stopped: %s", out)
	}
}

// containerRunner returns a runner that starts each command in a new
// container on the host network, or nil and the reason containers cannot
// run on this machine.
func containerRunner(t *testing.T, e engine, ref string) (r runner, how string, ok bool) {
	t.Helper()
	if e.name != "buildah" {
		out, err := e.command("run", "--rm", "--network=host", ref, "version").CombinedOutput()
		if err != nil {
			return nil, fmt.Sprintf("%s run: %v: %s", e.name, err, strings.TrimSpace(string(out))), false
		}
		return func(extra []string, args ...string) *exec.Cmd {
			a := []string{"run", "--rm", "--network=host"}
			for _, kv := range extra {
				a = append(a, "-e", kv)
			}
			return e.command(append(append(a, ref), args...)...)
		}, e.name + " run", true
	}
	// buildah runs commands in working containers, one per command so a
	// server and its health check run side by side.
	container := func() string {
		out, err := e.command("from", ref).Output()
		if err != nil {
			t.Fatalf("buildah from %s: %v", ref, err)
		}
		name := strings.TrimSpace(string(out))
		t.Cleanup(func() { _ = e.command("rm", name).Run() })
		return name
	}
	buildahRunner := func(isolation string) runner {
		var shared string // every command but serve, one after another
		return func(extra []string, args ...string) *exec.Cmd {
			ctr := shared
			if len(args) > 0 && args[0] == "serve" {
				ctr = container()
			} else if ctr == "" {
				ctr = container()
				shared = ctr
			}
			a := []string{"run", "--network=host"}
			if isolation != "" {
				a = append(a, "--isolation="+isolation)
			}
			for _, kv := range extra {
				a = append(a, "-e", kv)
			}
			return e.command(append(append(a, ctr, "--", "/usr/bin/latchkey"), args...)...)
		}
	}
	var reasons []string
	for _, isolation := range []string{"", "chroot"} {
		r := buildahRunner(isolation)
		out, err := r(nil, "version").CombinedOutput()
		name := "buildah run (OCI runtime)"
		if isolation != "" {
			name = "buildah run --isolation=" + isolation
		}
		if err == nil {
			if len(reasons) > 0 {
				name += " (" + strings.Join(reasons, "; ") + ")"
			}
			return r, name, true
		}
		reasons = append(reasons, fmt.Sprintf("%s failed: %v: %s", name, err, strings.Join(strings.Fields(string(out)), " ")))
	}
	return nil, strings.Join(reasons, "; "), false
}

// imageRunner runs the image's binary with the image's environment (plus
// extra), as the image's user: chrooted into root as uid 65532 when the test
// runs as root, else directly, with /data pointed into the extracted tree.
func imageRunner(t *testing.T, root string, cfg imageConfig) runner {
	chroot := os.Geteuid() == 0
	if !chroot {
		t.Log("not root: running the image's binary without chroot, its data directory inside the extracted tree")
	}
	return func(extra []string, args ...string) *exec.Cmd {
		env := append(slices.Clone(cfg.Config.Env), extra...)
		var cmd *exec.Cmd
		if chroot {
			// An absolute name is not looked up on the host: the child
			// resolves it after chroot.
			cmd = exec.Command("/usr/bin/latchkey", args...)
			cmd.Dir = "/data"
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		} else {
			cmd = exec.Command(filepath.Join(root, "usr/bin/latchkey"), args...)
			data := filepath.Join(root, "data")
			env = append(env, "LATCHKEY_DATA_DIR="+data, "LATCHKEY_DATABASE=sqlite:"+filepath.Join(data, "latchkey.db"))
		}
		cmd.Env = env
		return cmd
	}
}

// freePort returns a loopback port nothing listens on, for a server
// started right after.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(testkit.ClosedPort(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

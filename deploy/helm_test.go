package deploy

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const chart = "helm/latchkey"

// object is one rendered Kubernetes object.
type object map[string]any

// get walks a path of map keys and list indexes ("spec", "template", 0 …).
func (o object) get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func (o object) str(path ...any) string {
	s, _ := o.get(path...).(string)
	return s
}

func (o object) kind() string { return o.str("kind") }
func (o object) name() string { return o.str("metadata", "name") }

// rendered is the output of one helm template run.
type rendered []object

func (r rendered) one(t *testing.T, kind string) object {
	t.Helper()
	var found []object
	for _, o := range r {
		if o.kind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("rendered %d %s objects, want 1", len(found), kind)
	}
	return found[0]
}

func (r rendered) named(kind, name string) object {
	for _, o := range r {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	return nil
}

func (r rendered) count(kind string) int {
	n := 0
	for _, o := range r {
		if o.kind() == kind {
			n++
		}
	}
	return n
}

func helmTemplate(t *testing.T, helm string, args ...string) (rendered, error) {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"template", "sso", chart, "--namespace", "identity"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	var r rendered
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		// A plain map: decoding into object would make nested maps objects.
		var o map[string]any
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("helm template output is not YAML: %v", err)
		}
		if o != nil {
			r = append(r, object(o))
		}
	}
	return r, nil
}

func mustTemplate(t *testing.T, helm string, args ...string) rendered {
	t.Helper()
	r, err := helmTemplate(t, helm, args...)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return r
}

const testMasterKey = "6c6174636b65792063686172742074657374206d6173746572206b657920212e"

// The value sets every check renders: the defaults (SQLite, one replica),
// the PostgreSQL example file (three replicas, existing Secret), and
// PostgreSQL with the chart's own Secret.
var valueSets = map[string][]string{
	"default":         nil,
	"postgres":        {"-f", chart + "/values-postgres.yaml"},
	"postgres-inline": {"--set", "replicaCount=2", "--set", "database.type=postgres", "--set", "database.url=postgres://latchkey:pw@db:5432/latchkey", "--set", "masterKey=" + testMasterKey, "--set", "persistence.enabled=false"},
}

func TestHelmChart_Lints(t *testing.T) {
	helm := tool(t, "helm", "go install helm.sh/helm/v3/cmd/helm@v3.22.0")
	for name, args := range valueSets {
		out, err := exec.Command(helm, append([]string{"lint", "--strict", chart}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint (%s): %v\n%s", name, err, out)
		}
	}
}

func TestHelmChart_RendersTheDocumentedObjects(t *testing.T) {
	helm := tool(t, "helm", "go install helm.sh/helm/v3/cmd/helm@v3.22.0")
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			r := mustTemplate(t, helm, args...)
			postgres := name != "default"
			dep := r.one(t, "Deployment")
			pod := object(dep.get("spec", "template").(map[string]any))
			c := object(pod.get("spec", "containers", 0).(map[string]any))

			wantReplicas := map[string]int{"default": 1, "postgres": 3, "postgres-inline": 2}[name]
			if got, _ := dep.get("spec", "replicas").(int); got != wantReplicas {
				t.Errorf("replicas = %v, want %d", dep.get("spec", "replicas"), wantReplicas)
			}
			if strategy := dep.str("spec", "strategy", "type"); (strategy == "Recreate") == postgres {
				t.Errorf("strategy %q with postgres=%v; SQLite needs Recreate, PostgreSQL rolls", strategy, postgres)
			}

			// Probes: readiness follows the database, liveness the process.
			if p := c.str("readinessProbe", "httpGet", "path"); p != "/readyz" {
				t.Errorf("readiness probe path = %q, want /readyz", p)
			}
			if p := c.str("livenessProbe", "httpGet", "path"); p != "/healthz" {
				t.Errorf("liveness probe path = %q, want /healthz", p)
			}
			if c.str("readinessProbe", "httpGet", "port") != "http" || c.get("ports", 0, "containerPort") != 8080 {
				t.Errorf("probes must target the http port 8080: %v / %v", c.get("readinessProbe"), c.get("ports"))
			}
			if c.get("resources", "requests", "cpu") == nil || c.get("resources", "requests", "memory") == nil || c.get("resources", "limits", "memory") == nil {
				t.Errorf("resources = %v, want cpu and memory requests and a memory limit", c.get("resources"))
			}

			checkRestricted(t, "Deployment", pod, c)

			// Configuration: the ConfigMap carries only real settings.
			cm := r.one(t, "ConfigMap")
			if ref := c.str("envFrom", 0, "configMapRef", "name"); ref != cm.name() {
				t.Errorf("envFrom = %q, want the ConfigMap %q", ref, cm.name())
			}
			env := map[string]string{}
			for k, v := range cm.get("data").(map[string]any) {
				env[k], _ = v.(string)
			}
			checkSettings(t, "ConfigMap", env)
			if env["LATCHKEY_ADDR"] != "0.0.0.0:8080" || env["LATCHKEY_DATA_DIR"] != "/data" || env["LATCHKEY_PUBLIC_URL"] == "" {
				t.Errorf("ConfigMap = %v, want addr 0.0.0.0:8080, data dir /data and a public URL", env)
			}
			if _, sqlite := env["LATCHKEY_DATABASE"]; sqlite == postgres {
				t.Errorf("ConfigMap LATCHKEY_DATABASE present=%v with postgres=%v; the PostgreSQL URL belongs in the Secret", sqlite, postgres)
			}
			containerEnv := map[string]object{}
			envs, _ := c.get("env").([]any)
			for _, e := range envs {
				e := object(e.(map[string]any))
				containerEnv[e.str("name")] = e
			}
			secretName := map[string]string{"default": "", "postgres": "latchkey", "postgres-inline": "sso-latchkey"}[name]
			if postgres {
				db := containerEnv["LATCHKEY_DATABASE"]
				if db.str("valueFrom", "secretKeyRef", "name") != secretName || db.str("valueFrom", "secretKeyRef", "key") != "database-url" {
					t.Errorf("LATCHKEY_DATABASE = %v, want Secret %s key database-url", db, secretName)
				}
				keyFile := containerEnv["LATCHKEY_MASTER_KEY_FILE"].str("value")
				if keyFile != "/etc/latchkey/master.key" {
					t.Errorf("LATCHKEY_MASTER_KEY_FILE = %q", keyFile)
				}
				checkMasterKeyVolume(t, pod, c, secretName)
			}

			// Secret: the chart's own, unless an existing one is named.
			switch name {
			case "postgres-inline":
				s := r.named("Secret", secretName)
				if s == nil || s.get("data", "master.key") == nil || s.get("data", "database-url") == nil {
					t.Errorf("Secret %s = %v, want master.key and database-url", secretName, s)
				}
				if s.str("metadata", "annotations", "helm.sh/hook") != "" {
					t.Error("the chart's Secret is a hook: helm would not manage it with the release")
				}
			case "postgres":
				if n := r.count("Secret"); n != 0 {
					t.Errorf("rendered %d Secrets with existingSecret set, want 0", n)
				}
			}

			// PodDisruptionBudget and Service select the pods.
			labels := pod.get("metadata", "labels").(map[string]any)
			pdb := r.one(t, "PodDisruptionBudget")
			svc := r.one(t, "Service")
			for what, sel := range map[string]any{"PodDisruptionBudget": pdb.get("spec", "selector", "matchLabels"), "Service": svc.get("spec", "selector")} {
				m, _ := sel.(map[string]any)
				if len(m) == 0 {
					t.Errorf("%s has no selector", what)
				}
				for k, v := range m {
					if labels[k] != v {
						t.Errorf("%s selects %s=%v, which the pods do not carry", what, k, v)
					}
				}
			}
			if name == "postgres" {
				if pdb.get("spec", "minAvailable") != 2 {
					t.Errorf("PDB = %v, want minAvailable 2", pdb.get("spec"))
				}
			} else if pdb.get("spec", "maxUnavailable") != 1 {
				t.Errorf("PDB = %v, want maxUnavailable 1", pdb.get("spec"))
			}
			if svc.get("spec", "ports", 0, "targetPort") != "http" {
				t.Errorf("Service ports = %v, want targetPort http", svc.get("spec", "ports"))
			}

			// The migrate Job runs before install and upgrade, PostgreSQL only.
			if !postgres {
				if r.count("Job") != 0 {
					t.Error("a migrate Job with SQLite: the volume does not exist before install")
				}
				if r.count("PersistentVolumeClaim") != 1 || pod.str("spec", "volumes", 0, "persistentVolumeClaim", "claimName") == "" {
					t.Error("SQLite data must be on a PersistentVolumeClaim mounted at /data")
				}
				return
			}
			job := r.one(t, "Job")
			hooks := strings.Split(job.str("metadata", "annotations", "helm.sh/hook"), ",")
			if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
				t.Errorf("migrate Job hooks = %v, want pre-install and pre-upgrade", hooks)
			}
			jpod := object(job.get("spec", "template").(map[string]any))
			jc := object(jpod.get("spec", "containers", 0).(map[string]any))
			if args, _ := jc.get("args").([]any); len(args) != 1 || args[0] != "migrate" {
				t.Errorf("migrate Job args = %v, want [migrate]", jc.get("args"))
			}
			jlabels, _ := jpod.get("metadata", "labels").(map[string]any)
			if sel, _ := svc.get("spec", "selector").(map[string]any); selects(sel, jlabels) {
				t.Errorf("the Service selects the migrate Job's pod (labels %v)", jlabels)
			}
			if sel, _ := pdb.get("spec", "selector", "matchLabels").(map[string]any); selects(sel, jlabels) {
				t.Errorf("the PodDisruptionBudget counts the migrate Job's pod (labels %v)", jlabels)
			}
			if jc.str("image") != c.str("image") {
				t.Errorf("migrate Job image %q differs from the Deployment's %q", jc.str("image"), c.str("image"))
			}
			checkRestricted(t, "migrate Job", jpod, jc)
			if jpod.str("spec", "serviceAccountName") != "" {
				t.Error("the migrate hook names the chart's ServiceAccount, which does not exist before install")
			}
			jobSecret := jc.str("env", 0, "valueFrom", "secretKeyRef", "name")
			if name == "postgres-inline" {
				// The chart's Secret is created after pre-install hooks: the
				// hook needs its own, created before the Job.
				hookSecret := r.named("Secret", jobSecret)
				weight := func(o object) int {
					w, _ := strconv.Atoi(o.str("metadata", "annotations", "helm.sh/hook-weight"))
					return w
				}
				if hookSecret == nil || !strings.Contains(hookSecret.str("metadata", "annotations", "helm.sh/hook"), "pre-install") || weight(hookSecret) >= weight(job) {
					t.Errorf("migrate Job reads Secret %q, which is not a pre-install hook created before it", jobSecret)
				}
			} else if jobSecret != secretName {
				t.Errorf("migrate Job reads Secret %q, want %q", jobSecret, secretName)
			}
			if name == "postgres" {
				ing := r.one(t, "Ingress")
				if ing.str("spec", "rules", 0, "http", "paths", 0, "backend", "service", "name") != svc.name() || ing.get("spec", "tls", 0) == nil {
					t.Errorf("Ingress = %v, want TLS and the Service as backend", ing.get("spec"))
				}
			}
		})
	}
}

// selects reports whether a label selector matches labels.
func selects(selector, labels map[string]any) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// checkRestricted asserts the Pod Security "restricted" settings.
func checkRestricted(t *testing.T, what string, pod, c object) {
	t.Helper()
	if pod.get("spec", "securityContext", "runAsNonRoot") != true || pod.str("spec", "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s pod securityContext = %v, want runAsNonRoot and seccomp RuntimeDefault", what, pod.get("spec", "securityContext"))
	}
	sc := object(c.get("securityContext").(map[string]any))
	if sc.get("allowPrivilegeEscalation") != false || sc.get("readOnlyRootFilesystem") != true || sc.get("runAsNonRoot") != true {
		t.Errorf("%s container securityContext = %v, want no privilege escalation, read-only root, non-root", what, sc)
	}
	if drop, _ := sc.get("capabilities", "drop").([]any); !slices.Contains(drop, any("ALL")) {
		t.Errorf("%s drops capabilities %v, want ALL", what, drop)
	}
	if pod.get("spec", "automountServiceAccountToken") != false {
		t.Errorf("%s mounts a service account token; Latchkey never calls the Kubernetes API", what)
	}
	mounts := map[string]bool{}
	for _, m := range c.get("volumeMounts").([]any) {
		mounts[object(m.(map[string]any)).str("mountPath")] = true
	}
	if !mounts["/tmp"] {
		t.Errorf("%s has a read-only root but no writable /tmp", what)
	}
}

// checkMasterKeyVolume: the key file is mounted from the Secret as
// root-owned 0440 readable through fsGroup (what the server accepts).
func checkMasterKeyVolume(t *testing.T, pod, c object, secretName string) {
	t.Helper()
	var vol object
	for _, v := range pod.get("spec", "volumes").([]any) {
		if v := object(v.(map[string]any)); v.get("secret") != nil {
			vol = v
		}
	}
	if vol == nil || vol.str("secret", "secretName") != secretName || vol.get("secret", "defaultMode") != 0o440 ||
		vol.str("secret", "items", 0, "key") != "master.key" {
		t.Fatalf("master key volume = %v, want Secret %s item master.key mode 0440", vol, secretName)
	}
	if pod.get("spec", "securityContext", "fsGroup") == nil {
		t.Error("no fsGroup: a non-root process cannot read the root-owned key file")
	}
	var mounted bool
	for _, m := range c.get("volumeMounts").([]any) {
		m := object(m.(map[string]any))
		mounted = mounted || (m.str("name") == vol.str("name") && m.str("mountPath") == "/etc/latchkey" && m.get("readOnly") == true)
	}
	if !mounted {
		t.Error("master key volume is not mounted read-only at /etc/latchkey")
	}
}

func TestHelmChart_RefusesSettingsThatCannotWork(t *testing.T) {
	helm := tool(t, "helm", "go install helm.sh/helm/v3/cmd/helm@v3.22.0")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "replicaCount=3"}, "replicaCount > 1 needs database.type=postgres"},
		{[]string{"--set", "database.type=mysql"}, "database.type must be sqlite or postgres"},
		{[]string{"--set", "database.type=postgres", "--set", "masterKey=" + testMasterKey}, "needs database.url or existingSecret"},
		{[]string{"--set", "database.type=postgres", "--set", "database.url=postgres://db/latchkey"}, "needs masterKey or existingSecret"},
		{[]string{"--set", "database.type=postgres", "--set", "database.url=mysql://db", "--set", "masterKey=" + testMasterKey}, "database.url must start with postgres://"},
		{[]string{"--set", "masterKey=short"}, "masterKey must be 64 hex characters"},
		{[]string{"--set", "config.publicURL=sso.example.com"}, "config.publicURL must be the absolute http(s) URL"},
	} {
		_, err := helmTemplate(t, helm, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm template %v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

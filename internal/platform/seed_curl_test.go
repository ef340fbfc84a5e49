package platform_test

import (
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// The seed's two commands (seeds/trusted-platform-sso.txt), argument for
// argument: only the base URL placeholder and the shell variables are
// filled in, exactly as the shell would.
func seedUpdateArgs(base, orgID, apiKey, userName string) []string {
	return []string{"-X", "POST", base + "/api/organization/" + orgID + "/user/" + userName + "/update",
		"-H", "Content-Type: application/json",
		"-H", "x-org-id: " + orgID,
		"-H", "x-api-key: " + apiKey,
		"-d", `{
    "name": "John Doe",
    "role": "USER",
    "picture": "https://example.com/avatar.jpg"
  }`,
	}
}

func seedGenerateArgs(base, orgID, apiKey, userName string) []string {
	return []string{"-X", "POST", base + "/api/organization/" + orgID + "/user/" + userName + "/generate-token",
		"-H", "x-org-id: " + orgID,
		"-H", "x-api-key: " + apiKey,
	}
}

// curl runs the real curl with args. The only flags added (-sS and
// --write-out) change what curl prints, not what it sends: they let the
// test read the status code after the body.
func curl(t *testing.T, args []string) (int, string) {
	t.Helper()
	cmd := exec.Command("curl", append([]string{"-sS", "--write-out", "\n%{http_code}"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("curl %q: %v\n%s", args, err, stderr)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		t.Fatalf("curl output has no status: %q", s)
	}
	return code, s[:i]
}

func needCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		testkit.Unavailable(t, "curl is not installed")
	}
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

func TestSeedCurlCommands_WorkVerbatim(t *testing.T) {
	needCurl(t)
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			const orgID, userName = "my-community", "johndoe"
			s := startPlatform(t, backend, orgID)
			base := s.inst.URL

			// Step 5: the user does not exist yet: created.
			status, body := curl(t, seedUpdateArgs(base, orgID, s.key, userName))
			r := &apiResponse{Status: status, Body: body}
			r.want(t, http.StatusCreated)
			m := r.JSON(t)
			if m["userName"] != userName || m["name"] != "John Doe" || m["role"] != "USER" ||
				m["picture"] != "https://example.com/avatar.jpg" || m["email"] != "" || m["disabled"] != false {
				t.Fatalf("created user = %s", body)
			}
			sub, _ := m["sub"].(string)
			if sub == "" || strings.Contains(sub, userName) {
				t.Fatalf("sub %q must be set and must not reveal the userName", sub)
			}
			for _, k := range []string{"createdAt", "updatedAt"} {
				if v, _ := m[k].(string); !rfc3339.MatchString(v) {
					t.Fatalf("%s = %v, want RFC 3339", k, m[k])
				}
			}

			// The same call again: updated, same stable sub.
			status, body = curl(t, seedUpdateArgs(base, orgID, s.key, userName))
			r = &apiResponse{Status: status, Body: body}
			if r.want(t, http.StatusOK).Str(t, "sub") != sub {
				t.Fatalf("sub changed on update: %s", body)
			}

			// Step 6: a login ticket.
			status, body = curl(t, seedGenerateArgs(base, orgID, s.key, userName))
			r = &apiResponse{Status: status, Body: body}
			m = r.want(t, http.StatusOK).JSON(t)
			tok, _ := m["refreshToken"].(string)
			if len(tok) < 43 || m["expiresIn"] != float64(300) || m["loginUrl"] != base+"/?refresh-token="+tok {
				t.Fatalf("generate-token = %s", body)
			}
			if strings.Contains(tok, s.key) {
				t.Fatal("the ticket contains the API key")
			}

			// Step 7–8: the browser brings the token back and is signed in.
			b := servertest.NewBrowser(t)
			p := b.Follow(b.Get(m["loginUrl"].(string)), "")
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "Signed in") || !strings.Contains(p.Body, userName) {
				t.Fatalf("after the login URL: status %d at %s\n%s", p.Status, p.URL, p.Body)
			}
			if strings.Contains(p.URL.String(), "refresh-token") {
				t.Fatalf("the ticket is still in the URL: %s", p.URL)
			}
			ss := s.sessions(t, orgID, sub)
			if len(ss) != 1 || len(ss[0].AMR) != 1 || ss[0].AMR[0] != "ext" {
				t.Fatalf("sessions = %+v, want one with amr [ext]", ss)
			}

			// The seed's commands with a wrong key fail with 401.
			status, body = curl(t, seedGenerateArgs(base, orgID, "lk_org_wrong", userName))
			(&apiResponse{Status: status, Body: body}).want(t, http.StatusUnauthorized)
		})
	}
}

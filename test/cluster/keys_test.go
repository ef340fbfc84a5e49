package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// testKeyRotationUnderLoad runs sign-ins on every node while `latchkey
// keys rotate` runs three times, and verifies every id_token with go-oidc,
// whose key set refetches the JWKS (through the balancer, from any node)
// when it meets an unknown kid.
func testKeyRotationUnderLoad(t *testing.T, c *cluster, fx *servertest.Fixture) {
	ctx := context.Background()
	iss := c.URL + "/o/" + fx.Org
	provider, err := oidc.NewProvider(ctx, iss)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: fx.ClientID})

	var flows, failures atomic.Int64
	var mu sync.Mutex
	var failed []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		if len(failed) < 5 {
			failed = append(failed, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rawID, err := oneSignIn(c, fx)
				if err != nil {
					fail("sign-in: %v", err)
					continue
				}
				if _, err := verifier.Verify(ctx, rawID); err != nil {
					fail("verify id_token: %v", err)
					continue
				}
				flows.Add(1)
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	const rotations = 3
	for r := range rotations {
		before := flows.Load()
		waitFor(t, "sign-ins before the rotation", func() bool { return flows.Load() >= before+5 || failures.Load() > 0 })
		rotate := exec.Command(binary, "keys", "rotate", "--org", fx.Org, "--database", c.dbURL, "--master-key-file", c.keyFile,
			"--data-dir", filepath.Join(c.dataDir, "cli"))
		rotate.Env = cleanEnv()
		if out, err := rotate.CombinedOutput(); err != nil {
			t.Fatalf("keys rotate %d: %v\n%s", r+1, err, out)
		}
		// Operators rotate no faster than every node publishes the new
		// next keys (signing key lists are cached for a few seconds).
		keys, err := c.env.Store.ListSigningKeys(ctx, fx.Org)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, k := range keys {
			if k.State == domain.KeyNext || k.State == domain.KeyActive {
				want = append(want, k.KID)
			}
		}
		for _, n := range c.nodes {
			waitFor(t, fmt.Sprintf("node %d to publish the keys of rotation %d", n.i, r+1), func() bool {
				got := jwksKIDs(n.URL() + "/o/" + fx.Org + "/keys")
				for _, kid := range want {
					if !slices.Contains(got, kid) {
						return false
					}
				}
				return true
			})
		}
	}
	before := flows.Load()
	waitFor(t, "sign-ins after the last rotation", func() bool { return flows.Load() >= before+10 || failures.Load() > 0 })
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d sign-ins failed during %d rotations: %v", n, n+flows.Load(), rotations, failed)
	}
	t.Logf("%d sign-ins verified by go-oidc across %d key rotations, 0 failures", flows.Load(), rotations)
}

// oneSignIn signs in through a ticket in a fresh browser, runs one
// authorization request and exchanges the code, all through the balancer,
// and returns the id_token.
func oneSignIn(c *cluster, fx *servertest.Fixture) (string, error) {
	iss := c.URL + "/o/" + fx.Org
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/api/organization/"+fx.Org+"/user/"+fx.UserName+"/generate-token", nil)
	req.Header.Set("x-org-id", fx.Org)
	req.Header.Set("x-api-key", fx.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	var minted struct {
		RefreshToken string `json:"refreshToken"`
	}
	err = json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("generate-token: %d %v", resp.StatusCode, err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = browser.Get(iss + "/?refresh-token=" + url.QueryEscape(minted.RefreshToken))
	if err != nil {
		return "", err
	}
	drain(resp)
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("ticket landing: %d", resp.StatusCode)
	}
	code, err := authorize(browser, iss, fx.ClientID, fx.RedirectURI)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {fx.RedirectURI}}
	req, _ = http.NewRequest(http.MethodPost, iss+"/token", stringsReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(fx.ClientID), url.QueryEscape(fx.ClientSecret))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token: %d %v", resp.StatusCode, err)
	}
	return tok.IDToken, nil
}

func jwksKIDs(u string) []string {
	resp, err := http.Get(u)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if json.NewDecoder(resp.Body).Decode(&set) != nil {
		return nil
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

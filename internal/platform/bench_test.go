package platform_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// BenchmarkTicketLogin measures whole trusted-platform logins against a
// running server: update (upsert the user), generate-token, and the
// browser's landing (PUBLIC_URL/?refresh-token= → ISS/?refresh-token=,
// which consumes the ticket and starts the SSO session). It reports
// logins/s; "parallel" runs 8×GOMAXPROCS logins at once.
func BenchmarkTicketLogin(b *testing.B) {
	for _, backend := range servertest.Backends {
		b.Run(backend, func(b *testing.B) {
			s := startPlatform(b, backend, "bench")
			client := &http.Client{
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				Transport:     &http.Transport{MaxIdleConnsPerHost: 256},
			}
			var seq atomic.Int64
			login := func(b *testing.B, userName string) {
				do := func(method, url, body string) *http.Response {
					req, _ := http.NewRequest(method, url, strings.NewReader(body))
					if method == http.MethodPost {
						req.Header.Set("x-org-id", s.org)
						req.Header.Set("x-api-key", s.key)
						if body != "" {
							req.Header.Set("Content-Type", "application/json")
						}
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					return resp
				}
				base := s.inst.URL + "/api/organization/" + s.org + "/user/" + userName
				resp := do(http.MethodPost, base+"/update", `{"name":"Bench User","role":"USER","picture":"https://example.com/a.jpg"}`)
				drain(b, resp, http.StatusOK, http.StatusCreated)
				resp = do(http.MethodPost, base+"/generate-token", "")
				var out struct {
					LoginURL string `json:"loginUrl"`
				}
				if err := decodeJSON(resp, &out); err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("generate-token: %d %v", resp.StatusCode, err)
				}
				resp.Body.Close()
				resp = do(http.MethodGet, out.LoginURL, "")
				next := resp.Header.Get("Location")
				drain(b, resp, http.StatusSeeOther)
				resp = do(http.MethodGet, next, "")
				if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/authorize/continue") {
					b.Fatalf("landing: %d → %q", resp.StatusCode, loc)
				}
				drain(b, resp, http.StatusSeeOther)
			}
			b.Run("sequential", func(b *testing.B) {
				for b.Loop() {
					login(b, fmt.Sprintf("user%d", seq.Add(1)%100))
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(8) // many platforms and browsers at once
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						login(b, fmt.Sprintf("user%d", seq.Add(1)%100))
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			})
		})
	}
}

func drain(b *testing.B, resp *http.Response, want ...int) {
	b.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, w := range want {
		if resp.StatusCode == w {
			return
		}
	}
	b.Fatalf("%s %s: status %d, want %v\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
}

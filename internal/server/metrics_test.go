package server_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// scrape reads /metrics into series → value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetrics_ShowTheCacheThePoolsAndTheBatchingWriterAtWork(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := servertest.StartOP(t, backend)
			before := scrape(t, s.Inst.URL)
			// Two sign-ins with a refresh: codes, tokens, a session and
			// audit events written; the organization, application and
			// user looked up again and again.
			for range 2 {
				tok := s.SignIn(t, servertest.NewBrowser(t), s.Client(s.Fx))
				s.Refresh(t, s.Client(s.Fx), tok.Refresh).Tokens(t)
			}
			after := scrape(t, s.Inst.URL)
			grew := func(series string) {
				t.Helper()
				if after[series] <= before[series] {
					t.Errorf("%s: %v before, %v after two sign-ins", series, before[series], after[series])
				}
			}
			grew(`latchkey_store_batch_rows_count`)
			grew(`latchkey_store_batch_rows_sum`)
			grew(`latchkey_store_batch_seconds_count`)
			grew(`latchkey_store_batch_wait_seconds_count`)
			if after[`latchkey_store_batch_wait_seconds_count`] < after[`latchkey_store_batch_seconds_count`] {
				t.Errorf("fewer writes waited (%v) than batches were written (%v)", after[`latchkey_store_batch_wait_seconds_count`], after[`latchkey_store_batch_seconds_count`])
			}
			grew(`latchkey_cache_lookups_total{kind="organization",result="hit"}`)
			grew(`latchkey_cache_lookups_total{kind="application",result="hit"}`)
			if _, ok := after[`latchkey_cache_lookups_total{kind="api_key",result="miss"}`]; !ok {
				t.Error("no API key lookups series")
			}
			if after[`latchkey_cache_entries`] < 3 {
				t.Errorf("latchkey_cache_entries = %v, want the organization, the application and the user at least", after[`latchkey_cache_entries`])
			}
			pools := map[string][]string{"sqlite": {"main", "writer"}, "postgres": {"main", "keyed"}}[backend] // and "relaxed" unless the URL turns synchronous_commit off, as the tests' does
			for _, name := range pools {
				for _, series := range []string{`latchkey_db_connections{pool="` + name + `",state="idle"}`, `latchkey_db_connections{pool="` + name + `",state="in_use"}`,
					`latchkey_db_waits_total{pool="` + name + `"}`, `latchkey_db_wait_seconds_total{pool="` + name + `"}`} {
					if _, ok := after[series]; !ok {
						t.Errorf("no series %s", series)
					}
				}
				if series := `latchkey_db_max_connections{pool="` + name + `"}`; after[series] < 1 {
					t.Errorf("%s = %v, want the pool's bound", series, after[series])
				}
			}
			// Between requests, the pools have connections open and idle.
			if after[`latchkey_db_connections{pool="main",state="idle"}`] < 1 {
				t.Errorf("the main pool has no idle connection after the sign-ins")
			}
			if backend == "sqlite" && after[`latchkey_db_max_connections{pool="writer"}`] != 1 {
				t.Errorf("the SQLite writer's pool: %v connections, want 1", after[`latchkey_db_max_connections{pool="writer"}`])
			}
		})
	}
}

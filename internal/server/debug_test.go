package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDebugHandler_ServesProfilesAndVarsButNotTheCommandLine(t *testing.T) {
	ts := httptest.NewServer(DebugHandler())
	defer ts.Close()
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if code, body := get("/debug/pprof/"); code != 200 || !bytes.Contains(body, []byte("goroutine")) {
		t.Fatalf("/debug/pprof/: %d %.200s", code, body)
	}
	// A CPU profile is a gzip-compressed protobuf.
	if code, body := get("/debug/pprof/profile?seconds=1"); code != 200 || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Fatalf("/debug/pprof/profile: %d, %d bytes", code, len(body))
	}
	if code, body := get("/debug/pprof/heap"); code != 200 || len(body) == 0 {
		t.Fatalf("/debug/pprof/heap: %d", code)
	}
	code, body := get("/debug/vars")
	var vars map[string]json.RawMessage
	if code != 200 || json.Unmarshal(body, &vars) != nil {
		t.Fatalf("/debug/vars: %d %.200s", code, body)
	}
	if _, ok := vars["memstats"]; !ok {
		t.Errorf("/debug/vars has no memstats: %.200s", body)
	}
	if _, ok := vars["cmdline"]; ok {
		t.Errorf("/debug/vars serves the command line, which may hold a database password")
	}
	if code, _ := get("/debug/pprof/cmdline"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/cmdline: %d, want 404", code)
	}
}

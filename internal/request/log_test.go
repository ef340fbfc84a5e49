package request_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
)

func logLine(t *testing.T, log func(*slog.Logger)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(slog.New(request.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test"))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	return line
}

func TestLogHandler_ALineOfARequestNamesItsIDAndOrganization(t *testing.T) {
	ctx := request.Begin(context.Background(), "req-1", "192.0.2.1")
	ctx = request.WithOrg(ctx, "https://id.example", &domain.Organization{ID: "acme"})
	line := logLine(t, func(l *slog.Logger) { l.InfoContext(ctx, "hello", "k", "v") })
	if line["request_id"] != "req-1" || line["org"] != "acme" || line["k"] != "v" || line["component"] != "test" {
		t.Errorf("line %v", line)
	}
}

func TestLogHandler_ALineWithoutARequestHasNeither(t *testing.T) {
	for name, log := range map[string]func(*slog.Logger){
		"no context":         func(l *slog.Logger) { l.Info("hello") },
		"background context": func(l *slog.Logger) { l.InfoContext(context.Background(), "hello") },
		//lint:ignore SA1012 a nil context must not crash the handler
		"nil context": func(l *slog.Logger) { l.Log(nil, slog.LevelInfo, "hello") },
	} {
		line := logLine(t, log)
		if _, ok := line["request_id"]; ok {
			t.Errorf("%s: line %v has a request_id", name, line)
		}
		if _, ok := line["org"]; ok {
			t.Errorf("%s: line %v has an org", name, line)
		}
	}
}

func TestLogHandler_AnOrganizationIsNamedOnlyOnceTheDoorLoadedIt(t *testing.T) {
	ctx := request.Begin(context.Background(), "req-2", "192.0.2.1")
	line := logLine(t, func(l *slog.Logger) { l.InfoContext(ctx, "hello") })
	if _, ok := line["org"]; ok || line["request_id"] != "req-2" {
		t.Errorf("line %v", line)
	}
}

func TestLogHandler_ALineThatNamesThemItselfKeepsItsOwn(t *testing.T) {
	ctx := request.Begin(context.Background(), "req-3", "192.0.2.1")
	ctx = request.WithOrg(ctx, "https://id.example", &domain.Organization{ID: "acme"})
	var buf bytes.Buffer
	slog.New(request.NewLogHandler(slog.NewTextHandler(&buf, nil))).InfoContext(ctx, "hello", "org", "other", "request_id", "req-3")
	if got := buf.String(); bytes.Count([]byte(got), []byte("org=")) != 1 || bytes.Count([]byte(got), []byte("request_id=")) != 1 ||
		!bytes.Contains([]byte(got), []byte("org=other")) {
		t.Errorf("line %q", got)
	}
}

package main

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// A profile as the runtime writes it: samples of cpu nanoseconds, some
// labelled by side.
func writeCPUProfile(t *testing.T, samples map[string]int64) string {
	t.Helper()
	fn := &profile.Function{ID: 1, Name: "work"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
		Function:   []*profile.Function{fn},
		Location:   []*profile.Location{loc},
	}
	for side, ns := range samples {
		s := &profile.Sample{Location: []*profile.Location{loc}, Value: []int64{ns / 10_000_000, ns}}
		if side != "" {
			s.Label = map[string][]string{sideLabel: {side}}
		}
		p.Sample = append(p.Sample, s)
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSplitBySide_GivesTheServerItsSamplesAndItsPartOfTheRuntimes(t *testing.T) {
	// 6 s server, 2 s clients, 2 s unlabelled: the server's part of the
	// runtime's is 6/8 of it, so 7.5 of 10 s.
	path := writeCPUProfile(t, map[string]int64{"server": 6e9, "client": 2e9, "": 2e9})
	c, err := splitBySide(path, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if !near(c.Server, 0.6) || !near(c.Client, 0.2) || !near(c.Runtime, 0.2) {
		t.Errorf("shares %+v, want server 0.6, client 0.2, runtime 0.2", c)
	}
	if !near(c.ServerSecondsPerFlow, 0.00075) {
		t.Errorf("server CPU per flow %v, want 0.00075", c.ServerSecondsPerFlow)
	}
}

func TestSplitBySide_RefusesAFileThatIsNoProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pprof")
	if err := os.WriteFile(path, []byte("not a profile"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := splitBySide(path, 0.001); err == nil {
		t.Error("a file that is no profile was read")
	}
}

func TestCPUProfile_TellsTheServersSamplesFromTheLoadGenerators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and runs a flow")
	}
	ctx := context.Background()
	inst, _, err := start(ctx, "sqlite", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.close()
	// About a second of CPU: some hundred samples at the profiler's 100 Hz.
	o := options{Concurrency: 4, Duration: 2 * time.Minute, MaxFlows: 1500, CPUProfileDir: t.TempDir()}
	rs := runFlow(ctx, inst, flowByName("silent-sso-es256"), o)
	r := rs[0]
	if r.SetupError != "" || r.Errors > 0 {
		t.Fatalf("the flow failed: %s %v", r.SetupError, r.ErrorSamples)
	}
	c := r.CPUSplit
	if c == nil {
		t.Fatal("no split of the profile")
	}
	// Without the labels every sample would be the runtime's.
	if c.Server <= c.Client || c.Client <= 0 {
		t.Errorf("shares %+v: want the server's and the clients' samples told apart, the server's the larger", c)
	}
	if c.ServerSecondsPerFlow <= 0 || c.ServerSecondsPerFlow >= r.CPUSecondsPerFlow {
		t.Errorf("server CPU per flow %v of %v", c.ServerSecondsPerFlow, r.CPUSecondsPerFlow)
	}
}

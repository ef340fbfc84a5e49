package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/google/pprof/profile"
)

// The server and the load generator share this process and its cores, so
// CPU per flow counts both. A CPU profile tells them apart by label: the
// server's goroutines carry side=server and the virtual users' side=client,
// and the goroutines each starts inherit the label (a server's connections
// and batch writers; a client's connection readers and writers). What
// neither started — the garbage collector's workers, the scheduler — has
// none. go tool pprof -tags FILE shows the same split; -tagfocus
// side=server keeps the server's part.

const sideLabel = "side"

// onSide labels the calling goroutine, and those it starts from now on,
// as the server's or the clients'.
func onSide(ctx context.Context, side string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels(sideLabel, side)))
}

// cpuSplit is the share of a profile's CPU samples by side, and the
// server's CPU per flow: its own samples and the part of the unlabelled
// ones (garbage collection, scheduling) in proportion to its own.
type cpuSplit struct {
	Server               float64 `json:"server"`
	Client               float64 `json:"client"`
	Runtime              float64 `json:"runtime"`
	ServerSecondsPerFlow float64 `json:"server_cpu_seconds_per_flow"`
}

// splitBySide reads the CPU profile at path and splits perFlow (the
// process's CPU seconds per flow) by side.
func splitBySide(path string, perFlow float64) (*cpuSplit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	i := cpuSampleIndex(p)
	if i < 0 {
		return nil, fmt.Errorf("cpu profile %s: no cpu samples", path)
	}
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		side := ""
		if v := s.Label[sideLabel]; len(v) > 0 {
			side = v[0]
		}
		by[side] += s.Value[i]
		total += s.Value[i]
	}
	if total == 0 {
		return &cpuSplit{}, nil
	}
	c := &cpuSplit{
		Server:  float64(by["server"]) / float64(total),
		Client:  float64(by["client"]) / float64(total),
		Runtime: float64(total-by["server"]-by["client"]) / float64(total),
	}
	server := c.Server
	if labelled := c.Server + c.Client; labelled > 0 {
		server += c.Runtime * c.Server / labelled
	}
	c.ServerSecondsPerFlow = perFlow * server
	return c, nil
}

// cpuSampleIndex is the index of the profile's CPU time values (-1: none).
func cpuSampleIndex(p *profile.Profile) int {
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			return i
		}
	}
	return -1
}

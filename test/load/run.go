package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latency is a latency summary in milliseconds.
type latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// result is one flow on one backend.
type result struct {
	Backend     string `json:"backend"`
	Flow        string `json:"flow"`
	Concurrency int    `json:"concurrency"`
	// Completed counts successful flows, Errors failed ones.
	Completed    int      `json:"completed"`
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	SetupError   string   `json:"setup_error,omitempty"`
	// ElapsedSeconds is the measured phase's wall time, until the last
	// in-flight flow finished.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	FlowsPerSecond float64 `json:"flows_per_second"`
	// LatencyMs summarizes successful flows.
	LatencyMs latency `json:"latency_ms"`
	// CPUSeconds is the process's user+sys CPU over the phase (server and
	// load generator together); CPUSecondsPerFlow divides it by Completed.
	CPUSeconds        float64 `json:"cpu_seconds"`
	CPUSecondsPerFlow float64 `json:"cpu_seconds_per_flow"`
	// PeakRSSMiB is the highest resident set sampled during the phase;
	// MaxRSSMiB the process's high-water mark so far (getrusage).
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	MaxRSSMiB  float64 `json:"max_rss_mib"`
	// Limit names the measured limit that bounds the flow (one operation
	// per flow) and FractionOfLimit is FlowsPerSecond over it; empty when
	// the flow has none. CPUProfile is the phase's profile file, if taken.
	Limit          string  `json:"limit,omitempty"`
	LimitPerSecond float64 `json:"limit_per_second,omitempty"`
	// LimitBeforeAfter are the two measurements LimitPerSecond is the
	// mean of, just before and just after the closed phase.
	LimitBeforeAfter []float64 `json:"limit_before_after,omitempty"`
	FractionOfLimit  float64   `json:"fraction_of_limit,omitempty"`
	CPUProfile       string    `json:"cpu_profile,omitempty"`
	// CPUSplit divides CPUSecondsPerFlow by whose goroutines the profile's
	// samples came from (with -cpuprofile-dir).
	CPUSplit *cpuSplit `json:"cpu_split,omitempty"`
	// PacedRate is the pace of a paced phase (-rate), flows due per
	// second; 0 for the closed phase, where each virtual user starts its
	// next flow when its last one ends.
	PacedRate float64 `json:"paced_rate,omitempty"`
	// StartLagMs summarizes, in a paced phase, how late flows started
	// after they were due (no free virtual user, or this process busy);
	// LatencyMs includes it.
	StartLagMs *latency `json:"start_lag_ms,omitempty"`
}

// errorLog counts errors and keeps a few distinct messages.
type errorLog struct {
	mu      sync.Mutex
	n       int
	samples []string
}

func (e *errorLog) add(err error) {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.samples) < 5 && !slices.Contains(e.samples, msg) {
		e.samples = append(e.samples, msg)
	}
}

// runFlow provisions o.Concurrency virtual users, warms each up with one
// unmeasured run, then runs f on all of them, each starting its next flow
// when its last one ended, until o.Duration has passed (or o.MaxFlows
// flows were started), and summarizes. With o.Rate set it then runs f
// again at that pace (paced) and summarizes that phase too.
func runFlow(ctx context.Context, inst *instance, f flowDef, o options) []*result {
	r := &result{Backend: inst.backend, Flow: f.name, Concurrency: o.Concurrency}
	vus := make([]*vu, o.Concurrency)
	for i := range vus {
		vus[i] = newVU(inst, i+1)
	}
	defer func() {
		for _, v := range vus {
			v.close()
		}
	}()

	// Setup and warm-up, unmeasured.
	var setupErr errorLog
	var wg sync.WaitGroup
	for _, v := range vus {
		wg.Go(func() {
			onSide(ctx, "client")
			if err := f.setup(ctx, v); err != nil {
				setupErr.add(fmt.Errorf("setup: %w", err))
				return
			}
			if err := f.run(ctx, v); err != nil {
				setupErr.add(fmt.Errorf("warm-up: %w", err))
			}
		})
	}
	wg.Wait()
	if setupErr.n > 0 {
		r.SetupError = setupErr.samples[0]
		r.ErrorSamples = setupErr.samples
		return []*result{r}
	}
	before, err := boundLimit(f, o)
	if err != nil {
		r.SetupError = err.Error()
		return []*result{r}
	}
	measure(ctx, inst, f, vus, o, r, 0)
	if after, err := boundLimit(f, o); err != nil {
		r.SetupError = err.Error()
	} else if before.PerSecond > 0 && after.PerSecond > 0 {
		r.LimitBeforeAfter = []float64{before.PerSecond, after.PerSecond}
		r.setLimit(limit{Name: f.bound, PerSecond: (before.PerSecond + after.PerSecond) / 2})
	}
	out := []*result{r}
	if rate := o.Rate.of(r.FlowsPerSecond); rate > 0 && r.SetupError == "" && ctx.Err() == nil {
		p := &result{Backend: inst.backend, Flow: f.name, Concurrency: o.Concurrency, PacedRate: rate}
		measure(ctx, inst, f, vus, o, p, rate)
		if r.Limit != "" {
			p.setLimit(limit{Name: r.Limit, PerSecond: r.LimitPerSecond})
		}
		out = append(out, p)
	}
	return out
}

// boundLimit measures the limit that bounds f (none: the zero limit).
func boundLimit(f flowDef, o options) (limit, error) {
	if f.bound == "" || o.limiter == nil {
		return limit{}, nil
	}
	runtime.GC()
	return o.limiter.measure(f.bound, o.LimitsDuration)
}

// setLimit records l as the limit bounding r's flow.
func (r *result) setLimit(l limit) {
	r.Limit, r.LimitPerSecond, r.FractionOfLimit = l.Name, l.PerSecond, r.FlowsPerSecond/l.PerSecond
}

// measure runs f on vus for o.Duration (at most o.MaxFlows flows) into r.
// With rate 0 the load is closed: each virtual user starts its next flow
// when its last one ended, as fast as the server answers. With a rate,
// flows are due at that pace whatever the server does, each taken by the
// next free virtual user, and a flow's latency counts from the moment it
// was due: time spent waiting for a free user is the server's delay too
// (no coordinated omission).
func measure(ctx context.Context, inst *instance, f flowDef, vus []*vu, o options, r *result, rate float64) {
	runtime.GC()
	debug.FreeOSMemory()
	sampler := startRSSSampler()
	if o.CPUProfileDir != "" && rate == 0 {
		path, stop, err := startCPUProfile(o.CPUProfileDir, inst.backend, f.name)
		if err != nil {
			sampler.stop()
			r.SetupError = err.Error()
			return
		}
		r.CPUProfile = path
		defer func() {
			stop()
			if r.CPUSplit, err = splitBySide(path, r.CPUSecondsPerFlow); err != nil {
				r.SetupError = err.Error()
			}
		}()
	}
	var errs errorLog
	var started atomic.Int64
	lats := make([][]time.Duration, len(vus))
	lags := make([][]time.Duration, len(vus))
	cpu0 := cpuTime()
	t0 := time.Now()
	deadline := t0.Add(o.Duration)
	// next hands out the time each flow is due: now (closed), or the
	// schedule's next slot (paced); false when the phase is over.
	next := func() (time.Time, bool) {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return time.Time{}, false
		}
		if o.MaxFlows > 0 && started.Add(1) > int64(o.MaxFlows) {
			return time.Time{}, false
		}
		return time.Now(), true
	}
	if rate > 0 {
		due := pace(ctx, t0, deadline, rate, o.MaxFlows)
		next = func() (time.Time, bool) {
			t, ok := <-due
			return t, ok
		}
	}
	var wg sync.WaitGroup
	for i, v := range vus {
		wg.Go(func() {
			onSide(ctx, "client")
			own := make([]time.Duration, 0, 1024)
			var lag []time.Duration
			for {
				s, ok := next()
				if !ok {
					break
				}
				if rate > 0 {
					lag = append(lag, time.Since(s))
				}
				err := f.run(ctx, v)
				d := time.Since(s)
				if err != nil && ctx.Err() != nil {
					break // interrupted: not the server's error
				}
				if err != nil {
					errs.add(err)
					if f.repair != nil {
						if err := f.repair(ctx, v); err != nil {
							errs.add(fmt.Errorf("repair: %w", err))
							time.Sleep(100 * time.Millisecond)
						}
					}
					continue
				}
				own = append(own, d)
			}
			lats[i], lags[i] = own, lag
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	peak := sampler.stop()

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	r.Completed, r.Errors, r.ErrorSamples = len(all), errs.n, errs.samples
	r.ElapsedSeconds = elapsed.Seconds()
	r.FlowsPerSecond = float64(len(all)) / elapsed.Seconds()
	r.LatencyMs = summarize(all)
	if rate > 0 {
		all = all[:0]
		for _, l := range lags {
			all = append(all, l...)
		}
		slices.Sort(all)
		lag := summarize(all)
		r.StartLagMs = &lag
	}
	r.CPUSeconds = cpu.Seconds()
	if len(all) > 0 {
		r.CPUSecondsPerFlow = cpu.Seconds() / float64(len(all))
	}
	r.MaxRSSMiB = mib(maxRSS())
	r.PeakRSSMiB = mib(peak)
	if peak == 0 { // no sampling on this system
		r.PeakRSSMiB = r.MaxRSSMiB
	}
}

// pace sends the times flows are due, rate per second from t0 until
// deadline (at most maxFlows of them, 0: no limit), each as its time comes;
// the channel is closed at the end. A slot is sent when it is due, so
// virtual users that are all busy find due slots waiting and take them
// late: that lateness is counted in their latency. When the backlog fills
// the channel, the schedule waits; each slot still carries its own time.
func pace(ctx context.Context, t0, deadline time.Time, rate float64, maxFlows int) <-chan time.Time {
	due := make(chan time.Time, 1024)
	interval := time.Duration(float64(time.Second) / rate)
	go func() {
		defer close(due)
		for k := 0; maxFlows == 0 || k < maxFlows; k++ {
			t := t0.Add(time.Duration(k) * interval)
			if !t.Before(deadline) {
				return
			}
			if wait := time.Until(t); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			select {
			case <-ctx.Done():
				return
			case due <- t:
			}
		}
	}()
	return due
}

// startCPUProfile profiles this process (the server and the load
// generator) into DIR/BACKEND-FLOW.pprof until stop is called.
func startCPUProfile(dir, backend, flow string) (path string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("cpuprofile-dir: %w", err)
	}
	path = filepath.Join(dir, backend+"-"+flow+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, fmt.Errorf("cpuprofile-dir: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("cpu profile: %w", err)
	}
	return path, func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// summarize takes sorted latencies (nearest-rank percentiles).
func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	pct := func(p float64) float64 {
		i := int(p*float64(len(d))+0.999999) - 1
		return ms(d[max(0, min(i, len(d)-1))])
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return latency{P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// rssSampler records the highest resident set seen while it runs.
type rssSampler struct {
	done chan struct{}
	peak chan uint64
}

func startRSSSampler() *rssSampler {
	s := &rssSampler{done: make(chan struct{}), peak: make(chan uint64, 1)}
	go func() {
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := currentRSS(); ok && v > peak {
				peak = v
			}
			select {
			case <-s.done:
				s.peak <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() uint64 {
	close(s.done)
	return <-s.peak
}

// Command load is Latchkey's load generator (DESIGN.md §9): it starts
// Latchkey in this process on 127.0.0.1:0 — over SQLite in a temporary
// directory and over PostgreSQL in a fresh schema — provisions an
// organization, and drives whole flows over real HTTP with virtual users,
// each a real HTTP client with its own cookie jar:
//
//	silent-sso          a signed-in browser: authorize (no login page) → code → token (RS256 id_token) → userinfo
//	silent-sso-es256    the same through an application whose ID tokens are ES256
//	refresh             refresh_token grant, rotating the refresh token each time (RS256 id_token)
//	refresh-es256       the same through the application whose ID tokens are ES256
//	client-credentials  client_credentials grant, opaque access token
//	introspect          client_credentials, then the client introspects its token
//	password-login      a fresh browser: authorize → identifier → password → code → token
//	ticket-login        platform API update + generate-token, then the landing in a fresh browser
//
// Before the flows it measures, in the same process, the machine's limits:
// RS256, ES256 and EdDSA signatures per second and argon2id hashes per
// second on all cores. Each flow that does one of those once is reported
// also as a fraction of that limit.
//
// For every flow and backend it reports completed flows, errors, flows/s,
// latency percentiles, CPU seconds per flow and peak memory, as a table or
// (-json) as JSON. Each flow runs for -duration and at most -max-flows
// times, so the command always ends by itself. It sends traffic only to
// 127.0.0.1. -cpuprofile-dir DIR writes a CPU profile of each flow's
// measured phase to DIR/BACKEND-FLOW.pprof (go tool pprof -top FILE) and
// reports which share of its samples was the server's, the load
// generator's and the runtime's (sides.go).
//
// -rate (N flows/s, or P% of the rate the flow reached) runs each flow a
// second time, paced: flows fall due at that rate whatever the server
// does, each taken by the next free virtual user, and latency counts from
// when a flow was due, so a stalled server's backlog shows in it.
//
//	go run ./test/load [-duration 10s] [-concurrency 8] [-rate 50%] [-json] [-cpuprofile-dir DIR]
//
// Passwords are hashed with the production argon2id parameters: the cost
// of a password login is what that flow measures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/password"
)

// options are the command's flags.
type options struct {
	Duration    time.Duration `json:"-"`
	DurationSec float64       `json:"duration_seconds_per_flow"`
	Concurrency int           `json:"concurrency"`
	MaxFlows    int           `json:"max_flows"`
	Backends    []string      `json:"backends"`
	Flows       []string      `json:"flows"`
	JSON        bool          `json:"-"`
	Verbose     bool          `json:"-"`
	// CPUProfileDir, if set, receives one CPU profile per flow and backend.
	CPUProfileDir  string        `json:"cpuprofile_dir,omitempty"`
	LimitsDuration time.Duration `json:"-"`
	// Rate, when set, adds a paced phase to every flow (-rate).
	Rate rateSpec `json:"rate,omitempty"`
	// limiter measures the limit bounding each flow just before and just
	// after its closed phase.
	limiter *limiter
}

// report is the whole output of a run (the -json document).
type report struct {
	Started    time.Time `json:"started"`
	GoVersion  string    `json:"go_version"`
	GOOS       string    `json:"goos"`
	GOARCH     string    `json:"goarch"`
	NumCPU     int       `json:"num_cpu"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Argon2id   string    `json:"argon2id"`
	Options    options   `json:"options"`
	Limits     []limit   `json:"limits"`
	Results    []*result `json:"results"`
	Notes      []string  `json:"notes"`
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	var backends, flows string
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each flow runs on each backend")
	flag.IntVar(&o.Concurrency, "concurrency", 8, "virtual users per flow, each a separate HTTP client with its own cookie jar")
	flag.IntVar(&o.MaxFlows, "max-flows", 100000, "at most this many flows per flow and backend (0: no limit but -duration)")
	flag.StringVar(&backends, "backends", "sqlite,postgres", "comma-separated backends to run: sqlite, postgres")
	flag.StringVar(&flows, "flows", strings.Join(flowNames(), ","), "comma-separated flows to run")
	flag.BoolVar(&o.JSON, "json", false, "print the results as JSON instead of a table")
	flag.BoolVar(&o.Verbose, "v", false, "show the server's info-level log (default: warnings and errors)")
	flag.StringVar(&o.CPUProfileDir, "cpuprofile-dir", "", "write a CPU profile of each flow's measured phase to DIR/BACKEND-FLOW.pprof")
	flag.Var(&o.Rate, "rate", "after each flow's closed phase, run it again with flows due at this pace: N flows/s, or P% of the rate the closed phase reached (e.g. 50%); latency then counts from when each flow was due")
	flag.DurationVar(&o.LimitsDuration, "limits-duration", 2*time.Second, "how long each limit (RS256, ES256, EdDSA signatures, argon2id hashes per second) is measured")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./test/load [flags]\n\n"+
			"Runs whole Latchkey flows against an in-process server on 127.0.0.1, on SQLite and on\n"+
			"PostgreSQL (LATCHKEY_TEST_DATABASE_URL, default %s),\n"+
			"and reports flows/s, latency percentiles, CPU per flow and peak memory.\n\nflags:\n", defaultPostgresURL)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "load: unexpected arguments %q\n", flag.Args())
		return 2
	}
	if o.Duration <= 0 || o.Concurrency < 1 || o.MaxFlows < 0 || o.LimitsDuration <= 0 {
		fmt.Fprintln(os.Stderr, "load: -duration, -concurrency and -limits-duration must be positive and -max-flows not negative")
		return 2
	}
	o.DurationSec = o.Duration.Seconds()
	var err error
	if o.Backends, err = pick(backends, []string{"sqlite", "postgres"}); err != nil {
		fmt.Fprintln(os.Stderr, "load: -backends:", err)
		return 2
	}
	if o.Flows, err = pick(flows, flowNames()); err != nil {
		fmt.Fprintln(os.Stderr, "load: -flows:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	level := slog.LevelWarn
	if o.Verbose {
		level = slog.LevelInfo
	}
	serverLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	progress := io.Writer(os.Stderr)

	p := password.Default
	rep := &report{
		Started: time.Now().UTC(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Options: o,
		Argon2id: fmt.Sprintf("m=%dKiB t=%d p=%d (production default)", p.Memory, p.Time, p.Threads),
	}
	rep.Notes = append(rep.Notes,
		"The server and the load generator share one process: CPU per flow and peak RSS include the clients' work (HTTP, cookies, form parsing, oauth2).",
		"CPU is this process's user+sys time (getrusage) over the measured phase divided by completed flows; PostgreSQL's own CPU (a separate server process) is not included, SQLite's is.",
		"RSS peak is sampled during each phase after returning freed memory to the OS; maxRSS is the process high-water mark so far (getrusage), so it never goes down.",
	)

	fmt.Fprintf(progress, "== measuring this machine's limits (%s each)\n", o.LimitsDuration)
	lim, err := newLimiter()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load: limits:", err)
		return 1
	}
	limits, err := lim.measureAll(o.LimitsDuration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load: limits:", err)
		return 1
	}
	o.limiter, rep.Limits = lim, limits
	for _, l := range limits {
		fmt.Fprintf(progress, "   %s: %.0f/s\n", l.Name, l.PerSecond)
	}
	rep.Notes = append(rep.Notes, "Limits are measured in this process before the flows, on all cores with nothing else running here. A flow's fraction is its flows/s over the limit of the one operation it does once per flow that bounds it, that limit measured again just before and just after the flow's closed phase (the mean of the two; limit_before_after in -json), so that a shared machine's drift during the run does not skew it. The load generator shares the cores, so 100% is out of reach: count its CPU when you read the fraction. maxRSS includes the limits' argon2id hashes (19 MiB each, one per core).")
	if o.CPUProfileDir != "" {
		rep.Notes = append(rep.Notes, "CPU profiles ("+o.CPUProfileDir+") cover the measured phase of this process: the server and the load generator's clients together.")
	}

	rotated := false
	for _, backend := range o.Backends {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(progress, "== %s: starting Latchkey\n", backend)
		inst, note, err := start(ctx, backend, serverLog)
		if note != "" {
			fmt.Fprintf(progress, "== %s: %s\n", backend, note)
			rep.Notes = append(rep.Notes, backend+": "+note)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: %s: %v\n", backend, err)
			return 1
		}
		if inst == nil { // skipped
			continue
		}
		rotated = rotated || inst.rotate
		if !inst.rotate {
			n := backend + ": could not bind source addresses other than 127.0.0.1; all sign-ins come from one address, so the per-address sign-in limit (100 attempts per 15 minutes) will reject password logins"
			fmt.Fprintln(progress, "== "+n)
			rep.Notes = append(rep.Notes, n)
		}
		for _, name := range o.Flows {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(progress, "== %s: %s for %s with %d virtual users\n", backend, name, o.Duration, o.Concurrency)
			for _, r := range runFlow(ctx, inst, flowByName(name), o) {
				if r.PacedRate > 0 {
					fmt.Fprintf(progress, "   paced at %.0f flows/s: ", r.PacedRate)
				} else {
					fmt.Fprint(progress, "   ")
				}
				fmt.Fprintf(progress, "%d flows, %d errors, %.1f flows/s, p99 %s", r.Completed, r.Errors, r.FlowsPerSecond, ms(r.LatencyMs.P99))
				if l := r.StartLagMs; l != nil {
					fmt.Fprintf(progress, " (started late by p50 %s, p99 %s, max %s)", ms(l.P50), ms(l.P99), ms(l.Max))
				}
				if r.Limit != "" {
					fmt.Fprintf(progress, " (%.0f%% of the %s limit)", 100*r.FractionOfLimit, r.Limit)
				}
				fmt.Fprintln(progress)
				for _, e := range r.ErrorSamples {
					fmt.Fprintf(progress, "   error: %s\n", e)
				}
				rep.Results = append(rep.Results, r)
			}
		}
		inst.close()
	}
	if rotated {
		rep.Notes = append(rep.Notes, "Every browser (virtual user or fresh browser) dials from its own loopback source address (127.x.y.z), so the per-address sign-in limit sees many clients as in production; the destination is always 127.0.0.1.")
	}
	if ctx.Err() != nil {
		rep.Notes = append(rep.Notes, "interrupted: the last phase ran shorter than -duration")
	}

	if o.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			return 1
		}
	} else {
		printTable(os.Stdout, rep)
	}
	// Any error fails the run (and `make bench`): under this load every
	// flow is expected to succeed.
	for _, r := range rep.Results {
		if r.Completed == 0 || r.Errors > 0 || r.SetupError != "" {
			return 1
		}
	}
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

// rateSpec is -rate: flows per second, or a percentage of the rate the
// flow's closed phase reached in the same run.
type rateSpec struct {
	PerSecond float64 `json:"per_second,omitempty"`
	Percent   float64 `json:"percent_of_closed,omitempty"`
}

func (r *rateSpec) String() string {
	switch {
	case r == nil:
		return ""
	case r.Percent > 0:
		return strconv.FormatFloat(r.Percent, 'f', -1, 64) + "%"
	case r.PerSecond > 0:
		return strconv.FormatFloat(r.PerSecond, 'f', -1, 64)
	}
	return ""
}

func (r *rateSpec) Set(v string) error {
	pct := strings.HasSuffix(v, "%")
	n, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil || !(n > 0) || math.IsInf(n, 0) || (pct && n > 1000) {
		return fmt.Errorf("want flows per second (e.g. 300) or a percentage of the closed rate (e.g. 50%%), got %q", v)
	}
	*r = rateSpec{}
	if pct {
		r.Percent = n
	} else {
		r.PerSecond = n
	}
	return nil
}

// of is the pace for a flow whose closed phase reached closed flows/s (0:
// no paced phase).
func (r rateSpec) of(closed float64) float64 {
	if r.Percent > 0 {
		return closed * r.Percent / 100
	}
	return r.PerSecond
}

// pick parses a comma-separated selection from known, keeping its order.
func pick(s string, known []string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		found := false
		for _, k := range known {
			if k == v {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown %q (known: %s)", v, strings.Join(known, ", "))
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing selected")
	}
	return out, nil
}

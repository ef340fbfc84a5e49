package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// printTable writes the report as an aligned text table.
func printTable(w io.Writer, rep *report) {
	o := rep.Options
	fmt.Fprintf(w, "Latchkey load test: %s %s/%s, %d CPUs (GOMAXPROCS %d); %d virtual users, %s per flow and backend; argon2id %s\n\n",
		rep.GoVersion, rep.GOOS, rep.GOARCH, rep.NumCPU, rep.GOMAXPROCS, o.Concurrency, o.Duration, rep.Argon2id)
	fmt.Fprint(w, "Limits on this machine (all cores, per second):")
	for _, l := range rep.Limits {
		fmt.Fprintf(w, " %s %.0f;", l.Name, l.PerSecond)
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tflow\tload\tflows\terrors\tflows/s\tof limit\tp50\tp95\tp99\tmax\tCPU/flow\tRSS peak\tmaxRSS\t")
	for _, r := range rep.Results {
		load := "closed"
		if r.PacedRate > 0 {
			load = fmt.Sprintf("paced %.0f/s", r.PacedRate)
		}
		if r.SetupError != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\tsetup failed\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", r.Backend, r.Flow, load)
			continue
		}
		l := r.LatencyMs
		frac := "-"
		if r.Limit != "" {
			frac = fmt.Sprintf("%.0f%% %s", 100*r.FractionOfLimit, r.Limit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f MiB\t%.0f MiB\t\n",
			r.Backend, r.Flow, load, r.Completed, r.Errors, r.FlowsPerSecond, frac,
			ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max), ms(r.CPUSecondsPerFlow*1000), r.PeakRSSMiB, r.MaxRSSMiB)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		if r.SetupError != "" {
			fmt.Fprintf(w, "%s %s: %s\n", r.Backend, r.Flow, r.SetupError)
		} else if r.Errors > 0 {
			fmt.Fprintf(w, "%s %s: %d errors, e.g. %s\n", r.Backend, r.Flow, r.Errors, r.ErrorSamples[0])
		}
	}
	fmt.Fprintln(w, "Latency and CPU/flow are per whole flow (all of its HTTP requests); RSS in MiB. \"of limit\": flows/s over the measured limit of the operation bounding the flow. Load \"closed\": each virtual user starts its next flow when its last one ended; \"paced\": flows are due at that rate whatever the server does, and latency counts from when each was due.")
	for _, r := range rep.Results {
		if r.CPUProfile != "" {
			fmt.Fprintf(w, "CPU profile %s %s: %s\n", r.Backend, r.Flow, r.CPUProfile)
		}
		if c := r.CPUSplit; c != nil {
			fmt.Fprintf(w, "  samples: server %.0f%%, load generator %.0f%%, runtime %.0f%%; the server's CPU per flow with its part of the runtime's: %s\n",
				100*c.Server, 100*c.Client, 100*c.Runtime, ms(c.ServerSecondsPerFlow*1000))
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "- "+n)
	}
}

// ms formats milliseconds with about three significant digits.
func ms(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	}
}

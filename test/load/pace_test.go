package main

import (
	"context"
	"testing"
	"time"
)

func TestRateSpec_ParsesARateOrAPercentage(t *testing.T) {
	for _, c := range []struct {
		in         string
		closed     float64
		want       float64
		wantString string
	}{
		{"300", 1000, 300, "300"},
		{"50%", 1000, 500, "50%"},
		{"12.5%", 800, 100, "12.5%"},
		{"0.5", 1000, 0.5, "0.5"},
	} {
		var r rateSpec
		if err := r.Set(c.in); err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if got := r.of(c.closed); got != c.want {
			t.Errorf("%q of %v = %v, want %v", c.in, c.closed, got, c.want)
		}
		if r.String() != c.wantString {
			t.Errorf("%q prints as %q", c.in, r.String())
		}
	}
	for _, bad := range []string{"", "%", "abc", "0", "-5", "0%", "5000%", "Inf", "NaN", "1e400"} {
		var r rateSpec
		if err := r.Set(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, r)
		}
	}
	if got := (rateSpec{}).of(1234); got != 0 {
		t.Errorf("no -rate paces at %v, want no paced phase", got)
	}
}

// pace hands out the slots of its schedule, each t0 + k/rate, until the
// deadline or maxFlows, then closes.
func TestPace_HandsOutEverySlotOfTheScheduleOnce(t *testing.T) {
	ctx := t.Context()
	t0 := time.Now()
	var got []time.Time
	for s := range pace(ctx, t0, t0.Add(50*time.Millisecond), 1000, 0) {
		got = append(got, s)
	}
	if len(got) != 50 {
		t.Fatalf("%d slots in 50 ms at 1000/s, want 50", len(got))
	}
	for k, s := range got {
		if want := t0.Add(time.Duration(k) * time.Millisecond); !s.Equal(want) {
			t.Fatalf("slot %d due at %v, want %v", k, s.Sub(t0), want.Sub(t0))
		}
		if time.Now().Before(s) {
			t.Fatalf("slot %d handed out before it was due", k)
		}
	}

	n := 0
	for range pace(ctx, t0, t0.Add(time.Hour), 1e6, 10) {
		n++
	}
	if n != 10 {
		t.Fatalf("%d slots with at most 10 flows", n)
	}

	cctx, cancel := context.WithCancel(ctx)
	due := pace(cctx, time.Now(), time.Now().Add(time.Hour), 1, 0)
	<-due // the first slot is due at once
	cancel()
	for range due { // closed once cancelled, without waiting an hour
	}
}

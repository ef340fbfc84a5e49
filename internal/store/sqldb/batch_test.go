package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a batch writer that records each batch's size.
type recorder struct {
	mu      sync.Mutex
	batches []int
	fail    error
}

func (r *recorder) write(batch []*insertGroup) {
	r.mu.Lock()
	r.batches = append(r.batches, len(batch))
	r.mu.Unlock()
	for _, g := range batch {
		g.err = r.fail
		close(g.done)
	}
}

func (r *recorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.batches...)
}

func group(ctx context.Context) *insertGroup {
	return &insertGroup{ctx: ctx, table: "t", cols: "a", rows: [][]any{{1}}}
}

func waitQueued(t *testing.T, queued func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued after 60 s", queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatcher_AnIdleWriterWritesAtOnceAlone(t *testing.T) {
	r := &recorder{fail: errors.New("boom")}
	b := &batcher{write: r.write, maxRunning: 1}
	if err := b.submit(group(t.Context())); err == nil || err.Error() != "boom" {
		t.Fatalf("submit: err = %v, want the writer's error", err)
	}
	if got := r.sizes(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("batches = %v, want one of one group", got)
	}
	if b.running != 0 {
		t.Fatalf("running = %d after the write, want 0", b.running)
	}
}

func TestBatcher_QueuedWritesGoTogetherUpToTheRowBound(t *testing.T) {
	r := &recorder{}
	b := &batcher{write: r.write, maxRunning: 1}
	queued, release := b.hold()
	n := batchRows + 6
	errs := make(chan error, n)
	for range n {
		go func() { errs <- b.submit(group(t.Context())) }()
	}
	waitQueued(t, queued, n)
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := r.sizes(); len(got) != 2 || got[0] != batchRows || got[1] != 6 {
		t.Fatalf("batches = %v, want [%d 6]", got, batchRows)
	}
}

func TestBatcher_ACallerThatGoesAwayIsToldSo(t *testing.T) {
	r := &recorder{}
	b := &batcher{write: r.write, maxRunning: 1}
	queued, release := b.hold()
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.submit(group(ctx)) }()
	waitQueued(t, queued, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("submit: err = %v, want context.Canceled", err)
	}
}

func TestBatcher_ConcurrentBatchesStartBesideARunningOne(t *testing.T) {
	// A writer that blocks its first batch until the second has been
	// written: with maxRunning 2, the queued write must not wait for it.
	first := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	calls := 0
	b := &batcher{maxRunning: 2}
	b.write = func(batch []*insertGroup) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			<-first
		} else {
			once.Do(func() { close(first) })
		}
		for _, g := range batch {
			close(g.done)
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- b.submit(group(t.Context())) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		started := calls == 1
		mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first write did not start within 60 s")
		}
		time.Sleep(time.Millisecond)
	}
	go func() { errs <- b.submit(group(t.Context())) }()
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("a write queued beside a running batch waited for it")
		}
	}
}

// A PostgreSQL batch is one statement: each table's rows in chunks of
// powers of two, tables in name order, all but the last part in WITH, and
// the arguments in the order of the markers.
func TestBatchStatement_OneStatementForTheWholeBatch(t *testing.T) {
	row := func(v ...any) []any { return v }
	groups := []*insertGroup{
		{table: "tokens", cols: "a, b", rows: [][]any{row(1, 2), row(3, 4)}},
		{table: "audit_events", cols: "x", rows: [][]any{row("e1")}},
		{table: "tokens", cols: "a, b", rows: [][]any{row(5, 6)}},
		{table: "audit_events", cols: "x", rows: [][]any{row("e2")}},
	}
	query, args := batchStatement(groups)
	want := "WITH w0 AS (INSERT INTO audit_events (x) VALUES (?), (?)), " +
		"w1 AS (INSERT INTO tokens (a, b) VALUES (?, ?), (?, ?)) " +
		"INSERT INTO tokens (a, b) VALUES (?, ?)"
	if query != want {
		t.Errorf("statement:\n got %s\nwant %s", query, want)
	}
	wantArgs := []any{"e1", "e2", 1, 2, 3, 4, 5, 6}
	if fmt.Sprint(args) != fmt.Sprint(wantArgs) {
		t.Errorf("arguments %v, want %v", args, wantArgs)
	}
	if n := strings.Count(query, "?"); n != len(args) {
		t.Errorf("%d markers for %d arguments", n, len(args))
	}

	// Rows a group carries (its audit events) go with their tables.
	carrier := []*insertGroup{
		{table: "login_tickets", cols: "t", rows: [][]any{row("t1")},
			also: []*insertGroup{{table: "audit_events", cols: "x", rows: [][]any{row("e1")}}}},
		{table: "audit_events", cols: "x", rows: [][]any{row("e2")}},
	}
	query, args = batchStatement(carrier)
	want = "WITH w0 AS (INSERT INTO audit_events (x) VALUES (?), (?)) INSERT INTO login_tickets (t) VALUES (?)"
	if query != want || fmt.Sprint(args) != fmt.Sprint([]any{"e1", "e2", "t1"}) {
		t.Errorf("a group with rows of another table:\n got %s %v\nwant %s [e1 e2 t1]", query, args, want)
	}

	query, args = batchStatement(groups[1:2])
	if query != "INSERT INTO audit_events (x) VALUES (?)" || len(args) != 1 {
		t.Errorf("one table, one chunk: %s %v", query, args)
	}
}

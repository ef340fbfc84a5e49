package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Group commit.
//
// The rows the protocol flows insert on every request — access and refresh
// tokens, authorization codes, pending authorization requests — are
// written by a small batching writer: concurrent inserts share one
// transaction, so a loaded server pays one commit (one WAL write and
// flush) for many rows instead of one each.
//
//   - When no batch is being written, a write goes at once, alone, on the
//     caller's goroutine: an idle server adds no latency.
//   - While batches are being written, new writes queue. A queued write
//     waits for a running batch to finish, or for at most batchWait when
//     another batch may start beside the running ones (PostgreSQL), or
//     until batchRows rows are queued.
//   - Each caller's rows (CreateTokens' access and refresh token) are
//     stored together or not at all, and each caller gets its own error:
//     when a batch's transaction fails for any reason but an unavailable
//     database, every caller's rows are written again in a transaction of
//     their own, so only the bad rows fail.
//   - A call returns nil only once its rows are committed.
//   - On PostgreSQL a batch is one statement (batchStatement), with no
//     BEGIN or COMMIT around it; on SQLite it is a transaction on the
//     writer's connection.

const (
	// batchRows caps the rows of one batch transaction.
	batchRows = 64
	// batchWait bounds how long a queued write waits for a batch to start
	// when the database takes concurrent batches.
	batchWait = time.Millisecond
)

// insertGroup is one caller's rows of one table.
type insertGroup struct {
	ctx   context.Context
	table string
	cols  string
	rows  [][]any
	// relaxed: the rows may be committed without waiting for the WAL
	// flush (PostgreSQL synchronous_commit off; see docs/performance.md).
	relaxed bool
	// guard, when set, is a conditional UPDATE (with guardArgs) that uses
	// a row up — the code a token exchange redeems, the refresh token a
	// rotation replaces; the group's rows are stored only if it changed
	// a row, else the group fails with errGuardMissed and stores nothing.
	guard     string
	guardArgs []any
	// also are rows of other tables stored with the group's, or not at
	// all (a change and its audit event); only their table, cols and rows
	// count.
	also []*insertGroup

	queued time.Time // when submitted (metrics)
	err    error
	done   chan struct{}
}

// size is the number of rows g stores, its own and those it carries.
func (g *insertGroup) size() int {
	n := len(g.rows)
	for _, a := range g.also {
		n += len(a.rows)
	}
	return n
}

// errGuardMissed: a group's guard changed no row (the row was used up
// already, or never existed), so its rows were not stored.
var errGuardMissed = errors.New("guard changed no row")

// batcher queues insert groups and runs their batches.
type batcher struct {
	write      func(batch []*insertGroup)
	maxRunning int // batches written at once: 1 on SQLite (one writer)

	mu      sync.Mutex
	queue   []*insertGroup
	rows    int // rows queued
	running int
	armed   bool // a batchWait timer is pending
	held    bool // tests: queue everything until released
}

// submit queues g and waits for its result.
func (b *batcher) submit(g *insertGroup) error {
	g.done, g.queued = make(chan struct{}), time.Now()
	b.mu.Lock()
	b.queue = append(b.queue, g)
	b.rows += g.size()
	switch {
	case b.held:
		b.mu.Unlock()
	case b.running == 0:
		// Idle: write at once on this goroutine, with whatever else
		// happens to be queued.
		b.running++
		batch := b.takeLocked()
		b.mu.Unlock()
		b.write(batch)
		b.next()
	default:
		b.scheduleLocked()
		b.mu.Unlock()
	}
	select {
	case <-g.done:
		return g.err
	case <-g.ctx.Done():
		// The rows may still be written; the caller has gone.
		return g.ctx.Err()
	}
}

// takeLocked removes the next batch from the queue: groups in order until
// batchRows rows (at least one group).
func (b *batcher) takeLocked() []*insertGroup {
	n, rows := 0, 0
	for n < len(b.queue) && (n == 0 || rows+b.queue[n].size() <= batchRows) {
		rows += b.queue[n].size()
		n++
	}
	batch := make([]*insertGroup, n)
	copy(batch, b.queue)
	clear(b.queue[:n])
	b.queue = b.queue[n:]
	b.rows -= rows
	return batch
}

// scheduleLocked starts another batch beside the running ones when the
// queue is full, or arms the batchWait timer.
func (b *batcher) scheduleLocked() {
	if b.running >= b.maxRunning || len(b.queue) == 0 {
		return
	}
	if b.rows >= batchRows {
		b.running++
		go b.drive(b.takeLocked())
		return
	}
	if !b.armed {
		b.armed = true
		time.AfterFunc(batchWait, b.expire)
	}
}

func (b *batcher) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	if b.held || len(b.queue) == 0 || b.running >= b.maxRunning {
		return
	}
	b.running++
	go b.drive(b.takeLocked())
}

// next, after a batch was written, hands what queued meanwhile to a
// goroutine of its own, so the caller that wrote the batch returns.
func (b *batcher) next() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held || len(b.queue) == 0 {
		b.running--
		return
	}
	go b.drive(b.takeLocked())
}

// drive writes batch, then every batch queued meanwhile.
func (b *batcher) drive(batch []*insertGroup) {
	for {
		b.write(batch)
		b.mu.Lock()
		if b.held || len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch = b.takeLocked()
		b.mu.Unlock()
	}
}

// hold makes writes queue until the returned release, which writes what
// queued as one batch (tests: a batch of a known composition).
func (b *batcher) hold() (queued func() int, release func()) {
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
	queued = func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue)
	}
	release = func() {
		b.mu.Lock()
		b.held = false
		if len(b.queue) == 0 || b.running >= b.maxRunning {
			b.mu.Unlock()
			return
		}
		b.running++
		batch := b.takeLocked()
		b.mu.Unlock()
		b.drive(batch)
	}
	return queued, release
}

// HoldWrites makes the batching writer queue every insert until release
// is called, which writes what queued as one batch (up to 64 rows);
// queued reports how many callers wait. For tests that need a batch of a
// known composition.
func (s *DB) HoldWrites() (queued func() int, release func()) { return s.batch.hold() }

// insert stores g's rows through the batching writer.
func (s *DB) insert(ctx context.Context, table, cols string, relaxed bool, rows ...[]any) error {
	if len(rows) == 0 {
		return nil
	}
	return s.batch.submit(&insertGroup{ctx: ctx, table: table, cols: cols, rows: rows, relaxed: relaxed})
}

// writeBatch writes a batch: alone when it is one group, else in one
// transaction, else (the transaction failed) group by group.
func (s *DB) writeBatch(batch []*insertGroup) {
	live := batch[:0:0]
	for _, g := range batch {
		if err := g.ctx.Err(); err != nil {
			g.err = err
			close(g.done)
			continue
		}
		live = append(live, g)
	}
	if len(live) == 0 {
		return
	}
	start := time.Now()
	if len(live) == 1 {
		g := live[0]
		if err := s.writeGroups(g.ctx, live); err != nil {
			g.err = err
		}
		s.metrics.observe(live, start, time.Since(start))
		close(g.done)
		return
	}
	// The batch is everyone's: it does not end when one caller goes away.
	ctx := context.WithoutCancel(live[0].ctx)
	err := s.writeGroups(ctx, live)
	s.metrics.observe(live, start, time.Since(start))
	if err != nil && !errors.Is(err, store.ErrUnavailable) {
		s.metrics.retried.Inc()
		// Once the database is unavailable, or a caller has gone, there
		// is nothing to retry: the writer's slot is not held for them.
		var down error
		for _, g := range live {
			g.err = nil
			switch {
			case down != nil:
				store.MarkUnavailable(g.ctx)
				g.err = down
			case g.ctx.Err() != nil:
				g.err = g.ctx.Err()
			default:
				if err := s.writeGroups(g.ctx, []*insertGroup{g}); err != nil {
					g.err = err
					if errors.Is(err, store.ErrUnavailable) {
						down = err
					}
				}
			}
			close(g.done)
		}
		return
	}
	for _, g := range live {
		if err != nil {
			store.MarkUnavailable(g.ctx)
			g.err = err
		}
		close(g.done)
	}
}

// writeGroups inserts the groups' rows: one statement when they are one
// row, else one transaction with a multi-row INSERT per table (in chunks
// of powers of two rows, so that few statement texts exist to prepare).
func (s *DB) writeGroups(ctx context.Context, groups []*insertGroup) error {
	p := s.writes()
	relaxed := true
	for _, g := range groups {
		relaxed = relaxed && g.relaxed
	}
	if relaxed && s.relaxed != nil {
		p = s.relaxed
	}
	guarded := false
	for _, g := range groups {
		guarded = guarded || g.guard != ""
	}
	if len(groups) == 1 && groups[0].size() == 1 && !guarded {
		g := groups[0]
		_, err := p.ExecContext(ctx, s.q(insertText(g.table, g.cols, 1)), g.rows[0]...)
		return s.classify(err)
	}
	if s.dialect.Name() == "postgres" && !guarded {
		query, args := batchStatement(groups)
		_, err := p.ExecContext(ctx, s.q(query), args...)
		return s.classify(err)
	}
	// Planned (and on SQLite prepared) before the transaction. Guards run
	// first in it; a group whose guard misses stores nothing, and only then
	// are the remaining rows planned again, in the transaction, without
	// preparing (see pool.prepared).
	stmts := s.planGroups(ctx, p, groups)
	// Guards too are prepared on the pool that runs them, before the
	// transaction.
	if p.stmts != nil {
		for _, g := range groups {
			if g.guard != "" {
				p.stmts.get(ctx, p.raw, s.q(g.guard))
			}
		}
	}
	return s.inTxOn(ctx, p, func(tx *sql.Tx) error {
		if !guarded {
			return execInserts(ctx, p, tx, stmts)
		}
		kept := make([]*insertGroup, 0, len(groups))
		var missed []*insertGroup
		for _, g := range groups {
			if g.guard != "" {
				err := s.execOne(ctx, txExec{tx: tx, p: p}, g.guard, g.guardArgs...)
				if errors.Is(err, store.ErrNotFound) {
					missed = append(missed, g)
					continue
				}
				if err != nil {
					return err
				}
			}
			kept = append(kept, g)
		}
		plan := stmts
		if len(missed) > 0 {
			plan = s.planGroups(ctx, &pool{raw: p.raw, timeout: p.timeout, unavailable: p.unavailable}, kept)
		}
		if err := execInserts(ctx, p, tx, plan); err != nil {
			return err
		}
		// A failed commit overrides these (writeBatch).
		for _, g := range missed {
			g.err = errGuardMissed
		}
		return nil
	})
}

// batchStatement is a whole batch as one PostgreSQL statement: the
// multi-row INSERT of every table but the last in a data-modifying WITH,
// tables in name order (so that few statement texts exist). One
// statement is atomic and one round trip, where BEGIN, an INSERT per
// table and COMMIT were three or more. PostgreSQL runs every part once
// and checks foreign keys when the whole statement has run, so a row
// may name one inserted by another part.
func batchStatement(groups []*insertGroup) (string, []any) {
	tables := byTable(groups)
	slices.SortFunc(tables, func(a, b *insertGroup) int { return strings.Compare(a.table, b.table) })
	var parts []insertStmt
	for _, t := range tables {
		parts = appendChunks(parts, t.table, t.cols, t.rows)
	}
	if len(parts) == 1 {
		return parts[0].query, parts[0].args
	}
	var b strings.Builder
	var args []any
	b.WriteString("WITH ")
	for i, part := range parts[:len(parts)-1] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "w%d AS (%s)", i, part.query)
		args = append(args, part.args...)
	}
	last := parts[len(parts)-1]
	b.WriteString(" " + last.query)
	args = append(args, last.args...)
	return b.String(), args
}

// byTable gathers the groups' rows, and those they carry, by table,
// tables in the order they first appear, rows in order.
func byTable(groups []*insertGroup) []*insertGroup {
	var tables []*insertGroup
	for _, g := range groups {
		for _, part := range append([]*insertGroup{g}, g.also...) {
			i := 0
			for i < len(tables) && tables[i].table != part.table {
				i++
			}
			if i == len(tables) {
				tables = append(tables, &insertGroup{table: part.table, cols: part.cols})
			}
			tables[i].rows = append(tables[i].rows, part.rows...)
		}
	}
	return tables
}

// appendChunks appends the INSERTs (with ? markers) of rows into table:
// as few as chunks of powers of two rows allow, so that few statement
// texts exist.
func appendChunks(out []insertStmt, table, cols string, rows [][]any) []insertStmt {
	for len(rows) > 0 {
		n := 1
		for n*2 <= len(rows) && n*2 <= batchRows {
			n *= 2
		}
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		out = append(out, insertStmt{query: insertText(table, cols, n), args: args})
		rows = rows[n:]
	}
	return out
}

// planGroups plans the multi-row INSERTs of the groups' rows.
func (s *DB) planGroups(ctx context.Context, p *pool, groups []*insertGroup) []insertStmt {
	var stmts []insertStmt
	for _, t := range byTable(groups) {
		stmts = s.planInsert(ctx, p, stmts, t.table, t.cols, t.rows)
	}
	return stmts
}

// insertStmt is one multi-row INSERT of a transaction.
type insertStmt struct {
	query string
	args  []any
}

// planInsert appends the statements that insert rows into table: as few
// as chunks of powers of two rows allow, so that few statement texts
// exist. On SQLite it prepares them now, on the pool: a statement used in
// a transaction must be prepared before (see pool.prepared).
func (s *DB) planInsert(ctx context.Context, p *pool, out []insertStmt, table, cols string, rows [][]any) []insertStmt {
	start := len(out)
	out = appendChunks(out, table, cols, rows)
	for i := start; i < len(out); i++ {
		out[i].query = s.q(out[i].query)
		if p.stmts != nil {
			p.stmts.get(ctx, p.raw, out[i].query)
		}
	}
	return out
}

func execInserts(ctx context.Context, p *pool, tx *sql.Tx, stmts []insertStmt) error {
	for _, st := range stmts {
		if _, err := (txExec{tx: tx, p: p}).ExecContext(ctx, st.query, st.args...); err != nil {
			return err
		}
	}
	return nil
}

var insertTexts sync.Map // insertKey → INSERT text with ? markers

type insertKey struct {
	table, cols string
	rows        int
}

// insertText is INSERT INTO table (cols) VALUES (?, …), … for n rows.
func insertText(table, cols string, n int) string {
	key := insertKey{table, cols, n}
	if v, ok := insertTexts.Load(key); ok {
		return v.(string)
	}
	row := "(" + strings.Repeat("?, ", strings.Count(cols, ",")) + "?)"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	insertTexts.Store(key, b.String())
	return b.String()
}

package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// SetTimeout bounds every statement and transaction: one that has no
// answer within d fails with store.ErrUnavailable (so a request answers
// 503 instead of hanging on a frozen database). 0 means no bound.
func (s *DB) SetTimeout(d time.Duration) {
	s.db.timeout = d
	for _, p := range []*pool{s.relaxed, s.writer, s.keyed} {
		if p != nil {
			p.timeout = d
		}
	}
}

// pool is the *sql.DB as the queries see it: every call gets the deadline
// and its connection failures and timeouts become store.ErrUnavailable.
type pool struct {
	raw         *sql.DB
	timeout     time.Duration
	unavailable func(error) bool // the dialect's own connection-failure errors
	// stmts, when set, holds the statements prepared once per pool.
	stmts *statements
}

// prepared returns query prepared for x (the pool or a transaction), or
// nil to run the text.
func (p *pool) prepared(ctx context.Context, x any, query string) *sql.Stmt {
	if p.stmts == nil {
		return nil
	}
	switch x := x.(type) {
	case *sql.DB:
		return p.stmts.get(ctx, p.raw, query)
	case *sql.Tx:
		// Inside a transaction only a statement prepared before is used:
		// preparing one now would take a second connection from the pool
		// while this one holds SQLite's write lock, and with every
		// connection held by writers waiting for that lock, the pool and
		// the lock wait on each other until the busy timeout.
		st := p.stmts.lookup(query)
		if st == nil {
			return nil
		}
		// Closed with the transaction; reuses the connection's statement.
		return x.StmtContext(ctx, st)
	}
	return nil
}

// bound derives the context of one database call from the caller's.
func (p *pool) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, p.timeout)
}

// wrap turns a failure to reach the database in time into ErrUnavailable.
// caller is the context the caller passed: when it ended first (a client
// that went away), the error stays what it is.
func (p *pool) wrap(caller context.Context, err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || caller.Err() != nil {
		return err
	}
	if !errors.Is(err, context.DeadlineExceeded) && !p.isConnectionFailure(err) {
		return err
	}
	store.MarkUnavailable(caller)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: no answer within %s: %v", store.ErrUnavailable, p.timeout, err)
	}
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

func (p *pool) isConnectionFailure(err error) bool {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET):
		return true
	}
	return p.unavailable != nil && p.unavailable(err)
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	bctx, cancel := p.bound(ctx)
	defer cancel()
	var res sql.Result
	var err error
	if st := p.prepared(bctx, p.raw, query); st != nil {
		res, err = st.ExecContext(bctx, args...)
	} else {
		res, err = p.raw.ExecContext(bctx, query, args...)
	}
	return res, p.wrap(ctx, err)
}

// rows ends its call's deadline when closed.
type rows struct {
	*sql.Rows
	caller context.Context
	cancel context.CancelFunc
	p      *pool
}

func (r *rows) Close() error {
	err := r.Rows.Close()
	r.cancel()
	return err
}

func (r *rows) Err() error { return r.p.wrap(r.caller, r.Rows.Err()) }

func (r *rows) Scan(dest ...any) error { return r.p.wrap(r.caller, r.Rows.Scan(dest...)) }

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*rows, error) {
	bctx, cancel := p.bound(ctx)
	var rs *sql.Rows
	var err error
	if st := p.prepared(bctx, p.raw, query); st != nil {
		rs, err = st.QueryContext(bctx, args...)
	} else {
		rs, err = p.raw.QueryContext(bctx, query, args...)
	}
	if err != nil {
		cancel()
		return nil, p.wrap(ctx, err)
	}
	return &rows{Rows: rs, caller: ctx, cancel: cancel, p: p}, nil
}

// row ends its call's deadline once scanned.
type row struct {
	row    *sql.Row
	caller context.Context
	cancel context.CancelFunc
	p      *pool
}

func (r *row) Scan(dest ...any) error {
	defer r.cancel()
	return r.p.wrap(r.caller, r.row.Scan(dest...))
}

// rowQuerier is what *sql.DB, *sql.Tx and *sql.Conn share for one row.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (p *pool) queryRow(ctx context.Context, x rowQuerier, query string, args ...any) *row {
	bctx, cancel := p.bound(ctx)
	if st := p.prepared(bctx, x, query); st != nil {
		return &row{row: st.QueryRowContext(bctx, args...), caller: ctx, cancel: cancel, p: p}
	}
	return &row{row: x.QueryRowContext(bctx, query, args...), caller: ctx, cancel: cancel, p: p}
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *row {
	return p.queryRow(ctx, p.raw, query, args...)
}

// txExec runs one statement of a transaction under its own deadline.
type txExec struct {
	tx *sql.Tx
	p  *pool
}

func (t txExec) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	bctx, cancel := t.p.bound(ctx)
	defer cancel()
	var res sql.Result
	var err error
	if st := t.p.prepared(bctx, t.tx, query); st != nil {
		res, err = st.ExecContext(bctx, args...)
	} else {
		res, err = t.tx.ExecContext(bctx, query, args...)
	}
	return res, t.p.wrap(ctx, err)
}

// rowsQuerier is what *sql.DB, *sql.Tx and *sql.Conn share for rows.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryIn runs a query on x (a transaction) under its own deadline.
func (p *pool) queryIn(ctx context.Context, x rowsQuerier, query string, args ...any) (*rows, error) {
	bctx, cancel := p.bound(ctx)
	var rs *sql.Rows
	var err error
	if st := p.prepared(bctx, x, query); st != nil {
		rs, err = st.QueryContext(bctx, args...)
	} else {
		rs, err = x.QueryContext(bctx, query, args...)
	}
	if err != nil {
		cancel()
		return nil, p.wrap(ctx, err)
	}
	return &rows{Rows: rs, caller: ctx, cancel: cancel, p: p}, nil
}

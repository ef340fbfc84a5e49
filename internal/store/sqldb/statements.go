package sqldb

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// StatementPreparer is implemented by a Dialect whose driver does not
// keep prepared statements by itself. SQLite (modernc) parses the SQL text
// again on every call, a tenth of the CPU of a token request; pgx already
// prepares and caches every statement per connection (its default
// QueryExecModeCacheStatement), so PostgreSQL needs nothing more.
type StatementPreparer interface {
	PrepareStatements() bool
}

// maxStatements bounds the statement cache: the store's statements are a
// fixed set, but a query whose text were built from input must not grow
// it without end (past the bound, statements run unprepared).
const maxStatements = 512

// statements prepares each query once per *sql.DB; database/sql then keeps
// it prepared on every connection that runs it, and a transaction reuses
// the connection's statement (Tx.StmtContext).
type statements struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
	n  atomic.Int32
}

// get returns query prepared on db, or nil (run it unprepared) when the
// cache is full or preparing failed (the plain call reports the error).
func (s *statements) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	s.mu.Lock()
	st, ok := s.m[query]
	s.mu.Unlock()
	if ok {
		return st
	}
	if s.n.Load() >= maxStatements {
		return nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[query]; ok {
		_ = st.Close()
		return old
	}
	if s.m == nil {
		s.m = map[string]*sql.Stmt{}
	}
	s.m[query] = st
	s.n.Add(1)
	return st
}

// lookup returns query's statement if it was prepared before, else nil.
func (s *statements) lookup(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[query]
}

func (s *statements) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.m {
		_ = st.Close()
	}
	s.m = nil
}

// PreparedStatements is how many statements the store keeps prepared (0
// where the driver keeps its own cache).
func (s *DB) PreparedStatements() int {
	if s.db.stmts == nil {
		return 0
	}
	return int(s.db.stmts.n.Load())
}

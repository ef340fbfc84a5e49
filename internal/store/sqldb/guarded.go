package sqldb

import (
	"context"
	"strings"
	"sync"

	"github.com/latchkey/latchkey/internal/domain"
)

// On PostgreSQL, using up a code or rotating a refresh token and storing
// the tokens that follow is one statement: a data-modifying WITH runs the
// guard (the conditional UPDATE that uses the row up) and the INSERT adds
// the tokens only if the guard changed a row. One statement is atomic and
// one round trip, where BEGIN, UPDATE, INSERT and COMMIT were four, each
// waiting on the network and on a busy node's scheduler. Two callers
// racing for one row still have exactly one winner: the loser's UPDATE
// waits on the row lock, finds it used and inserts nothing. SQLite has no
// data-modifying WITH; there the same pair runs in one transaction, which
// costs no round trips in process.

// tokenColTypes are tokenCols' PostgreSQL types, in order: a VALUES list
// gives the server no other way to know its parameters' types.
var tokenColTypes = [...]string{"text", "bytea", "text", "text", "text", "text", "text", "bigint", "text", "text", "bytea", "boolean", "bigint", "bigint", "bigint", "bigint"}

type guardedKey struct {
	guard string
	rows  int
}

var guardedTexts sync.Map // guardedKey → statement text with ? markers

// guardedTokenInsert is WITH guard AS (guard RETURNING 1) INSERT INTO
// tokens … SELECT from n rows of VALUES WHERE the guard changed a row.
func guardedTokenInsert(guard string, n int) string {
	key := guardedKey{guard, n}
	if v, ok := guardedTexts.Load(key); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteString("WITH guard AS (" + guard + " RETURNING 1) INSERT INTO tokens (" + tokenCols + ") SELECT v.* FROM (VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, typ := range tokenColTypes {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
			if i == 0 {
				b.WriteString("::" + typ)
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS v WHERE EXISTS (SELECT 1 FROM guard)")
	v, _ := guardedTexts.LoadOrStore(key, b.String())
	return v.(string)
}

// guardedTokens runs guard (with guardArgs) and, if it changed a row,
// stores tokens, atomically: one statement on PostgreSQL, a guarded group
// of the batching writer on SQLite. errGuardMissed if the guard changed no
// row; then nothing was stored.
func (s *DB) guardedTokens(ctx context.Context, guard string, guardArgs []any, tokens []*domain.Token) error {
	if s.dialect.Name() != "postgres" || len(tokens) == 0 {
		return s.batch.submit(&insertGroup{ctx: ctx, table: "tokens", cols: tokenCols, rows: tokenRows(tokens), guard: guard, guardArgs: guardArgs})
	}
	args := make([]any, 0, len(guardArgs)+len(tokens)*len(tokenColTypes))
	args = append(args, guardArgs...)
	for _, r := range tokenRows(tokens) {
		args = append(args, r...)
	}
	res, err := s.exec(ctx, s.keyedPool(), guardedTokenInsert(guard, len(tokens)), args...)
	if err != nil {
		return s.classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errGuardMissed
	}
	return nil
}

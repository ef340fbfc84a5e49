// Package held keeps, on the node that wrote them, single-use rows that
// are about to be presented back to it: the authorization codes it
// issued, the login tickets it minted. Most are presented within a
// second, through the same node (a single node always), which then need
// not read back what it wrote.
//
// A held value is only ever a hint that spares a read. Whoever uses it
// must spend the row with a guarded write that fails unless the row is
// still as it was written (unused, its session unchanged …), and fall back
// to reading the row when that write fails, or when nothing is held —
// rows written through another node behind a load balancer.
//
// The memory is bounded: at most its Max entries. When it is full the
// expired ones are dropped (looked for at most once a second, so a full
// memory of live entries costs no scan per Put); if none has expired, new
// values are not held (their use reads them). An entry leaves when it is
// taken, whatever happens next, or when a full memory drops it expired.
package held

import (
	"sync"
	"time"
)

// Memory holds values of type V by organization and hash. The zero value
// is empty, and holds at most DefaultMax entries; a nil *Memory holds
// nothing.
type Memory[V any] struct {
	// Max bounds the entries; 0 means DefaultMax.
	Max int

	mu    sync.Mutex
	m     map[key]entry[V]
	swept time.Time // when a full memory was last searched for expired entries
}

// DefaultMax is a few seconds of a busy node's sign-ins.
const DefaultMax = 4096

type key struct {
	org  string
	hash string
}

type entry[V any] struct {
	v       V
	expires time.Time
}

func (m *Memory[V]) max() int {
	if m.Max > 0 {
		return m.Max
	}
	return DefaultMax
}

// Put holds v, the row of org with hash, until expires.
func (m *Memory[V]) Put(org string, hash []byte, v V, expires, now time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[key]entry[V])
	}
	if len(m.m) >= m.max() {
		if now.Sub(m.swept) < time.Second {
			return
		}
		m.swept = now
		for k, e := range m.m {
			if !now.Before(e.expires) {
				delete(m.m, k)
			}
		}
		if len(m.m) >= m.max() {
			return
		}
	}
	m.m[key{org, string(hash)}] = entry[V]{v: v, expires: expires}
}

// Take removes and returns the value of org with hash, if held.
func (m *Memory[V]) Take(org string, hash []byte) (V, bool) {
	var zero V
	if m == nil {
		return zero, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{org, string(hash)}
	e, ok := m.m[k]
	if !ok {
		return zero, false
	}
	delete(m.m, k)
	return e.v, true
}

// Len is the number of entries held.
func (m *Memory[V]) Len() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

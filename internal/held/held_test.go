package held

import (
	"strconv"
	"testing"
	"time"
)

func hash(i int) []byte { return []byte("hash-" + strconv.Itoa(i)) }

// TestMemory_IsBounded: a full memory drops expired entries, and holds no
// more when none has expired.
func TestMemory_IsBounded(t *testing.T) {
	const max = 64
	m := &Memory[int]{Max: max}
	now := time.Now()
	for i := range max {
		expires := now.Add(time.Minute)
		if i%2 == 0 {
			expires = now.Add(-time.Second)
		}
		m.Put("acme", hash(i), i, expires, now)
	}
	if n := m.Len(); n != max {
		t.Fatalf("held %d, want %d", n, max)
	}
	m.Put("acme", hash(max), max, now.Add(time.Minute), now)
	if n := m.Len(); n != max/2+1 {
		t.Fatalf("after the expired were dropped: held %d, want %d", n, max/2+1)
	}
	for i := max + 1; m.Len() < max; i++ {
		m.Put("acme", hash(i), i, now.Add(time.Minute), now)
	}
	// Full of live entries: within the second, and after it, nothing more
	// is held.
	m.Put("acme", hash(-1), -1, now.Add(time.Minute), now)
	m.Put("acme", hash(-2), -2, now.Add(time.Minute), now.Add(2*time.Second))
	for _, i := range []int{-1, -2} {
		if _, ok := m.Take("acme", hash(i)); ok {
			t.Errorf("a full memory of live entries held %d", i)
		}
	}
	if _, ok := m.Take("globex", hash(max)); ok {
		t.Error("an entry was found under another organization")
	}
	v, ok := m.Take("acme", hash(max))
	if !ok || v != max {
		t.Errorf("Take = %d, %v; want %d, true", v, ok, max)
	}
	if _, ok := m.Take("acme", hash(max)); ok {
		t.Error("an entry was taken twice")
	}
}

// TestMemory_NilHoldsNothing: a node without a memory reads every row.
func TestMemory_NilHoldsNothing(t *testing.T) {
	var m *Memory[string]
	m.Put("acme", hash(1), "v", time.Now().Add(time.Minute), time.Now())
	if _, ok := m.Take("acme", hash(1)); ok || m.Len() != 0 {
		t.Fatal("a nil memory held a value")
	}
}

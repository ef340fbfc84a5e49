package cache

import "time"

// SetMaxUsers lowers the bound on cached users, so that a test reaches it.
func (s *Store) SetMaxUsers(n int) { s.maxUsers = n }

// SetClock replaces the cache's clock.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// CachedUsers is how many users are cached.
func (s *Store) CachedUsers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// CachedNames is how many userNames are cached.
func (s *Store) CachedNames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.names)
}

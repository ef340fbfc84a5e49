package cache

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The kinds of entries, as the metrics name them.
const (
	kindOrg = iota
	kindApp
	kindUser
	kindUserName
	kindAPIKey
	kindUpstream
	kinds
)

var kindNames = [kinds]string{"organization", "application", "user", "user_name", "api_key", "upstream"}

// metrics count the cache's answers and entries for /metrics.
type metrics struct {
	lookups   *prometheus.CounterVec
	hit, miss [kinds]prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_cache_lookups_total",
		Help: "Lookups of organizations, applications, users (by sub and by userName), API keys and upstream connections, by whether memory answered (hit) or the database did (miss).",
	}, []string{"kind", "result"})}
	for k, name := range kindNames {
		m.hit[k] = m.lookups.WithLabelValues(name, "hit")
		m.miss[k] = m.lookups.WithLabelValues(name, "miss")
	}
	return m
}

func (m *metrics) count(kind int, hit bool) {
	if hit {
		m.hit[kind].Inc()
	} else {
		m.miss[kind].Inc()
	}
}

// Collectors returns the cache's metrics and those of the store behind it
// (connection pools, batching writer) when it has any.
func (s *Store) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{s.metrics.lookups, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "latchkey_cache_entries",
		Help: "Entries held in memory (organizations, applications, users, userNames, API keys and upstream connections together).",
	}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.orgs) + len(s.apps) + len(s.users) + len(s.names) + len(s.keys) + len(s.upstreams))
	})}
	if c, ok := s.Store.(interface{ Collectors() []prometheus.Collector }); ok {
		out = append(out, c.Collectors()...)
	}
	return out
}

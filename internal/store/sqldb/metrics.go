package sqldb

import (
	"database/sql"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writerMetrics describe the batching writer (group commit) for /metrics.
type writerMetrics struct {
	rows    prometheus.Histogram
	wait    prometheus.Histogram
	write   prometheus.Histogram
	retried prometheus.Counter
}

func newWriterMetrics() *writerMetrics {
	// 50 µs … 3.3 s, doubling.
	seconds := prometheus.ExponentialBuckets(50e-6, 2, 17)
	return &writerMetrics{
		rows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "latchkey_store_batch_rows",
			Help:    "Rows written per batch of the batching writer (tokens, codes, pending requests, sessions, tickets, audit events), up to 64.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "latchkey_store_batch_wait_seconds",
			Help:    "How long a write queued before its batch began.",
			Buckets: seconds,
		}),
		write: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "latchkey_store_batch_seconds",
			Help:    "How long a batch took to write, its commit included.",
			Buckets: seconds,
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_store_batch_retries_total",
			Help: "Batches whose transaction failed and whose writes were then tried again one caller at a time.",
		}),
	}
}

// observe records a batch of groups that began at start and took took.
func (m *writerMetrics) observe(groups []*insertGroup, start time.Time, took time.Duration) {
	rows := 0
	for _, g := range groups {
		rows += g.size()
		m.wait.Observe(start.Sub(g.queued).Seconds())
	}
	m.rows.Observe(float64(rows))
	m.write.Observe(took.Seconds())
}

// PoolStats is what a connection pool reports for /metrics.
type PoolStats struct {
	Max, InUse, Idle int
	// Waits counts the connections asked for while none was free, and
	// WaitTime the time spent waiting for them.
	Waits    int64
	WaitTime time.Duration
}

// SQLPoolStats reports a database/sql pool (SQLite, where database/sql
// is the pool).
func SQLPoolStats(db *sql.DB) func() PoolStats {
	return func() PoolStats {
		st := db.Stats()
		return PoolStats{Max: st.MaxOpenConnections, InUse: st.InUse, Idle: st.Idle, Waits: st.WaitCount, WaitTime: st.WaitDuration}
	}
}

var (
	poolConns = prometheus.NewDesc("latchkey_db_connections",
		"Open database connections of the pool, in use or idle.", []string{"pool", "state"}, nil)
	poolMax = prometheus.NewDesc("latchkey_db_max_connections",
		"The most connections the pool opens.", []string{"pool"}, nil)
	poolWaits = prometheus.NewDesc("latchkey_db_waits_total",
		"Connections asked of the pool while none was free.", []string{"pool"}, nil)
	poolWaitSeconds = prometheus.NewDesc("latchkey_db_wait_seconds_total",
		"Time spent waiting for a free connection of the pool.", []string{"pool"}, nil)
)

// namedPool is a pool reported under name.
type namedPool struct {
	name  string
	stats func() PoolStats
}

// poolsCollector reports the store's pools, read at each scrape.
type poolsCollector []namedPool

func (c poolsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConns, poolMax, poolWaits, poolWaitSeconds} {
		ch <- d
	}
}

func (c poolsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c {
		st := p.stats()
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.InUse), p.name, "in_use")
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.Idle), p.name, "idle")
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.Max), p.name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.Waits), p.name)
		ch <- prometheus.MustNewConstMetric(poolWaitSeconds, prometheus.CounterValue, st.WaitTime.Seconds(), p.name)
	}
}

// ReportPool has /metrics report the backend's connection pool name
// (main, writer, keyed, relaxed) with stats, read at each scrape.
func (s *DB) ReportPool(name string, stats func() PoolStats) {
	s.pools = append(s.pools, namedPool{name: name, stats: stats})
}

// Collectors returns the store's metrics: the batching writer's and the
// backend's connection pools'.
func (s *DB) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{s.metrics.rows, s.metrics.wait, s.metrics.write, s.metrics.retried}
	if len(s.pools) > 0 {
		out = append(out, poolsCollector(slices.Clone(s.pools)))
	}
	return out
}

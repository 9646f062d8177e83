package sqlite

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writerMetrics show where the one writer's time goes. Every durable write in the file
// passes through it (Append, Write), so an acknowledgment waits for the commit in
// progress and then for its own: how long requests wait to be taken, how many share a
// commit, and how a commit's time splits between the appends' statements, the other
// writes' (projections, checkpoints, data keys) and the commit itself (the WAL's write
// and fsync) tell an operator which of them to make cheaper (docs/performance.md).
type writerMetrics struct {
	wait     prometheus.Histogram
	requests prometheus.Histogram
	phase    *prometheus.HistogramVec
	// streamEvents counts the events ReadStream returned by where it found them: a
	// recent stream's run in memory, or the file (streams.go).
	streamEvents         *prometheus.CounterVec
	fromMemory, fromFile prometheus.Counter
	// streamReads counts the reads themselves: answered from memory alone, or after a
	// look-up in the file (another store committed since, or the stream is not held).
	streamReads                    *prometheus.CounterVec
	readsFromMemory, readsFromFile prometheus.Counter
	// readAll counts ReadAll calls by what answered them: the log's tail in memory
	// alone, or the file (tail.go).
	readAll                            *prometheus.CounterVec
	readAllFromMemory, readAllFromFile prometheus.Counter
}

func newWriterMetrics() *writerMetrics {
	seconds := prometheus.ExponentialBuckets(50e-6, 2, 16) // 50 µs to ~1.6 s
	m := &writerMetrics{
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_writer_wait_seconds",
			Help: "Time an append or write waited in the SQLite commit queue before the writer took it.", Buckets: seconds}),
		requests: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_commit_requests",
			Help: "Appends and writes that shared one SQLite commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 9)}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchboard_store_commit_phase_seconds",
			Help:    "Time of one SQLite commit by phase: the appends' statements, the other writes' statements (projections, checkpoints, data keys), and the commit (WAL write and fsync).",
			Buckets: seconds}, []string{"phase"}),
		streamEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_store_stream_read_events_total",
			Help: "Events ReadStream returned, by where it found them: memory (a recent stream's events, kept from its appends and reads) or file."},
			[]string{"from"}),
	}
	m.streamReads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_store_stream_reads_total",
		Help: "ReadStream calls, by what answered them: memory alone (no other store had committed since), or the file."},
		[]string{"answered"})
	m.fromMemory, m.fromFile = m.streamEvents.WithLabelValues("memory"), m.streamEvents.WithLabelValues("file")
	m.readsFromMemory, m.readsFromFile = m.streamReads.WithLabelValues("memory"), m.streamReads.WithLabelValues("file")
	m.readAll = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_store_read_all_total",
		Help: "ReadAll calls (the followers' reads of the log), by what answered them: memory alone (the newest events, kept from this store's commits and reads) or the file."},
		[]string{"answered"})
	m.readAllFromMemory, m.readAllFromFile = m.readAll.WithLabelValues("memory"), m.readAll.WithLabelValues("file")
	return m
}

// commitTimes is one commit's account, observed once it is over.
type commitTimes struct {
	requests        int
	appends, writes time.Duration
	hadAppends      bool
	hadWrites       bool
	commit          time.Duration
}

func (m *writerMetrics) observe(c commitTimes) {
	m.requests.Observe(float64(c.requests))
	if c.hadAppends {
		m.phase.WithLabelValues("appends").Observe(c.appends.Seconds())
	}
	if c.hadWrites {
		m.phase.WithLabelValues("writes").Observe(c.writes.Seconds())
	}
	m.phase.WithLabelValues("commit").Observe(c.commit.Seconds())
}

// Describe and Collect make the store a prometheus.Collector: a service registers it
// with the rest of its metrics.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	s.metrics.wait.Describe(ch)
	s.metrics.requests.Describe(ch)
	s.metrics.phase.Describe(ch)
	s.metrics.streamEvents.Describe(ch)
	s.metrics.streamReads.Describe(ch)
	s.metrics.readAll.Describe(ch)
	s.wal.seconds.Describe(ch)
	s.wal.frames.Describe(ch)
	s.wal.errors.Describe(ch)
}

// Collect is prometheus.Collector's.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.metrics.wait.Collect(ch)
	s.metrics.requests.Collect(ch)
	s.metrics.phase.Collect(ch)
	s.metrics.streamEvents.Collect(ch)
	s.metrics.streamReads.Collect(ch)
	s.metrics.readAll.Collect(ch)
	s.wal.seconds.Collect(ch)
	s.wal.frames.Collect(ch)
	s.wal.errors.Collect(ch)
}

var _ prometheus.Collector = (*Store)(nil)

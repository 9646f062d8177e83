package sqlite

import (
	"database/sql"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"
)

// The WAL is copied into the database file by a goroutine of its own, not by the commit
// that happens to cross SQLite's threshold. By default SQLite checkpoints inside the
// COMMIT that takes the WAL past 1,000 pages: under load that was every second or third
// commit, each copying the pages and fsyncing the database file (7 ms here) while every
// append in the queue waited for the one writer. In the background the writer only
// appends to the WAL and fsyncs it, and one checkpoint of a quarter-second's commits
// writes each page they dirtied once, however many of them rewrote it.
//
// A PASSIVE checkpoint takes neither the write lock nor a reader's place: appends and
// reads run on while it copies. Durability is unchanged, since a commit is durable once
// its WAL frames are fsynced (synchronous=FULL), checkpointed or not.

// driverName is go-sqlite3 with walBackstopPages set on every connection it opens.
const driverName = "sqlite3-switchboard"

// walBackstopPages is the WAL size at which a committing connection checkpoints after
// all, as SQLite does at 1,000 pages by default: it bounds the WAL (about 40 MB) should
// the background checkpoint stop or fall behind. At 1,000 known senders' messages a
// second the WAL gains about 4,000 pages in a checkpoint period. A variable so that a
// test can reach it with a few thousand events; connections read it as they open.
var walBackstopPages atomic.Int64

func init() { walBackstopPages.Store(10_000) }

// defaultWALCheckpointEvery is how often the background checkpoint runs while commits
// come in: long enough to gather the rewrites of the same hot pages (an index's last
// leaf, a checkpoint row) into one copy, short enough to keep the WAL a few MB.
const defaultWALCheckpointEvery = 250 * time.Millisecond

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA wal_autocheckpoint = "+strconv.FormatInt(walBackstopPages.Load(), 10), nil)
		return err
	}})
}

// WithWALCheckpointEvery sets how often the background checkpoint copies the WAL into
// the database file (default 250 ms); 0 turns it off, leaving the WAL to the committing
// connection at walBackstopPages.
func WithWALCheckpointEvery(d time.Duration) Option {
	return func(s *Store) { s.walEvery = d }
}

// walMetrics show the background checkpoint: how long each took and how many frames
// the WAL held, which stays near a period's worth of commits while it keeps up.
type walMetrics struct {
	seconds prometheus.Histogram
	frames  prometheus.Gauge
	errors  prometheus.Counter
}

func newWALMetrics() *walMetrics {
	return &walMetrics{
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_store_wal_checkpoint_seconds",
			Help:    "Time of one background checkpoint of the SQLite WAL into the database file (it runs beside the writer, not in its commits).",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16)}),
		frames: prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_store_wal_frames",
			Help: "Frames the SQLite WAL held at the last background checkpoint."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_store_wal_checkpoint_errors_total",
			Help: "Background checkpoints of the SQLite WAL that failed; the committing connection checkpoints past the backstop meanwhile."}),
	}
}

// checkpointWAL runs until Close: every walEvery in which a commit happened, a PASSIVE
// checkpoint. A checkpoint that readers or another checkpoint hold back copies what it
// can; the next one takes the rest.
func (s *Store) checkpointWAL() {
	defer close(s.walDone)
	t := time.NewTicker(s.walEvery)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-s.stopWriter:
			return
		case <-t.C:
		}
		if n := s.commits.Load(); n == seen {
			continue
		} else {
			seen = n
		}
		began := time.Now()
		var busy, frames, copied int
		if err := s.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			s.wal.errors.Inc()
			continue
		}
		s.wal.seconds.Observe(time.Since(began).Seconds())
		s.wal.frames.Set(float64(frames))
	}
}

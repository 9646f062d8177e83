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
// that finds it past SQLite's threshold. By default SQLite checkpoints inside every
// COMMIT that finds the WAL past 1,000 pages, until the WAL starts over; under load a
// commit writes hundreds, so most did (an strace of the open loop saw one database-file
// fsync to six of the WAL's), each copying pages and fsyncing the database file (7 ms
// here) while every append in the queue waited for the one writer. In the background,
// the writer only appends to the WAL and fsyncs it, and one checkpoint of a
// quarter-second's commits writes each page they dirtied once, however many of them
// rewrote it.
//
// A PASSIVE checkpoint takes neither the write lock nor a reader's place: appends and
// reads run on while it copies. Durability is unchanged, since a commit is durable once
// its WAL frames are fsynced (synchronous=FULL), checkpointed or not.

// driverName is go-sqlite3 with walBackstopPages set on every connection it opens.
const driverName = "sqlite3-switchboard"

// walBackstopPages is the WAL size at which a committing connection checkpoints after
// all, as SQLite does at 1,000 pages by default, so that the WAL is still copied should
// the background checkpoint stop. It must stay above the sizes the WAL reaches in
// normal running, or every commit would checkpoint again: SQLite starts the WAL over
// only when a commit finds it all copied and no reader still on it, and at 1,000
// known senders' messages a second it reached up to about 9,800 frames between two
// such starts. 20,000 pages is about 80 MB of WAL file. A variable so that a test can
// reach it with a few hundred events; connections read it as they open.
var walBackstopPages atomic.Int64

// defaultWALCheckpointEvery is how often the background checkpoint runs while commits
// come in: long enough to gather the rewrites of the same hot pages (an index's last
// leaf, a checkpoint row) into one copy, short enough that a copy stays small (about
// 20 ms at 1,000 messages a second here).
const defaultWALCheckpointEvery = 250 * time.Millisecond

func init() {
	walBackstopPages.Store(20_000)
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

// walMetrics show the background checkpoint: how long each took, and how many frames
// the WAL held, which grows between the WAL's starts over (walBackstopPages).
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
			Help: "Frames the SQLite WAL held at the last background checkpoint; they grow until a commit finds the WAL all copied and no reader on it, and starts it over."}),
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
		n := s.commits.Load()
		if n == seen {
			continue
		}
		seen = n
		began := time.Now()
		var busy, frames, copied int
		if err := s.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			s.wal.errors.Inc()
			continue
		}
		s.wal.seconds.Observe(time.Since(began).Seconds())
		// Another checkpoint under way (a commit's, past the backstop) answers busy, and
		// -1 for the counts.
		if busy == 0 && frames >= 0 {
			s.wal.frames.Set(float64(frames))
		}
	}
}

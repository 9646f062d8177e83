package sqlite

import "sync/atomic"

// The file's write count answers one question cheaply: has any other store committed to
// this file since this one last looked? A read of a recent stream could then be answered
// from memory alone (streams.go) without missing an append that switchboard link,
// reconcile or dead-letters retry made beside serve. SQLite has no such sign: asking it
// anything starts a read transaction, which in WAL mode drops the connection's page cache
// whenever the file changed, and that look-up was most of a read's cost
// (docs/performance.md). PRAGMA data_version changes with this process's own commits too.
//
// The count is a 64-bit word in a small file beside the database (path + "-writes"),
// mapped shared by every process that opens the store. Every store's writer raises it in
// each of its transactions while it holds SQLite's write lock, before COMMIT, so:
//   - raises are serialized by that lock, and a store that holds the lock and reads the
//     word knows every transaction that raised it before has committed or rolled back;
//   - a commit that finished before a read began raised the word before the read looked.
// A crash between the raise and the commit leaves the word raised for nothing, which
// costs the other stores one reading of the file. The word holds no personal data.

// writeCountSuffix names the file beside the database that holds its write count.
const writeCountSuffix = "-writes"

// writeCount is the mapped word, or nothing where the platform cannot map it: then every
// read asks the file (streams.go never takes a run for the whole stream).
type writeCount struct {
	word  *atomic.Uint64
	close func() error
}

func (w *writeCount) mapped() bool { return w != nil && w.word != nil }

// load is the word as it is now.
func (w *writeCount) load() uint64 { return w.word.Load() }

// raise adds one for a transaction of this store's writer, which holds the write lock.
func (w *writeCount) raise() uint64 { return w.word.Add(1) }

// unmap ends the mapping; the count reads as unmapped after it.
func (w *writeCount) unmap() error {
	if w == nil || w.close == nil {
		return nil
	}
	err := w.close()
	w.word, w.close = nil, nil
	return err
}

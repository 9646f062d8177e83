package projections

// SetRebuildBatch lets a test rebuild a small log in several batches.
func SetRebuildBatch(r *Runner, n int) { r.rebuildBatch = n }

// SetBatch lets a test follow a small log in several live batches.
func SetBatch(r *Runner, n int) { r.batch = n }

// Remembered is the checkpoint an Audit's memory of its messages holds through (-1:
// none) and how many messages it holds.
func Remembered(a Audit) (through int64, messages int) {
	a.memo.mu.Lock()
	defer a.memo.mu.Unlock()
	return a.memo.through, len(a.memo.messages)
}

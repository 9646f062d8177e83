package projections

// SetRebuildBatch lets a test rebuild a small log in several batches.
func SetRebuildBatch(r *Runner, n int) { r.rebuildBatch = n }

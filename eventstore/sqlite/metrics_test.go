package sqlite_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/domain"
)

// The writer's metrics account for each commit: the requests that shared it, how long
// each waited to be taken, and the time of the appends' statements, of the other
// writes' and of the commit itself.
func TestWriterMetricsAccountForEachCommit(t *testing.T) {
	s := MustOpenStore(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	ctx := context.Background()
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, `INSERT INTO checkpoints (name, position) VALUES ('hold', 0)`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 5)
	appendAsync := func(stream string) {
		go func() {
			_, err := s.Append(ctx, stream, domain.NoStream, newEvent(t, "Queued", `{}`))
			done <- err
		}()
	}
	// The first is taken by the writer, which then waits for the lock; four queue.
	appendAsync("first")
	waitWaiting(t, s, 0)
	time.Sleep(20 * time.Millisecond)
	for _, stream := range []string{"a", "b", "c"} {
		appendAsync(stream)
	}
	go func() {
		done <- s.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (name, position) VALUES ('queued', 1)`)
			return err
		})
	}()
	waitWaiting(t, s, 4)
	const held = 30 * time.Millisecond
	time.Sleep(held)
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	histogram := func(name, phase string) *dto.Histogram {
		t.Helper()
		f, ok := byName[name]
		if !ok {
			t.Fatalf("no metric %s among %d families", name, len(families))
		}
		for _, m := range f.GetMetric() {
			if phase == "" && len(m.GetLabel()) == 0 {
				return m.GetHistogram()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" && l.GetValue() == phase {
					return m.GetHistogram()
				}
			}
		}
		t.Fatalf("no %s with phase %q", name, phase)
		return nil
	}
	if h := histogram("switchboard_store_commit_requests", ""); h.GetSampleCount() != 2 || h.GetSampleSum() != 5 {
		t.Errorf("commit requests: %d commits of %v requests in all, want 2 of 5 (the first alone, then the four queued behind it)",
			h.GetSampleCount(), h.GetSampleSum())
	}
	if h := histogram("switchboard_store_writer_wait_seconds", ""); h.GetSampleCount() != 5 || h.GetSampleSum() < 4*held.Seconds() {
		t.Errorf("writer wait: %d requests waited %v s in all, want 5, the four queued at least %v each",
			h.GetSampleCount(), h.GetSampleSum(), held)
	}
	for phase, commits := range map[string]uint64{"appends": 2, "writes": 1, "commit": 2} {
		if h := histogram("switchboard_store_commit_phase_seconds", phase); h.GetSampleCount() != commits || h.GetSampleSum() <= 0 {
			t.Errorf("phase %s: %d commits, %v s; want %d commits and some time", phase, h.GetSampleCount(), h.GetSampleSum(), commits)
		}
	}
}

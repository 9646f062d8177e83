package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/domain"
)

// maxRowsPerInsert keeps one INSERT under SQLite's limit of 32766 bound parameters
// (10 per row).
const maxRowsPerInsert = 1000

// Append writes events to stream in one transaction, at versions current+1.., if the
// stream is at the expected version.
//
// A retried append whose acknowledgement was lost is recognised by its event ids: when
// every id is already stored in this stream, as one run of consecutive versions in the
// same order, Append writes nothing and returns the original result with AlreadyStored
// set, even if expected is stale by now. NextVersion is then the version of the last of
// those events, not the stream's current version. Ids that are only partly stored, stored
// in another order, or stored in another stream are an error: that is not a retry but two
// different appends reusing ids.
//
// Invalid input (empty stream or id, duplicate id, empty type, schema version < 1, zero
// OccurredAt, payload that is not JSON) is an error and nothing is written.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	if err := validate(stream, expected, events); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append stream %q: %w", stream, err)
	}
	res, err := s.append(ctx, stream, expected, events)
	if err != nil {
		var wrong *domain.WrongExpectedVersionError
		if errors.As(err, &wrong) {
			return domain.AppendResult{}, err // its message already names the stream
		}
		return domain.AppendResult{}, fmt.Errorf("append stream %q: %w", stream, err)
	}
	return res, nil
}

func (s *Store) append(ctx context.Context, stream string, expected domain.ExpectedVersion, events []domain.EventData) (domain.AppendResult, error) {
	var res domain.AppendResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	select {
	case s.writeSlot <- struct{}{}:
	case <-ctx.Done():
		return res, fmt.Errorf("wait for write lock: %w", ctx.Err())
	}
	defer func() { <-s.writeSlot }()

	// BEGIN IMMEDIATE (see dsnParams): the write lock is held from here to commit, so
	// the version read below cannot go stale before the insert, and positions are
	// assigned in commit order.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	// Every path but the successful one, including AlreadyStored, must leave the log as
	// it was; after Commit this is a no-op.
	defer func() { _ = tx.Rollback() }()

	var current int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1`, stream).Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("read stream version: %w", err)
	}
	if expected != domain.AnyVersion && int64(expected) != current {
		if res, found, err := alreadyStored(ctx, tx, stream, events); found || err != nil {
			return res, err
		}
		return res, &domain.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: current}
	}

	recordedAt := s.now().UTC().Format(time.RFC3339Nano)
	var last int64
	for start := 0; start < len(events); start += maxRowsPerInsert {
		chunk := events[start:min(start+maxRowsPerInsert, len(events))]
		if last, err = insert(ctx, tx, stream, current+int64(start), recordedAt, chunk); err != nil {
			// Most likely an event id that is already stored (the UNIQUE index caught
			// it); find out whether this is a retry rather than parse the error text.
			// SQLite undid the failed statement only, so the transaction is usable.
			res, found, lookupErr := alreadyStored(ctx, tx, stream, events)
			switch {
			case found: // a retry, or ids that clash: lookupErr says which
				return res, lookupErr
			case lookupErr != nil:
				return res, fmt.Errorf("insert: %w; then %w", err, lookupErr)
			}
			return res, fmt.Errorf("insert: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	n := int64(len(events))
	// With AUTOINCREMENT and the write lock held, rows inserted by one transaction get
	// consecutive positions, so the first is derived from the last.
	return domain.AppendResult{NextVersion: current + n, FirstPosition: last - n + 1, LastPosition: last}, nil
}

// insert writes events at versions after+1.. and returns the position of the last one.
func insert(ctx context.Context, tx *sql.Tx, stream string, after int64, recordedAt string, events []domain.EventData) (int64, error) {
	var q strings.Builder
	q.Grow(160 + 24*len(events))
	q.WriteString(`INSERT INTO events (event_id, stream_id, version, type, schema_version,
		occurred_at, recorded_at, correlation_id, causation_id, payload) VALUES `)
	args := make([]any, 0, 10*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(`(?,?,?,?,?,?,?,?,?,?)`)
		args = append(args, e.ID, stream, after+int64(i)+1, e.Type, e.SchemaVersion,
			e.OccurredAt.UTC().Format(time.RFC3339Nano), recordedAt,
			nullIfEmpty(e.CorrelationID), nullIfEmpty(e.CausationID),
			// A string binds as TEXT; []byte would bind as BLOB, which json_* reads as JSONB.
			string(e.Payload))
	}
	r, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return 0, err
	}
	return r.LastInsertId()
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// alreadyStored reports whether events were all stored before in stream, as one run of
// consecutive versions in the same order, and if so the result the original append
// returned. found is true when any id is stored: err is then nil for a retry and
// explains the clash otherwise. found=false with an error means the lookup failed.
func alreadyStored(ctx context.Context, tx *sql.Tx, stream string, events []domain.EventData) (res domain.AppendResult, found bool, err error) {
	type place struct {
		stream            string
		version, position int64
	}
	stored := make(map[string]place, len(events))
	for start := 0; start < len(events); start += maxRowsPerInsert {
		chunk := events[start:min(start+maxRowsPerInsert, len(events))]
		args := make([]any, len(chunk))
		for i, e := range chunk {
			args[i] = e.ID
		}
		q := `SELECT event_id, stream_id, version, position FROM events WHERE event_id IN (?` +
			strings.Repeat(",?", len(chunk)-1) + `)`
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return res, false, fmt.Errorf("look up event ids: %w", err)
		}
		for rows.Next() {
			var id string
			var p place
			if err := rows.Scan(&id, &p.stream, &p.version, &p.position); err != nil {
				rows.Close()
				return res, false, fmt.Errorf("look up event ids: %w", err)
			}
			stored[id] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return res, false, fmt.Errorf("look up event ids: %w", err)
		}
	}
	if len(stored) == 0 {
		return res, false, nil
	}

	var missing []string
	for i, e := range events {
		p, ok := stored[e.ID]
		switch {
		case !ok:
			missing = append(missing, e.ID)
		case p.stream != stream:
			return res, true, fmt.Errorf("event %d (id %s) is already stored in stream %q at version %d; an event id belongs to exactly one stream",
				i, e.ID, p.stream, p.version)
		}
	}
	if len(missing) > 0 {
		return res, true, fmt.Errorf("%d of %d event ids are already stored in this stream, %s not: a retry must resend exactly the original events, and new events need new ids",
			len(stored), len(events), formatIDs(missing))
	}
	first := stored[events[0].ID]
	for i, e := range events {
		if p := stored[e.ID]; p.version != first.version+int64(i) {
			return res, true, fmt.Errorf("event ids are already stored in this stream, but not as one batch in this order (event %d, id %s, is at version %d, want %d): a retry must resend the original events in their original order",
				i, e.ID, p.version, first.version+int64(i))
		}
	}
	last := stored[events[len(events)-1].ID]
	return domain.AppendResult{
		NextVersion:   last.version,
		FirstPosition: first.position,
		LastPosition:  last.position,
		AlreadyStored: true,
	}, true, nil
}

// formatIDs names a few ids and counts the rest, so a large batch keeps the error readable.
func formatIDs(ids []string) string {
	const show = 3
	verb := "is"
	if len(ids) > 1 {
		verb = "are"
	}
	if len(ids) <= show {
		return strings.Join(ids, ", ") + " " + verb
	}
	return fmt.Sprintf("%s and %d more are", strings.Join(ids[:show], ", "), len(ids)-show)
}

// validate reports every problem at once, so a caller fixes a batch in one go.
func validate(stream string, expected domain.ExpectedVersion, events []domain.EventData) error {
	var errs []error
	if stream == "" {
		errs = append(errs, errors.New("stream id is empty; want the id of the stream to append to"))
	}
	if expected < domain.AnyVersion {
		errs = append(errs, fmt.Errorf("expected version is %d; want AnyVersion (-1), NoStream (0) or a version >= 1", int64(expected)))
	}
	if len(events) == 0 {
		errs = append(errs, errors.New("no events; want at least one"))
	}
	seen := make(map[string]int, len(events))
	for i, e := range events {
		if e.ID == "" {
			errs = append(errs, fmt.Errorf("event %d: id is empty; want a unique id (a UUIDv7)", i))
		} else if j, dup := seen[e.ID]; dup {
			errs = append(errs, fmt.Errorf("event %d: id %s repeats event %d; want a distinct id per event", i, e.ID, j))
		} else {
			seen[e.ID] = i
		}
		if e.Type == "" {
			errs = append(errs, fmt.Errorf("event %d (id %s): type is empty; want the event type name", i, e.ID))
		}
		if e.SchemaVersion < 1 {
			errs = append(errs, fmt.Errorf("event %d (id %s): schema version is %d; want >= 1", i, e.ID, e.SchemaVersion))
		}
		if e.OccurredAt.IsZero() {
			errs = append(errs, fmt.Errorf("event %d (id %s): occurred-at time is zero; want when the event happened", i, e.ID))
		}
		if !json.Valid(e.Payload) {
			errs = append(errs, fmt.Errorf("event %d (id %s): payload is not valid JSON (%d bytes); want a JSON value such as {}", i, e.ID, len(e.Payload)))
		}
	}
	return errors.Join(errs...)
}

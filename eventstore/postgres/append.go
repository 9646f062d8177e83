package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"switchboard/domain"
	"switchboard/eventstore/appendcheck"
)

// appendLockKey is the transaction-scoped advisory lock every append holds from before
// its insert until its commit: see the package documentation for why.
const appendLockKey = 0x5377_6170 // "Swap"

// Append writes events to stream in one transaction, at versions current+1.., if the
// stream is at the expected version.
//
// A retried append whose acknowledgement was lost is recognised by its event ids, as in
// the SQLite store: when every id is already stored in this stream, as one run of
// consecutive versions in the same order, Append writes nothing and returns the original
// result with AlreadyStored set, even if expected is stale by now. Ids partly stored,
// stored in another order or in another stream are an error.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	if err := appendcheck.Validate(stream, expected, events); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append stream %q: %w", stream, err)
	}
	res, err := s.append(ctx, stream, expected, events)
	if errors.Is(err, errIDsStored) {
		// The transaction is gone; ids once stored never move, so ask outside it.
		res, err = s.retried(ctx, stream, events)
	}
	if err != nil {
		var wrong *domain.WrongExpectedVersionError
		if errors.As(err, &wrong) {
			return domain.AppendResult{}, err // its message already names the stream
		}
		return domain.AppendResult{}, fmt.Errorf("append stream %q: %w", stream, err)
	}
	return res, nil
}

// errIDsStored says some of the batch's ids were already in the log.
var errIDsStored = errors.New("event ids already stored")

func (s *Store) append(ctx context.Context, stream string, expected domain.ExpectedVersion, events []domain.EventData) (domain.AppendResult, error) {
	var res domain.AppendResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(appendLockKey)); err != nil {
		return res, fmt.Errorf("take the append lock: %w", err)
	}
	var current int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = $1`, stream).Scan(&current); err != nil {
		return res, fmt.Errorf("read stream version: %w", err)
	}
	if expected != domain.AnyVersion && int64(expected) != current {
		if res, found, err := s.stored(ctx, tx, stream, events); found || err != nil {
			return res, err
		}
		return res, &domain.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: current}
	}

	n := len(events)
	ids, types, correlations, causations, payloads := make([]string, n), make([]string, n), make([]*string, n), make([]*string, n), make([]string, n)
	versions, schemas := make([]int64, n), make([]int32, n)
	occurred := make([]any, n)
	for i, e := range events {
		ids[i], types[i], payloads[i] = e.ID, e.Type, string(e.Payload)
		versions[i], schemas[i] = current+int64(i)+1, int32(e.SchemaVersion)
		occurred[i] = e.OccurredAt.UTC()
		correlations[i], causations[i] = nullIfEmpty(e.CorrelationID), nullIfEmpty(e.CausationID)
	}
	// ON CONFLICT DO NOTHING keeps the transaction usable when an id is already stored
	// (a plain unique violation would abort it); fewer rows than events says so.
	rows, err := tx.Query(ctx, `INSERT INTO events (event_id, stream_id, version, type, schema_version,
			occurred_at, recorded_at, correlation_id, causation_id, payload)
		SELECT u.id, $2, u.version, u.type, u.schema, u.occurred, $3, u.correlation, u.causation, u.payload::json
		FROM unnest($1::text[], $4::bigint[], $5::text[], $6::int[], $7::timestamptz[], $8::text[], $9::text[], $10::text[])
			WITH ORDINALITY AS u(id, version, type, schema, occurred, correlation, causation, payload, ord)
		ORDER BY u.ord
		ON CONFLICT (event_id) DO NOTHING
		RETURNING position`,
		ids, stream, s.now().UTC(), versions, types, schemas, occurred, correlations, causations, payloads)
	if err != nil {
		return res, fmt.Errorf("insert: %w", err)
	}
	positions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return res, fmt.Errorf("insert: %w", err)
	}
	if len(positions) != n {
		return res, errIDsStored
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	first, last := positions[0], positions[0]
	for _, p := range positions {
		first, last = min(first, p), max(last, p)
	}
	return domain.AppendResult{NextVersion: current + int64(n), FirstPosition: first, LastPosition: last}, nil
}

// retried answers an append some of whose ids are stored: the original result for a
// retry, an error explaining the clash otherwise.
func (s *Store) retried(ctx context.Context, stream string, events []domain.EventData) (domain.AppendResult, error) {
	res, found, err := s.stored(ctx, s.pool, stream, events)
	if err == nil && !found {
		// Stored a moment ago, gone now: the log never deletes, so this is a bug.
		return res, errors.New("insert skipped stored event ids that are no longer stored")
	}
	return res, err
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// stored looks the batch's ids up and lets appendcheck.Retry decide.
func (s *Store) stored(ctx context.Context, q querier, stream string, events []domain.EventData) (domain.AppendResult, bool, error) {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	rows, err := q.Query(ctx, `SELECT event_id, stream_id, version, position FROM events WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return domain.AppendResult{}, false, fmt.Errorf("look up event ids: %w", err)
	}
	defer rows.Close()
	stored := make(map[string]appendcheck.Place, len(events))
	for rows.Next() {
		var id string
		var p appendcheck.Place
		if err := rows.Scan(&id, &p.Stream, &p.Version, &p.Position); err != nil {
			return domain.AppendResult{}, false, fmt.Errorf("look up event ids: %w", err)
		}
		stored[id] = p
	}
	if err := rows.Err(); err != nil {
		return domain.AppendResult{}, false, fmt.Errorf("look up event ids: %w", err)
	}
	return appendcheck.Retry(stream, events, stored)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

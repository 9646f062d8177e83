package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"switchboard/domain"
)

// Entry is one event of an audit timeline.
type Entry struct {
	Position      int64           `json:"position"`
	Stream        string          `json:"stream"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	OccurredAt    string          `json:"occurred_at"`
	CorrelationID string          `json:"correlation_id"`
	Data          json.RawMessage `json:"data"`
}

// queryer is a database or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// query runs q and scans every row with scan.
func query[T any](ctx context.Context, db queryer, scan func(*sql.Rows) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Reader answers the audit API from the projection tables.
type Reader struct{ db *sql.DB }

// NewReader reads projections from db.
func NewReader(db *sql.DB) *Reader { return &Reader{db: db} }

// Timeline returns the events indexed under one subject, oldest first: every event of
// the messages linked to it, and the events put on it one by one.
func (r *Reader) Timeline(ctx context.Context, subject, key string) ([]Entry, error) {
	out, err := query(ctx, r.db, func(rows *sql.Rows) (Entry, error) {
		var e Entry
		var data string
		err := rows.Scan(&e.Position, &e.Stream, &e.Version, &e.Type, &e.OccurredAt, &e.CorrelationID, &data)
		e.Data = json.RawMessage(data)
		return e, err
	}, `SELECT e.position, e.stream_id, e.version, e.type, e.occurred_at, e.correlation_id, e.data
		FROM audit_links l JOIN audit_events e ON e.correlation_id = l.correlation_id
		WHERE l.subject = $1 AND l.subject_key = $2
		UNION
		SELECT e.position, e.stream_id, e.version, e.type, e.occurred_at, e.correlation_id, e.data
		FROM audit_entries t JOIN audit_events e ON e.position = t.position
		WHERE t.subject = $1 AND t.subject_key = $2
		ORDER BY 1`, subject, key)
	if err != nil {
		return nil, fmt.Errorf("audit %s %s: %w", subject, key, err)
	}
	return out, nil
}

// ContactKeyRow is one row of the identifier→contact cache.
type ContactKeyRow struct {
	MatchKey   string `json:"match_key"`
	Workspace  string `json:"workspace"`
	Lookup     string `json:"lookup"`
	Identifier string `json:"identifier"`
	ContactID  string `json:"contact_id"`
	How        string `json:"how"`
	ResolvedAt string `json:"resolved_at"`
}

// KeysOfContact lists the match keys resolved to a contact.
func (r *Reader) KeysOfContact(ctx context.Context, workspace, contactID string) ([]ContactKeyRow, error) {
	return query(ctx, r.db, func(rows *sql.Rows) (ContactKeyRow, error) {
		var k ContactKeyRow
		err := rows.Scan(&k.MatchKey, &k.Workspace, &k.Lookup, &k.Identifier, &k.ContactID, &k.How, &k.ResolvedAt)
		return k, err
	}, `SELECT match_key, workspace, lookup, identifier, contact_id, how, resolved_at
		FROM contact_keys WHERE workspace = $1 AND contact_id = $2 ORDER BY match_key`, workspace, contactID)
}

// MessageSubjectsOfContact lists the data-key subjects of the messages resolved to a
// contact, except those of match keys bound to another contact: a message sealed with
// its sender's own subject (a username channel's message that came with a user id
// only) belongs to the contact it resolved to, while a key's subject belongs to the
// contact the key is bound to now (an operator may have moved it).
func (r *Reader) MessageSubjectsOfContact(ctx context.Context, workspace, contactID string) ([]string, error) {
	return query(ctx, r.db, func(rows *sql.Rows) (string, error) {
		var id string
		err := rows.Scan(&id)
		return id, err
	}, `SELECT DISTINCT m.subject_id FROM audit_messages m
		WHERE m.contact_key = $1 AND m.subject_id <> ''
		AND NOT EXISTS (SELECT 1 FROM contact_keys k WHERE k.subject_id = m.subject_id AND NOT (k.workspace = $2 AND k.contact_id = $3))
		ORDER BY m.subject_id`, ContactKey(workspace, contactID), workspace, contactID)
}

// UnlinkedRow is one unlinked conversation.
type UnlinkedRow struct {
	ChannelID  string `json:"channel_id"`
	MessageID  string `json:"message_id"`
	Reason     string `json:"reason"`
	Detail     string `json:"detail"`
	OccurredAt string `json:"occurred_at"`
	Position   int64  `json:"position"`
}

// Unlinked lists unlinked conversations after a position, oldest first.
func (r *Reader) Unlinked(ctx context.Context, after int64, limit int) ([]UnlinkedRow, error) {
	return query(ctx, r.db, func(rows *sql.Rows) (UnlinkedRow, error) {
		var u UnlinkedRow
		err := rows.Scan(&u.ChannelID, &u.MessageID, &u.Reason, &u.Detail, &u.OccurredAt, &u.Position)
		return u, err
	}, `SELECT channel_id, message_id, reason, detail, occurred_at, position
		FROM unlinked_conversations WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
}

// AmbiguousRow is one resolution that chose among several contacts.
type AmbiguousRow struct {
	ChannelID  string          `json:"channel_id"`
	MessageID  string          `json:"message_id"`
	ContactID  string          `json:"contact_id"`
	Candidates json.RawMessage `json:"candidates"`
	OccurredAt string          `json:"occurred_at"`
	Position   int64           `json:"position"`
}

// Ambiguous lists ambiguous resolutions after a position, oldest first.
func (r *Reader) Ambiguous(ctx context.Context, after int64, limit int) ([]AmbiguousRow, error) {
	return query(ctx, r.db, func(rows *sql.Rows) (AmbiguousRow, error) {
		var a AmbiguousRow
		var c string
		err := rows.Scan(&a.ChannelID, &a.MessageID, &a.ContactID, &c, &a.OccurredAt, &a.Position)
		a.Candidates = json.RawMessage(c)
		return a, err
	}, `SELECT channel_id, message_id, contact_id, candidates, occurred_at, position
		FROM ambiguous_resolutions WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
}

// DeadLetterRow is one message waiting for an operator.
type DeadLetterRow struct {
	ID            string `json:"id"`
	ChannelID     string `json:"channel_id"`
	MessageID     string `json:"message_id"`
	Stage         string `json:"stage"`
	Reason        string `json:"reason"`
	Status        int    `json:"status,omitempty"`
	Attempts      int    `json:"attempts"`
	CorrelationID string `json:"correlation_id"`
	OccurredAt    string `json:"occurred_at"`
}

// Erased reports whether the dead letter's sender was erased: its message id and
// reason read Erased, its stream is no longer found by channel and message id, and
// nothing publishes the message any more (domain.MessageState.Erased), so a retry has
// nothing to do.
func (d DeadLetterRow) Erased() bool { return d.MessageID == domain.Erased }

// DeadLetters lists dead letters, oldest first. A dead letter's id is its correlation
// id: stable, and unique per message.
func (r *Reader) DeadLetters(ctx context.Context) ([]DeadLetterRow, error) {
	return r.deadLetters(ctx, "")
}

// DeadLetter finds one dead letter by id.
func (r *Reader) DeadLetter(ctx context.Context, id string) (DeadLetterRow, bool, error) {
	rows, err := r.deadLetters(ctx, id)
	if err != nil || len(rows) == 0 {
		return DeadLetterRow{}, false, err
	}
	return rows[0], true, nil
}

// deadLetters reads every dead letter, or only the one whose id is given.
func (r *Reader) deadLetters(ctx context.Context, id string) ([]DeadLetterRow, error) {
	return query(ctx, r.db, func(rows *sql.Rows) (DeadLetterRow, error) {
		var d DeadLetterRow
		err := rows.Scan(&d.CorrelationID, &d.ChannelID, &d.MessageID, &d.Stage, &d.Reason, &d.Status, &d.Attempts, &d.OccurredAt)
		d.ID = d.CorrelationID
		return d, err
	}, `SELECT correlation_id, channel_id, message_id, stage, reason, status, attempts, occurred_at
		FROM dead_letters WHERE $1 = '' OR correlation_id = $1 ORDER BY position`, id)
}

package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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

// Reader answers the audit API from the projection tables.
type Reader struct{ db *sql.DB }

// NewReader reads projections from db.
func NewReader(db *sql.DB) *Reader { return &Reader{db: db} }

// Timeline returns the events indexed under one subject, oldest first.
func (r *Reader) Timeline(ctx context.Context, subject, key string) ([]Entry, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT position, stream_id, version, type, occurred_at, correlation_id, data
		FROM audit_entries WHERE subject = $1 AND subject_key = $2 ORDER BY position`, subject, key)
	if err != nil {
		return nil, fmt.Errorf("audit %s %s: %w", subject, key, err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var data string
		if err := rows.Scan(&e.Position, &e.Stream, &e.Version, &e.Type, &e.OccurredAt, &e.CorrelationID, &data); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ContactKey is one row of the identifier→contact cache.
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
	rows, err := r.db.QueryContext(ctx, `SELECT match_key, workspace, lookup, identifier, contact_id, how, resolved_at
		FROM contact_keys WHERE workspace = $1 AND contact_id = $2 ORDER BY match_key`, workspace, contactID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ContactKeyRow{}
	for rows.Next() {
		var k ContactKeyRow
		if err := rows.Scan(&k.MatchKey, &k.Workspace, &k.Lookup, &k.Identifier, &k.ContactID, &k.How, &k.ResolvedAt); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
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
	rows, err := r.db.QueryContext(ctx, `SELECT channel_id, message_id, reason, detail, occurred_at, position
		FROM unlinked_conversations WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []UnlinkedRow{}
	for rows.Next() {
		var u UnlinkedRow
		if err := rows.Scan(&u.ChannelID, &u.MessageID, &u.Reason, &u.Detail, &u.OccurredAt, &u.Position); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
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
	rows, err := r.db.QueryContext(ctx, `SELECT channel_id, message_id, contact_id, candidates, occurred_at, position
		FROM ambiguous_resolutions WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AmbiguousRow{}
	for rows.Next() {
		var a AmbiguousRow
		var c string
		if err := rows.Scan(&a.ChannelID, &a.MessageID, &a.ContactID, &c, &a.OccurredAt, &a.Position); err != nil {
			return nil, err
		}
		a.Candidates = json.RawMessage(c)
		out = append(out, a)
	}
	return out, rows.Err()
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

// DeadLetters lists dead letters, oldest first. A dead letter's id is its correlation
// id: stable, and unique per message.
func (r *Reader) DeadLetters(ctx context.Context) ([]DeadLetterRow, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT correlation_id, channel_id, message_id, stage, reason, status, attempts, occurred_at
		FROM dead_letters ORDER BY position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []DeadLetterRow{}
	for rows.Next() {
		var d DeadLetterRow
		if err := rows.Scan(&d.CorrelationID, &d.ChannelID, &d.MessageID, &d.Stage, &d.Reason, &d.Status, &d.Attempts, &d.OccurredAt); err != nil {
			return nil, err
		}
		d.ID = d.CorrelationID
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeadLetter finds one dead letter by id.
func (r *Reader) DeadLetter(ctx context.Context, id string) (DeadLetterRow, bool, error) {
	all, err := r.DeadLetters(ctx)
	if err != nil {
		return DeadLetterRow{}, false, err
	}
	for _, d := range all {
		if d.ID == id {
			return d, true, nil
		}
	}
	return DeadLetterRow{}, false, nil
}

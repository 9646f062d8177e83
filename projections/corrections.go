package projections

import (
	"context"
	"database/sql"
	"fmt"

	"switchboard/domain"
)

// Corrections lists the operators' corrections in force (rule 13). It mirrors
// domain.KeyState's fold of the correction events — the resolver reads the key's
// stream itself, so this table is for listing, never for deciding.
type Corrections struct{}

func (Corrections) Name() string     { return "corrections" }
func (Corrections) Tables() []string { return []string{"corrections"} }

// Erasing a subject deletes its corrections: they bind a key that resolves nobody any
// more (erasedKey), and a rebuild over the erased log skips them.
func (Corrections) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	if e.Type == domain.EventSubjectErased {
		subject, err := erasedSubject(e)
		if err != nil || subject == "" {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM corrections WHERE subject_id = $1`, subject); err != nil {
			return fmt.Errorf("corrections: scrub an erased subject: %w", err)
		}
		return nil
	}
	var p struct {
		MatchKey    domain.MatchKey `json:"match_key"`
		ChannelID   string          `json:"channel_id"`
		ContactID   string          `json:"contact_id"`
		Reason      string          `json:"reason"`
		RequestedBy string          `json:"requested_by"`
		From        string          `json:"from"`
		To          string          `json:"to"`
	}
	switch e.Type {
	case domain.EventMatchKeyLinked, domain.EventMatchKeyNeverLinked, domain.EventMatchKeyUnpinned,
		domain.EventMatchKeyForgotten, domain.EventMatchKeyFollowed:
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
	default:
		return nil
	}
	if erasedKey(p.MatchKey) {
		return nil
	}
	mk := p.MatchKey.String()
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("corrections: %s at position %d: %w", e.Type, e.Position, err)
		}
		return nil
	}
	insert := func(kind domain.CorrectionKind) error {
		return exec(`INSERT INTO corrections (match_key, kind, contact_id, workspace, lookup, identifier, channel_id, reason,
			requested_by, event_id, correlation_id, occurred_at, position, subject_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			mk, string(kind), p.ContactID, p.MatchKey.Workspace, p.MatchKey.Lookup, p.MatchKey.Identifier, p.ChannelID, p.Reason,
			p.RequestedBy, e.ID, e.CorrelationID, ts(e.OccurredAt), e.Position, e.Subject)
	}
	switch e.Type {
	case domain.EventMatchKeyLinked:
		// One link per key; a link lifts a never-link of its contact.
		if err := exec(`DELETE FROM corrections WHERE match_key = $1 AND (kind = 'link' OR contact_id = $2)`, mk, p.ContactID); err != nil {
			return err
		}
		return insert(domain.CorrectLink)
	case domain.EventMatchKeyNeverLinked:
		if err := exec(`DELETE FROM corrections WHERE match_key = $1 AND contact_id = $2`, mk, p.ContactID); err != nil {
			return err
		}
		return insert(domain.CorrectNeverLink)
	case domain.EventMatchKeyUnpinned:
		return exec(`DELETE FROM corrections WHERE match_key = $1 AND ($2 = '' OR contact_id = $2)`, mk, p.ContactID)
	case domain.EventMatchKeyForgotten:
		return exec(`DELETE FROM corrections WHERE match_key = $1 AND kind = 'link' AND ($2 = '' OR contact_id = $2)`, mk, p.ContactID)
	case domain.EventMatchKeyFollowed:
		return exec(`UPDATE corrections SET contact_id = $1 WHERE match_key = $2 AND kind = 'link' AND contact_id = $3`, p.To, mk, p.From)
	}
	return nil
}

// applyCorrectionToKeys keeps the identifier→contact cache as the key's fold has it: a
// link binds the key at once, a never-link of the bound contact and an unpin unbind it.
func applyCorrectionToKeys(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	var p struct {
		MatchKey  domain.MatchKey `json:"match_key"`
		ContactID string          `json:"contact_id"`
	}
	switch e.Type {
	case domain.EventMatchKeyLinked, domain.EventMatchKeyNeverLinked, domain.EventMatchKeyUnpinned:
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
	default:
		return nil
	}
	if erasedKey(p.MatchKey) {
		return nil
	}
	var err error
	switch e.Type {
	case domain.EventMatchKeyLinked:
		_, err = tx.ExecContext(ctx, `INSERT INTO contact_keys (match_key, workspace, lookup, identifier, contact_id, how, resolved_at, position, subject_id)
			VALUES ($1, $2, $3, $4, $5, 'linked', $6, $7, $8)
			ON CONFLICT (match_key) DO UPDATE SET contact_id = excluded.contact_id, how = excluded.how,
				resolved_at = excluded.resolved_at, position = excluded.position, subject_id = excluded.subject_id`,
			p.MatchKey.String(), p.MatchKey.Workspace, p.MatchKey.Lookup, p.MatchKey.Identifier, p.ContactID, ts(e.OccurredAt), e.Position, e.Subject)
	case domain.EventMatchKeyNeverLinked:
		_, err = tx.ExecContext(ctx, `DELETE FROM contact_keys WHERE match_key = $1 AND contact_id = $2`, p.MatchKey.String(), p.ContactID)
	case domain.EventMatchKeyUnpinned:
		_, err = tx.ExecContext(ctx, `DELETE FROM contact_keys WHERE match_key = $1`, p.MatchKey.String())
	}
	return err
}

// indexCorrection puts a correction event on the audit timelines it concerns: the
// sender's on the channel it was made for, and each contact it names (for an unpin,
// those whose corrections it removed). An erased correction names no sender, and its
// subject's sender timeline went with the erasure.
func indexCorrection(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	var p struct {
		MatchKey  domain.MatchKey          `json:"match_key"`
		ChannelID string                   `json:"channel_id"`
		ContactID string                   `json:"contact_id"`
		Removed   []domain.CitedCorrection `json:"removed"`
	}
	switch e.Type {
	case domain.EventMatchKeyLinked, domain.EventMatchKeyNeverLinked, domain.EventMatchKeyUnpinned:
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
	default:
		return nil
	}
	if p.ChannelID != "" && !erasedKey(p.MatchKey) {
		if err := index(ctx, tx, e, []timeline{{SubjectSender, SenderKey(p.ChannelID, p.MatchKey.Identifier), e.Subject}}); err != nil {
			return err
		}
	}
	contacts := map[string]bool{}
	if p.ContactID != "" {
		contacts[p.ContactID] = true
	}
	for _, r := range p.Removed {
		contacts[r.ContactID] = true
	}
	for id := range contacts {
		if err := index(ctx, tx, e, []timeline{{SubjectContact, ContactKey(p.MatchKey.Workspace, id), ""}}); err != nil {
			return err
		}
	}
	return nil
}

// CorrectionRow is one correction in force.
type CorrectionRow struct {
	Kind          string `json:"kind"`
	ChannelID     string `json:"channel_id"`
	Workspace     string `json:"workspace"`
	Lookup        string `json:"lookup"`
	Identifier    string `json:"identifier"`
	ContactID     string `json:"contact_id"`
	Reason        string `json:"reason"`
	RequestedBy   string `json:"requested_by"`
	EventID       string `json:"event_id"`
	CorrelationID string `json:"correlation_id"`
	OccurredAt    string `json:"occurred_at"`
	Position      int64  `json:"position"`
}

// Corrections lists the corrections in force, oldest first.
func (r *Reader) Corrections(ctx context.Context) ([]CorrectionRow, error) {
	out, err := query(ctx, r.db, func(rows *sql.Rows) (CorrectionRow, error) {
		var c CorrectionRow
		err := rows.Scan(&c.Kind, &c.ChannelID, &c.Workspace, &c.Lookup, &c.Identifier, &c.ContactID, &c.Reason, &c.RequestedBy,
			&c.EventID, &c.CorrelationID, &c.OccurredAt, &c.Position)
		return c, err
	}, `SELECT kind, channel_id, workspace, lookup, identifier, contact_id, reason, requested_by, event_id, correlation_id, occurred_at, position
		FROM corrections ORDER BY position, kind, contact_id`)
	if err != nil {
		return nil, fmt.Errorf("list corrections: %w", err)
	}
	return out, nil
}

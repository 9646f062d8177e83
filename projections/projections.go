package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"switchboard/domain"
)

// Audit subjects.
const (
	SubjectMessage = "message"
	SubjectSender  = "sender"
	SubjectContact = "contact"
)

// MessageKey, SenderKey and ContactKey name audit subjects. Channel ids never hold a
// '/', so the keys cannot collide.
func MessageKey(channelID, messageID string) string { return channelID + "/" + messageID }
func SenderKey(channelID, identifier string) string { return channelID + "/" + identifier }
func ContactKey(workspace, contactID string) string { return workspace + "/" + contactID }
func parseMessageStream(stream string) (ch, msg string) {
	rest, ok := strings.CutPrefix(stream, "message:")
	if !ok {
		return "", ""
	}
	ch, msg, _ = strings.Cut(rest, ":")
	return ch, msg
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ContactKeys is the identifier→contact cache: which contact each match key resolves to.
type ContactKeys struct{}

func (ContactKeys) Name() string     { return "contact_keys" }
func (ContactKeys) Tables() []string { return []string{"contact_keys"} }

func (ContactKeys) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	switch e.Type {
	case domain.EventMatchKeyResolved:
		var p domain.MatchKeyResolved
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO contact_keys (match_key, workspace, lookup, identifier, contact_id, how, resolved_at, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (match_key) DO UPDATE SET contact_id = excluded.contact_id, how = excluded.how,
				resolved_at = excluded.resolved_at, position = excluded.position`,
			p.MatchKey.String(), p.MatchKey.Workspace, p.MatchKey.Lookup, p.MatchKey.Identifier, p.ContactID, p.How, ts(e.OccurredAt), e.Position)
		return err
	case domain.EventMatchKeyForgotten:
		var p domain.MatchKeyForgotten
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM contact_keys WHERE match_key = $1`, p.MatchKey.String())
		return err
	case domain.EventMatchKeyFollowed:
		var p domain.MatchKeyFollowedMerge
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE contact_keys SET contact_id = $1, position = $2 WHERE match_key = $3`, p.To, e.Position, p.MatchKey.String())
		return err
	}
	return applyCorrectionToKeys(ctx, tx, e)
}

// Audit indexes every event of a message under the message, its sender and its contact,
// so an auditor can read "why" for any of the three.
type Audit struct{}

func (Audit) Name() string { return "audit" }
func (Audit) Tables() []string {
	return []string{"audit_messages", "audit_entries", "audit_sender_keys"}
}

func (Audit) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	if e.Type == domain.EventMessageReceived {
		var p domain.MessageReceived
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_messages (correlation_id, channel_id, message_id, workspace)
			VALUES ($1, $2, $3, $4) ON CONFLICT (correlation_id) DO NOTHING`, e.CorrelationID, p.ChannelID, p.MessageID, p.WorkspaceID); err != nil {
			return err
		}
	}
	var chID, msgID, workspace, senderKey, contactKey string
	err := tx.QueryRowContext(ctx, `SELECT channel_id, message_id, workspace, sender_key, contact_key FROM audit_messages WHERE correlation_id = $1`,
		e.CorrelationID).Scan(&chID, &msgID, &workspace, &senderKey, &contactKey)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	storedSender, storedContact := senderKey, contactKey
	msgKey := MessageKey(chID, msgID)
	switch e.Type {
	case domain.EventSenderIdentified:
		var p domain.SenderIdentified
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		if p.Identifier != "" && known {
			senderKey = SenderKey(chID, p.Identifier)
			if err := adopt(ctx, tx, SubjectSender, senderKey, msgKey, e.CorrelationID); err != nil {
				return err
			}
		}
	case domain.EventContactMatched, domain.EventContactCreated:
		var p struct {
			ContactID string `json:"contact_id"`
		}
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		if known && p.ContactID != "" {
			contactKey = ContactKey(workspace, p.ContactID)
			if err := adopt(ctx, tx, SubjectContact, contactKey, msgKey, e.CorrelationID); err != nil {
				return err
			}
		}
	}
	if known {
		// Most events learn nothing new about the message: rewriting its row for them
		// cost a rebuild a tenth of its time.
		if senderKey != storedSender || contactKey != storedContact {
			if _, err := tx.ExecContext(ctx, `UPDATE audit_messages SET sender_key = $1, contact_key = $2 WHERE correlation_id = $3`,
				senderKey, contactKey, e.CorrelationID); err != nil {
				return err
			}
		}
		if err := index(ctx, tx, SubjectMessage, msgKey, e); err != nil {
			return err
		}
		if senderKey != "" {
			if err := index(ctx, tx, SubjectSender, senderKey, e); err != nil {
				return err
			}
		}
		if contactKey != "" {
			if err := index(ctx, tx, SubjectContact, contactKey, e); err != nil {
				return err
			}
		}
	}
	// Key events also concern the contact they name, whoever caused them (a HubSpot
	// webhook, an operator).
	var kp struct {
		MatchKey  domain.MatchKey `json:"match_key"`
		ContactID string          `json:"contact_id"`
		To        string          `json:"to"`
	}
	switch e.Type {
	case domain.EventMatchKeyResolved, domain.EventMatchKeyForgotten, domain.EventMatchKeyFollowed:
		if err := domain.Decode(e, &kp); err != nil {
			return err
		}
		for _, id := range []string{kp.ContactID, kp.To} {
			if id != "" {
				if err := index(ctx, tx, SubjectContact, ContactKey(kp.MatchKey.Workspace, id), e); err != nil {
					return err
				}
			}
		}
	}
	if err := indexKeyChange(ctx, tx, e); err != nil {
		return err
	}
	return indexCorrection(ctx, tx, e)
}

// adopt copies a message's entries so far under a newly learned subject: the sender's
// and the contact's timelines then start with the message that reached them.
func adopt(ctx context.Context, tx *sql.Tx, subject, key, msgKey, correlationID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (subject, subject_key, position, stream_id, version, type, occurred_at, correlation_id, data)
		SELECT $1, $2, position, stream_id, version, type, occurred_at, correlation_id, data FROM audit_entries
		WHERE subject = $3 AND subject_key = $4 AND correlation_id = $5
		ON CONFLICT (subject, subject_key, position) DO NOTHING`, subject, key, SubjectMessage, msgKey, correlationID)
	return err
}

func index(ctx context.Context, tx *sql.Tx, subject, key string, e domain.RecordedEvent) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (subject, subject_key, position, stream_id, version, type, occurred_at, correlation_id, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (subject, subject_key, position) DO NOTHING`,
		subject, key, e.Position, e.StreamID, e.Version, e.Type, ts(e.OccurredAt), e.CorrelationID, string(e.Payload))
	return err
}

// Unlinked lists conversations that landed tied to no contact, with the reason.
type Unlinked struct{}

func (Unlinked) Name() string     { return "unlinked" }
func (Unlinked) Tables() []string { return []string{"unlinked_conversations"} }

func (Unlinked) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	if e.Type != domain.EventConversationUnlinked {
		return nil
	}
	var p domain.ConversationUnlinked
	if err := domain.Decode(e, &p); err != nil {
		return err
	}
	ch, msg := parseMessageStream(e.StreamID)
	_, err := tx.ExecContext(ctx, `INSERT INTO unlinked_conversations (stream_id, channel_id, message_id, reason, detail, occurred_at, position)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream_id) DO UPDATE SET reason = excluded.reason,
		detail = excluded.detail, occurred_at = excluded.occurred_at, position = excluded.position`,
		e.StreamID, ch, msg, p.Reason, p.Detail, ts(e.OccurredAt), e.Position)
	return err
}

// Ambiguous lists resolutions that chose among several matching contacts (rule 6).
type Ambiguous struct{}

func (Ambiguous) Name() string     { return "ambiguous" }
func (Ambiguous) Tables() []string { return []string{"ambiguous_resolutions"} }

func (Ambiguous) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	if e.Type != domain.EventContactMatched {
		return nil
	}
	var p domain.ContactMatched
	if err := domain.Decode(e, &p); err != nil {
		return err
	}
	if !p.Ambiguous {
		return nil
	}
	cands, err := json.Marshal(p.Candidates)
	if err != nil {
		return err
	}
	ch, msg := parseMessageStream(e.StreamID)
	_, err = tx.ExecContext(ctx, `INSERT INTO ambiguous_resolutions (stream_id, channel_id, message_id, contact_id, candidates, occurred_at, position)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream_id) DO NOTHING`,
		e.StreamID, ch, msg, p.ContactID, string(cands), ts(e.OccurredAt), e.Position)
	return err
}

// DeadLetters lists work that failed for good and waits for an operator.
type DeadLetters struct{}

func (DeadLetters) Name() string     { return "dead_letters" }
func (DeadLetters) Tables() []string { return []string{"dead_letters"} }

func (DeadLetters) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	switch e.Type {
	case domain.EventDeadLettered:
		var p domain.DeadLettered
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		ch, msg := parseMessageStream(e.StreamID)
		_, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (stream_id, channel_id, message_id, stage, reason, status, attempts, correlation_id, occurred_at, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage,
			reason = excluded.reason, status = excluded.status, attempts = excluded.attempts, occurred_at = excluded.occurred_at, position = excluded.position`,
			e.StreamID, ch, msg, p.Stage, p.Reason, p.Status, p.Attempts, e.CorrelationID, ts(e.OccurredAt), e.Position)
		return err
	case domain.EventRetryRequested, domain.EventMessagePublished, domain.EventContactMatched, domain.EventContactCreated, domain.EventConversationUnlinked:
		_, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE stream_id = $1`, e.StreamID)
		return err
	}
	return nil
}

package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// parseMessageStream reads the channel and message id out of a message stream's logical
// name ("message:{channel}:{message id}"). Once the message's subject is erased the
// event names its stream by the stored name ("message:3f9a…", no second colon), which
// holds neither: the message id reads Erased and the channel is unknown (""), which is
// also what scrubbing a row of the message leaves, so a rebuild writes the same rows.
func parseMessageStream(stream string) (ch, msg string) {
	rest, ok := strings.CutPrefix(stream, "message:")
	if !ok {
		return "", ""
	}
	ch, msg, ok = strings.Cut(rest, ":")
	if !ok {
		return "", domain.Erased
	}
	return ch, msg
}

// erasedSubject is the subject id a SubjectErased names ("" for any other event, and
// for an erasure that names none, which has nothing to scrub).
func erasedSubject(e domain.RecordedEvent) (string, error) {
	if e.Type != domain.EventSubjectErased {
		return "", nil
	}
	var p domain.SubjectErased
	if err := domain.Decode(e, &p); err != nil {
		return "", err
	}
	return p.SubjectID, nil
}

// erasedKey reports whether a match key was read from an erased event. Such a key
// resolves nobody: the identifier cache, the corrections and the sender index skip the
// events that name it, as a rebuild over the erased log must (every erased phone key
// of a workspace would otherwise collide as "ws:phone:[erased]"), and erasing the
// subject deletes the rows its live events wrote.
func erasedKey(k domain.MatchKey) bool { return k.Identifier == domain.Erased }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ContactKeys is the identifier→contact cache: which contact each match key resolves to.
type ContactKeys struct{}

func (ContactKeys) Name() string     { return "contact_keys" }
func (ContactKeys) Tables() []string { return []string{"contact_keys"} }

// Erasing a subject deletes its keys: an erased key resolves nobody (erasedKey).
func (ContactKeys) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	switch e.Type {
	case domain.EventSubjectErased:
		subject, err := erasedSubject(e)
		if err != nil || subject == "" {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM contact_keys WHERE subject_id = $1`, subject); err != nil {
			return fmt.Errorf("contact keys: scrub an erased subject: %w", err)
		}
		return nil
	case domain.EventMatchKeyResolved:
		var p domain.MatchKeyResolved
		if err := domain.Decode(e, &p); err != nil || erasedKey(p.MatchKey) {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO contact_keys (match_key, workspace, lookup, identifier, contact_id, how, resolved_at, position, subject_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (match_key) DO UPDATE SET contact_id = excluded.contact_id, how = excluded.how,
				resolved_at = excluded.resolved_at, position = excluded.position, subject_id = excluded.subject_id`,
			p.MatchKey.String(), p.MatchKey.Workspace, p.MatchKey.Lookup, p.MatchKey.Identifier, p.ContactID, p.How, ts(e.OccurredAt), e.Position, e.Subject)
		return err
	case domain.EventMatchKeyForgotten:
		var p domain.MatchKeyForgotten
		if err := domain.Decode(e, &p); err != nil || erasedKey(p.MatchKey) {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM contact_keys WHERE match_key = $1`, p.MatchKey.String())
		return err
	case domain.EventMatchKeyFollowed:
		var p domain.MatchKeyFollowedMerge
		if err := domain.Decode(e, &p); err != nil || erasedKey(p.MatchKey) {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE contact_keys SET contact_id = $1, position = $2 WHERE match_key = $3`, p.To, e.Position, p.MatchKey.String())
		return err
	}
	return applyCorrectionToKeys(ctx, tx, e)
}

// Audit indexes every event of a message under the message, its sender and its contact,
// so an auditor can read "why" for any of the three: each event is stored once
// (audit_events), and a message is linked to each of its timelines once (audit_links);
// events that concern a sender or contact by themselves (key events, corrections,
// HubSpot's webhooks) go on its timeline one by one (audit_entries).
//
// Erasing a subject (scrubAudit) leaves what a rebuild over the erased log writes: the
// subject's events stay on their message's and contact's timelines (contact ids are not
// personal, so the audit of an erased contact still tells what happened, when and why),
// with every personal value reading Erased and streams named by their stored names; a
// message whose id is erased is keyed by its stored stream instead (MessageKey(channel,
// stored name)), since every erased message id reads the same; a sender key embeds the
// identifier, so an erased sender has no timeline at all.
//
// An Audit made by NewAudit remembers, between batches, the messages its batches
// wrote (ApplyBatchAfter): a message's later events then come in later batches of a
// live runner, and each would read the message's row back where the memory knows it.
// The zero Audit remembers nothing past a batch.
type Audit struct{ memo *auditMemo }

// NewAudit is an Audit that remembers its messages between batches.
func NewAudit() Audit { return Audit{memo: &auditMemo{through: -1}} }

func (Audit) Name() string { return "audit" }

// ReadIndexes are the audit's indexes that only its queries and the scrub of an erased
// subject use: a rebuild creates them at its end (ReadIndexed).
func (Audit) ReadIndexes() []string {
	return []string{"audit_messages_subject", "audit_messages_sender_subject", "audit_messages_contact",
		"audit_events_subject", "audit_events_stored_stream", "audit_events_correlation", "audit_entries_key_subject", "audit_links_key_subject"}
}

func (Audit) Tables() []string {
	return []string{"audit_messages", "audit_events", "audit_links", "audit_entries", "audit_sender_keys"}
}

// auditMessage is a message's row of audit_messages.
type auditMessage struct {
	channel, id, workspace, senderKey, contactKey string
	// subject sealed the MessageReceived, senderSubject the SenderIdentified that gave
	// the sender key; stored is the stream's stored name.
	subject, stored, senderSubject string
}

// key names the message's timeline.
func (m auditMessage) key() string {
	if m.id == domain.Erased {
		return MessageKey(m.channel, m.stored)
	}
	return MessageKey(m.channel, m.id)
}

func (a Audit) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	return a.ApplyBatch(ctx, tx, []domain.RecordedEvent{e})
}

// maxRemembered bounds the messages an Audit remembers between batches; past it the
// memory starts again (a miss costs a read of the message's row).
const maxRemembered = 10_000

// auditMemo is what the audit's batches knew of their messages when the last of them
// ended. It holds only while the audit's rows are what those batches left:
//   - the next batch continues from the checkpoint the last one moved the audit to, so
//     no other process (a node, a rebuild) applied the audit in between;
//   - and that batch's transaction committed (Committed), so its rows are there.
//
// Otherwise it is forgotten: a batch undone must not leave a message known that its
// rows lack.
type auditMemo struct {
	mu sync.Mutex
	// through is the checkpoint the remembered batches moved the audit to, once their
	// transaction committed; -1 while a batch is applied or after one failed.
	through int64
	// pending is the checkpoint of the batch applied last, until it commits.
	pending  int64
	messages map[string]*auditMessage
}

// ApplyBatchAfter applies evs, which come after the audit's checkpoint from (-1: not
// known), starting from the messages the batches before remembered when they continue
// the same run of commits.
func (a Audit) ApplyBatchAfter(ctx context.Context, tx *sql.Tx, from int64, evs []domain.RecordedEvent) error {
	if a.memo == nil {
		return a.ApplyBatch(ctx, tx, evs)
	}
	m := a.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if from < 0 || m.through != from || len(m.messages) > maxRemembered {
		m.messages = map[string]*auditMessage{}
	}
	m.through, m.pending = -1, evs[len(evs)-1].Position
	return applyAudit(ctx, tx, &auditBatch{messages: m.messages}, evs)
}

// Committed tells the audit that the transaction of the batch that moved its checkpoint
// to through has committed.
func (a Audit) Committed(through int64) {
	if a.memo == nil {
		return
	}
	a.memo.mu.Lock()
	defer a.memo.mu.Unlock()
	if a.memo.pending == through {
		a.memo.through = through
	}
}

// ApplyBatch applies evs in order. A rebuild applies thousands of events per
// transaction, and a message's events mostly come together: what an event wrote of its
// message's row is kept for the next event of the batch instead of read back
// (docs/performance.md, "Rebuild: the audit's batches and its indexes").
func (a Audit) ApplyBatch(ctx context.Context, tx *sql.Tx, evs []domain.RecordedEvent) error {
	if a.memo != nil {
		// Rows written without the memory: what it remembers may no longer hold.
		a.memo.mu.Lock()
		a.memo.through = -1
		a.memo.mu.Unlock()
	}
	return applyAudit(ctx, tx, &auditBatch{messages: map[string]*auditMessage{}}, evs)
}

func applyAudit(ctx context.Context, tx *sql.Tx, b *auditBatch, evs []domain.RecordedEvent) error {
	for _, e := range evs {
		if err := b.apply(ctx, tx, e); err != nil {
			return fmt.Errorf("apply %s at %d: %w", e.Type, e.Position, err)
		}
	}
	return nil
}

// auditBatch is what the audit knows of the messages of one batch, within its
// transaction, and of the batches before it that its memory continues (auditMemo).
type auditBatch struct {
	// messages are audit_messages rows read or written, by correlation id.
	messages map[string]*auditMessage
}

func (b *auditBatch) apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	erased, err := erasedSubject(e)
	if err != nil {
		return err
	}
	if erased != "" {
		if err := scrubAudit(ctx, tx, erased); err != nil {
			return fmt.Errorf("audit: scrub an erased subject: %w", err)
		}
		// The scrub rewrote messages' rows and links behind this batch's back.
		clear(b.messages)
	}
	st, err := b.message(ctx, tx, e)
	if err != nil {
		return err
	}
	known := st != nil
	var m auditMessage
	if known {
		m = *st
	}
	stored := m
	// The timelines e's message joins with e: its own when e records it, its sender's
	// or contact's when e tells one the message was not linked to (a row that names a
	// sender or contact was written with its link).
	var links []timeline
	if known && e.Type == domain.EventMessageReceived {
		links = append(links, timeline{SubjectMessage, m.key(), m.subject})
	}
	var identified *domain.SenderIdentified
	switch e.Type {
	case domain.EventSenderIdentified:
		var p domain.SenderIdentified
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		identified = &p
		// An erased identifier names no sender: its timeline would be every erased
		// sender's of the channel.
		if p.Identifier != "" && p.Identifier != domain.Erased && known {
			m.senderKey, m.senderSubject = SenderKey(m.channel, p.Identifier), e.Subject
			if m.senderKey != stored.senderKey {
				links = append(links, timeline{SubjectSender, m.senderKey, m.senderSubject})
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
			m.contactKey = ContactKey(m.workspace, p.ContactID)
			if m.contactKey != stored.contactKey {
				links = append(links, timeline{SubjectContact, m.contactKey, ""})
			}
		}
	}
	if known && (m.senderKey != stored.senderKey || m.contactKey != stored.contactKey || m.senderSubject != stored.senderSubject) {
		// Most events learn nothing new about the message: rewriting its row for them
		// cost a rebuild a tenth of its time.
		if _, err := tx.ExecContext(ctx, `UPDATE audit_messages SET sender_key = $1, contact_key = $2, sender_subject = $3 WHERE correlation_id = $4`,
			m.senderKey, m.contactKey, m.senderSubject, e.CorrelationID); err != nil {
			return err
		}
		*st = m
	}
	// Key events also concern the contact they name, whoever caused them (a HubSpot
	// webhook, an operator): those go on the contact's timeline one by one.
	var entries []timeline
	switch e.Type {
	case domain.EventMatchKeyResolved, domain.EventMatchKeyForgotten, domain.EventMatchKeyFollowed:
		var kp struct {
			MatchKey  domain.MatchKey `json:"match_key"`
			ContactID string          `json:"contact_id"`
			To        string          `json:"to"`
		}
		if err := domain.Decode(e, &kp); err != nil {
			return err
		}
		for _, id := range []string{kp.ContactID, kp.To} {
			if t := (timeline{SubjectContact, ContactKey(kp.MatchKey.Workspace, id), ""}); id != "" && !slices.Contains(entries, t) {
				entries = append(entries, t)
			}
		}
	}
	// Every event of a known message is on its message's timeline, so the audit keeps it.
	if known || len(entries) > 0 {
		if err := index(ctx, tx, e, entries); err != nil {
			return err
		}
	}
	if err := link(ctx, tx, e.CorrelationID, links); err != nil {
		return err
	}
	if err := indexKeyChange(ctx, tx, e, identified); err != nil {
		return err
	}
	return indexCorrection(ctx, tx, e)
}

// message is the audit_messages row of e's message, recording it first when e is a
// MessageReceived; nil for an event of no message the audit has seen.
func (b *auditBatch) message(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) (*auditMessage, error) {
	if st, ok := b.messages[e.CorrelationID]; ok {
		return st, nil
	}
	if e.Type == domain.EventMessageReceived {
		var p domain.MessageReceived
		if err := domain.Decode(e, &p); err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_messages (correlation_id, channel_id, message_id, workspace, subject_id, stored_stream)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (correlation_id) DO NOTHING`,
			e.CorrelationID, p.ChannelID, p.MessageID, p.WorkspaceID, e.Subject, e.Stored())
		if err != nil {
			return nil, err
		}
		// The row just written is known without reading it back; one that was there
		// already (a message recorded twice under one correlation id) is read below.
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			st := &auditMessage{channel: p.ChannelID, id: p.MessageID, workspace: p.WorkspaceID,
				subject: e.Subject, stored: e.Stored()}
			b.messages[e.CorrelationID] = st
			return st, nil
		}
	}
	var m auditMessage
	err := tx.QueryRowContext(ctx, `SELECT channel_id, message_id, workspace, sender_key, contact_key, subject_id, stored_stream, sender_subject
		FROM audit_messages WHERE correlation_id = $1`,
		e.CorrelationID).Scan(&m.channel, &m.id, &m.workspace, &m.senderKey, &m.contactKey, &m.subject, &m.stored, &m.senderSubject)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st := &m
	b.messages[e.CorrelationID] = st
	return st, nil
}

// timeline is one of the audit's timelines: keySubject is the subject whose identifier
// its key embeds (a message's or a sender's; "" for a contact's), so that a sender's
// timeline goes with that subject's erasure.
type timeline struct{ subject, key, keySubject string }

// link puts the message of correlationID on the timelines ts: a timeline holds its
// messages' events by their correlation id (Reader.Timeline), so a message's events,
// those before and after the link alike, are written once, in audit_events, and a
// known sender's message writes three links where it wrote twelve entries
// (docs/performance.md, "The audit links messages to timelines").
func link(ctx context.Context, tx *sql.Tx, correlationID string, ts []timeline) error {
	for _, t := range ts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_links (subject, subject_key, correlation_id, key_subject)
			VALUES ($1, $2, $3, $4) ON CONFLICT (subject, subject_key, correlation_id) DO NOTHING`,
			t.subject, t.key, correlationID, t.keySubject); err != nil {
			return err
		}
	}
	return nil
}

// index stores e and puts it on the timelines of entries, which hold events one by one
// (a key event on the contacts it names).
func index(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent, entries []timeline) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (position, stream_id, version, type, occurred_at, correlation_id, data,
			subject_id, stored_stream)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (position) DO NOTHING`,
		e.Position, e.StreamID, e.Version, e.Type, ts(e.OccurredAt), e.CorrelationID, string(e.Payload),
		e.Subject, e.Stored()); err != nil {
		return err
	}
	for _, t := range entries {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (subject, subject_key, position, key_subject)
			VALUES ($1, $2, $3, $4) ON CONFLICT (subject, subject_key, position) DO NOTHING`,
			t.subject, t.key, e.Position, t.keySubject); err != nil {
			return err
		}
	}
	return nil
}

// scrubAudit makes the audit rows derived from subject's events what a rebuild over
// the erased log writes (see Audit). It is idempotent: the rows a rebuild writes are
// left as they are.
func scrubAudit(ctx context.Context, tx *sql.Tx, subject string) error {
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	// The literal lets the planner use the partial index on senders' rows.
	if err := exec(`DELETE FROM audit_links WHERE subject = 'sender' AND key_subject = $1`, subject); err != nil {
		return fmt.Errorf("sender timelines: %w", err)
	}
	if err := exec(`DELETE FROM audit_entries WHERE subject = 'sender' AND key_subject = $1`, subject); err != nil {
		return fmt.Errorf("sender timelines: %w", err)
	}
	if err := exec(`DELETE FROM audit_sender_keys WHERE subject_id = $1`, subject); err != nil {
		return fmt.Errorf("sender keys: %w", err)
	}
	if err := exec(`UPDATE audit_messages SET sender_key = '', sender_subject = '' WHERE sender_subject = $1`, subject); err != nil {
		return fmt.Errorf("senders of messages: %w", err)
	}
	// Messages: their timelines move to the key that does not name the message id.
	messages, err := query(ctx, tx, func(rows *sql.Rows) (auditMessage, error) {
		var m auditMessage
		return m, rows.Scan(&m.channel, &m.id, &m.stored)
	}, `SELECT channel_id, message_id, stored_stream FROM audit_messages WHERE subject_id = $1 AND message_id <> $2`, subject, domain.Erased)
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	for _, m := range messages {
		old := m.key()
		m.id = domain.Erased
		if err := exec(`UPDATE audit_links SET subject_key = $1 WHERE subject = $2 AND subject_key = $3`, m.key(), SubjectMessage, old); err != nil {
			return fmt.Errorf("message timeline: %w", err)
		}
	}
	if err := exec(`UPDATE audit_messages SET message_id = $1 WHERE subject_id = $2`, domain.Erased, subject); err != nil {
		return fmt.Errorf("message ids: %w", err)
	}
	// Streams: the subject's lose their logical names, for every event in them (a
	// RetryRequested holds nothing personal, and so no subject, but its stream's name
	// is the message's). A stream counts as the subject's when any of its events is;
	// the store hides a name with its owner's erasure (a message's: its
	// MessageReceived's subject). The two differ only for a message whose resolution
	// identified another key than the message was sealed with: erasing that key hides
	// the message's stream names here (and in the unlinked, ambiguous and dead-letter
	// rows) while a rebuild would still show them — more hidden, never less.
	streams, err := query(ctx, tx, func(rows *sql.Rows) (string, error) {
		var s string
		return s, rows.Scan(&s)
	}, `SELECT DISTINCT stored_stream FROM audit_events WHERE subject_id = $1 AND stored_stream <> ''`, subject)
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	for _, s := range streams {
		if err := exec(`UPDATE audit_events SET stream_id = stored_stream WHERE stored_stream = $1`, s); err != nil {
			return fmt.Errorf("stream names: %w", err)
		}
	}
	// Payloads: as the log reads them now.
	type entry struct {
		typ, data string
		position  int64
	}
	entries, err := query(ctx, tx, func(rows *sql.Rows) (entry, error) {
		var e entry
		return e, rows.Scan(&e.position, &e.typ, &e.data)
	}, `SELECT position, type, data FROM audit_events WHERE subject_id = $1`, subject)
	if err != nil {
		return fmt.Errorf("entries: %w", err)
	}
	for _, e := range entries {
		data, err := domain.ErasePersonal(e.typ, json.RawMessage(e.data))
		if err != nil {
			return fmt.Errorf("entry at position %d: %w", e.position, err)
		}
		if string(data) == e.data {
			continue
		}
		if err := exec(`UPDATE audit_events SET data = $1 WHERE position = $2`, string(data), e.position); err != nil {
			return fmt.Errorf("entry at position %d: %w", e.position, err)
		}
	}
	return nil
}

// Unlinked lists conversations that landed tied to no contact, with the reason.
type Unlinked struct{}

func (Unlinked) Name() string     { return "unlinked" }
func (Unlinked) Tables() []string { return []string{"unlinked_conversations"} }

// scrubMessageRows rewrites the rows of table (one per message, keyed by its stream) of
// an erased subject as a rebuild over the erased log writes them: under the stream's
// stored name, with no channel, the message id and the text column erased. table and
// text are this package's names, never input.
func scrubMessageRows(ctx context.Context, tx *sql.Tx, table, text, subject string) error {
	_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET stream_id = stored_stream, channel_id = '',
			message_id = CASE WHEN message_id = '' THEN '' ELSE $1 END, `+text+` = CASE WHEN `+text+` = '' THEN '' ELSE $1 END
			WHERE subject_id = $2`, domain.Erased, subject)
	return err
}

// Erasing a subject leaves its conversations listed, as a rebuild over the erased log
// does: under the stream's stored name, with no channel (parseMessageStream), the
// message id and the detail erased; the reason is one of switchboard's codes.
func (Unlinked) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	if e.Type == domain.EventSubjectErased {
		subject, err := erasedSubject(e)
		if err != nil || subject == "" {
			return err
		}
		if err := scrubMessageRows(ctx, tx, "unlinked_conversations", "detail", subject); err != nil {
			return fmt.Errorf("unlinked: scrub an erased subject: %w", err)
		}
		return nil
	}
	if e.Type != domain.EventConversationUnlinked {
		return nil
	}
	var p domain.ConversationUnlinked
	if err := domain.Decode(e, &p); err != nil {
		return err
	}
	ch, msg := parseMessageStream(e.StreamID)
	_, err := tx.ExecContext(ctx, `INSERT INTO unlinked_conversations (stream_id, channel_id, message_id, reason, detail, occurred_at, position,
			subject_id, stored_stream)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (stream_id) DO UPDATE SET reason = excluded.reason,
		detail = excluded.detail, occurred_at = excluded.occurred_at, position = excluded.position,
		subject_id = excluded.subject_id, stored_stream = excluded.stored_stream`,
		e.StreamID, ch, msg, p.Reason, p.Detail, ts(e.OccurredAt), e.Position, e.Subject, e.Stored())
	return err
}

// Ambiguous lists resolutions that chose among several matching contacts (rule 6).
type Ambiguous struct{}

func (Ambiguous) Name() string     { return "ambiguous" }
func (Ambiguous) Tables() []string { return []string{"ambiguous_resolutions"} }

// Erasing a subject leaves its resolutions listed, as a rebuild over the erased log
// does: under the stream's stored name, with no channel, the message id and the
// candidates' property values erased.
func (Ambiguous) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	if e.Type == domain.EventSubjectErased {
		subject, err := erasedSubject(e)
		if err != nil || subject == "" {
			return err
		}
		if err := scrubAmbiguous(ctx, tx, subject); err != nil {
			return fmt.Errorf("ambiguous: scrub an erased subject: %w", err)
		}
		return nil
	}
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
	_, err = tx.ExecContext(ctx, `INSERT INTO ambiguous_resolutions (stream_id, channel_id, message_id, contact_id, candidates, occurred_at, position,
			subject_id, stored_stream)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (stream_id) DO NOTHING`,
		e.StreamID, ch, msg, p.ContactID, string(cands), ts(e.OccurredAt), e.Position, e.Subject, e.Stored())
	return err
}

func scrubAmbiguous(ctx context.Context, tx *sql.Tx, subject string) error {
	type row struct{ stream, candidates string }
	rows, err := query(ctx, tx, func(rows *sql.Rows) (row, error) {
		var r row
		return r, rows.Scan(&r.stream, &r.candidates)
	}, `SELECT stream_id, candidates FROM ambiguous_resolutions WHERE subject_id = $1`, subject)
	if err != nil {
		return err
	}
	for _, r := range rows {
		// The candidates as Apply writes them from the erased ContactMatched: its
		// personal paths there are the candidates' values.
		var cands []domain.CandidateVerdict
		if err := json.Unmarshal([]byte(r.candidates), &cands); err != nil {
			return fmt.Errorf("candidates: %w", err)
		}
		for _, c := range cands {
			for k, v := range c.Values {
				c.Values[k] = domain.EraseValue(v)
			}
		}
		scrubbed, err := json.Marshal(cands)
		if err != nil {
			return fmt.Errorf("candidates: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ambiguous_resolutions SET stream_id = stored_stream, channel_id = '',
			message_id = CASE WHEN message_id = '' THEN '' ELSE $1 END, candidates = $2 WHERE stream_id = $3`,
			domain.Erased, string(scrubbed), r.stream); err != nil {
			return err
		}
	}
	return nil
}

// DeadLetters lists work that failed for good and waits for an operator.
type DeadLetters struct{}

func (DeadLetters) Name() string     { return "dead_letters" }
func (DeadLetters) Tables() []string { return []string{"dead_letters"} }

// Erasing a subject leaves its dead letters listed, as a rebuild over the erased log
// does: under the stream's stored name, with no channel, the message id and the reason
// erased. Nothing publishes an erased message (domain.MessageState.Erased), so such a
// letter is not to be retried.
func (DeadLetters) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	switch e.Type {
	case domain.EventSubjectErased:
		subject, err := erasedSubject(e)
		if err != nil || subject == "" {
			return err
		}
		if err := scrubMessageRows(ctx, tx, "dead_letters", "reason", subject); err != nil {
			return fmt.Errorf("dead letters: scrub an erased subject: %w", err)
		}
		return nil
	case domain.EventDeadLettered:
		var p domain.DeadLettered
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		ch, msg := parseMessageStream(e.StreamID)
		_, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (stream_id, channel_id, message_id, stage, reason, status, attempts, correlation_id, occurred_at, position,
				subject_id, stored_stream)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (stream_id) DO UPDATE SET stage = excluded.stage,
			reason = excluded.reason, status = excluded.status, attempts = excluded.attempts, occurred_at = excluded.occurred_at, position = excluded.position,
			subject_id = excluded.subject_id, stored_stream = excluded.stored_stream`,
			e.StreamID, ch, msg, p.Stage, p.Reason, p.Status, p.Attempts, e.CorrelationID, ts(e.OccurredAt), e.Position, e.Subject, e.Stored())
		return err
	case domain.EventRetryRequested, domain.EventMessagePublished, domain.EventContactMatched, domain.EventContactCreated, domain.EventConversationUnlinked:
		_, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE stream_id = $1`, e.StreamID)
		return err
	}
	return nil
}

package projections

import (
	"context"
	"database/sql"
	"fmt"

	"switchboard/domain"
)

// indexKeyChange puts what HubSpot said on the audit timelines it concerns (rule 7):
// a forgotten or followed key on the timeline of every sender that wrote under the key
// (the change names no message), and a recorded HubSpot webhook event on the
// timeline of its contacts. It is part of the Audit projection, whose rebuild empties
// audit_sender_keys with the entries. identified is e's payload when e is a
// SenderIdentified the caller has decoded already: a rebuild spent 7 % of its time
// decoding each one a second time here.
func indexKeyChange(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent, identified *domain.SenderIdentified) error {
	switch e.Type {
	case domain.EventSenderIdentified:
		p := identified
		if p == nil {
			p = new(domain.SenderIdentified)
			if err := domain.Decode(e, p); err != nil {
				return err
			}
		}
		if p.MatchKey.Identifier == "" || p.Identifier == "" || erasedKey(p.MatchKey) || p.Identifier == domain.Erased {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_sender_keys (match_key, sender_key, subject_id) VALUES ($1, $2, $3)
			ON CONFLICT (match_key, sender_key) DO NOTHING`, p.MatchKey.String(), SenderKey(p.ChannelID, p.Identifier), e.Subject)
		return err
	case domain.EventMatchKeyForgotten, domain.EventMatchKeyFollowed:
		var p struct {
			MatchKey domain.MatchKey `json:"match_key"`
		}
		if err := domain.Decode(e, &p); err != nil || erasedKey(p.MatchKey) {
			return err
		}
		type sender struct{ key, subject string }
		senders, err := query(ctx, tx, func(rows *sql.Rows) (sender, error) {
			var s sender
			return s, rows.Scan(&s.key, &s.subject)
		}, `SELECT sender_key, subject_id FROM audit_sender_keys WHERE match_key = $1 ORDER BY sender_key`, p.MatchKey.String())
		if err != nil {
			return err
		}
		for _, s := range senders {
			if err := index(ctx, tx, e, []timeline{{SubjectSender, s.key, s.subject}}); err != nil {
				return err
			}
		}
	case domain.EventHubSpotContactChanged:
		var p domain.HubSpotContactChanged
		if err := domain.Decode(e, &p); err != nil {
			return err
		}
		ids := append([]string{p.ObjectID}, p.MergedObjectIDs...)
		if p.NewObjectID != "" {
			ids = append(ids, p.NewObjectID)
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			if err := index(ctx, tx, e, []timeline{{SubjectContact, ContactKey(p.WorkspaceID, id), ""}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeysOfWorkspace lists the workspace's resolved match keys by the contact they are
// bound to (the reconciliation pass re-reads each contact).
func (r *Reader) KeysOfWorkspace(ctx context.Context, workspace string) (map[string][]domain.MatchKey, error) {
	rows, err := query(ctx, r.db, func(rows *sql.Rows) (ContactKeyRow, error) {
		var k ContactKeyRow
		err := rows.Scan(&k.Workspace, &k.Lookup, &k.Identifier, &k.ContactID)
		return k, err
	}, `SELECT workspace, lookup, identifier, contact_id FROM contact_keys WHERE workspace = $1 ORDER BY contact_id, match_key`, workspace)
	if err != nil {
		return nil, fmt.Errorf("keys of workspace %s: %w", workspace, err)
	}
	out := map[string][]domain.MatchKey{}
	for _, k := range rows {
		out[k.ContactID] = append(out[k.ContactID], domain.MatchKey{Workspace: k.Workspace, Lookup: k.Lookup, Identifier: k.Identifier})
	}
	return out, nil
}

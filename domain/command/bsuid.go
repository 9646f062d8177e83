package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"switchboard/domain"
)

// errBSUIDKeyMoved says a key stream moved between the read DecideBSUID saw and the
// append it asked for.
var errBSUIDKeyMoved = errors.New("key stream moved")

// recordBSUID performs what domain.DecideBSUID asks for a message resolved to a contact
// (rule 14): write the BSUID to the contact, bind the BSUID's key, record it on the
// phone's key. Best effort: the message's outcome stands when any of it fails, and
// the phone key records nothing then, so its next message with the BSUID tries again.
func (h *ResolveMessageHandler) recordBSUID(ctx context.Context, in domain.ResolutionInput, sender domain.Sender, outcome Change, log *slog.Logger) {
	bin := domain.BSUIDInput{Channel: in.Channel, Identification: in.Identification, BSUID: sender.BSUID,
		Blocked: h.catalog.BlockList(in.Channel.WorkspaceID)}
	switch p := outcome.Payload.(type) {
	case domain.ContactMatched:
		bin.ContactID = p.ContactID
	case domain.ContactCreated:
		// Created with the message's properties: the BSUID property is what it holds.
		bin.ContactID, bin.Contact = p.ContactID, &domain.Contact{ID: p.ContactID, Properties: p.Properties}
	default:
		return
	}
	corr := in.Attempt.CorrelationID
	var phoneVersion, bsuidVersion int64
	var lookups []domain.Lookup
	// Three rounds: another message of the same person may move a key meanwhile; past
	// that, the next message tries again.
	for round := 0; round < 3; {
		bin.Now = h.now()
		d := domain.DecideBSUID(bin)
		var err error
		switch d.Step {
		case domain.BSUIDNothing:
			return
		case domain.BSUIDReadPhoneKey:
			var ks domain.KeyState
			ks, phoneVersion, err = h.keys.Load(ctx, in.Identification.Key.Stream())
			bin.PhoneKey = &ks
		case domain.BSUIDReadKey:
			var ks domain.KeyState
			ks, bsuidVersion, err = h.keys.Load(ctx, d.Key.Stream())
			bin.BSUIDKey = &ks
		case domain.BSUIDReadContact:
			var dir domain.ContactDirectory
			if dir, err = h.dirs.Directory(in.Channel.WorkspaceID); err == nil {
				var c domain.Contact
				c, err = dir.GetContact(ctx, bin.ContactID, []string{in.Channel.BSUIDProperty})
				if errors.Is(err, domain.ErrContactNotFound) {
					// Deleted meanwhile: HubSpot's webhook will forget the key.
					return
				}
				bin.Contact = &c
				lookups = append(lookups, domain.Lookup{Kind: "read", Query: fmt.Sprintf("contact %s, property %s", bin.ContactID, in.Channel.BSUIDProperty), Found: 1})
			}
		case domain.BSUIDRecord:
			round++
			if d.Record != nil {
				d.Record.Lookups = lookups
			}
			var written bool
			written, err = h.applyBSUID(ctx, in.Channel.WorkspaceID, bin.ContactID, d, phoneVersion, bsuidVersion, corr)
			if errors.Is(err, errBSUIDKeyMoved) {
				// Decide again on fresh keys, knowing what was written.
				if written {
					bin.Contact.Properties = map[string]string{d.Property: d.Value}
				}
				bin.PhoneKey, bin.BSUIDKey = nil, nil
				continue
			}
			if err == nil {
				if d.Reason != "" {
					log.Debug("BSUID recorded in part", "contact_id", bin.ContactID, "reason", d.Reason)
				}
				return
			}
		}
		if err != nil {
			// The error may name a key stream, which holds personal data: its text is
			// for debugging only.
			log.Warn("BSUID not recorded; the next message that carries it tries again", "step", string(d.Step), "contact_id", bin.ContactID)
			log.Debug("BSUID not recorded", "step", string(d.Step), "error", err)
			return
		}
	}
}

// applyBSUID writes the property, binds the BSUID key and records the BSUID on the phone
// key, each key append at the version DecideBSUID read. A failed write still binds the
// key — that alone keeps a BSUID-only message on the person — but records nothing, so
// the next message with the BSUID writes again.
func (h *ResolveMessageHandler) applyBSUID(ctx context.Context, workspace, contactID string, d domain.BSUIDDecision, phoneVersion, bsuidVersion int64,
	corr string) (written bool, err error) {
	var writeErr error
	if d.Write {
		dir, err := h.dirs.Directory(workspace)
		if err == nil {
			err = dir.UpdateContact(ctx, contactID, map[string]string{d.Property: d.Value})
		}
		if err != nil {
			writeErr = fmt.Errorf("write BSUID property %s to contact %s: %w", d.Property, contactID, err)
		}
		written = err == nil
	}
	appendAt := func(stream string, version int64, c Change) error {
		_, err := h.keys.Update(ctx, stream, func(_ domain.KeyState, v int64) ([]Change, error) {
			if v != version {
				return nil, errBSUIDKeyMoved
			}
			return []Change{c}, nil
		}, CorrelatedWith(corr))
		if errors.Is(err, domain.ErrWrongExpectedVersion) {
			return errBSUIDKeyMoved
		}
		return err
	}
	if d.Bind != nil {
		if err := appendAt(d.Key.Stream(), bsuidVersion, Change{domain.EventMatchKeyResolved, *d.Bind}); err != nil {
			return written, err
		}
	}
	if writeErr != nil {
		return false, writeErr
	}
	if d.Record != nil {
		if err := appendAt(d.Record.MatchKey.Stream(), phoneVersion, Change{domain.EventMatchKeyBSUIDRecorded, *d.Record}); err != nil {
			return written, err
		}
	}
	return written, nil
}

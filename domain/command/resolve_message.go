package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchboard/domain"
)

// ResolveMessage decides which contact a recorded message belongs to (SPEC §3) and
// records the decision on the message stream. It is idempotent: a message already
// resolved is left alone, so it may run any number of times, on any node.
type ResolveMessage struct {
	store    domain.EventStore
	catalog  Catalog
	dirs     Directories
	profiles ProfileLookup
	newID    func() string
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	log      *slog.Logger
	locks    keyLocks
}

// ResolveDeps are ResolveMessage's collaborators; Profiles and Logger may be nil.
type ResolveDeps struct {
	Store       domain.EventStore
	Catalog     Catalog
	Directories Directories
	Profiles    ProfileLookup
	NewID       func() string
	Now         func() time.Time
	Sleep       func(context.Context, time.Duration) error
	Logger      *slog.Logger
}

// NewResolveMessage refuses missing dependencies.
func NewResolveMessage(d ResolveDeps) (*ResolveMessage, error) {
	if d.Store == nil || d.Catalog == nil || d.Directories == nil || d.NewID == nil || d.Now == nil {
		return nil, errors.New("new resolve message handler: store, catalog, directories, id generator and clock are required")
	}
	if d.Sleep == nil {
		d.Sleep = sleepCtx
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &ResolveMessage{store: d.Store, catalog: d.Catalog, dirs: d.Directories, profiles: d.Profiles,
		newID: d.NewID, now: d.Now, sleep: d.Sleep, log: d.Logger}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// outcome is the resolution event of one message.
type outcome struct {
	typ     string
	payload any
}

// Handle resolves the message recorded as stream (domain.MessageStream). A transient
// HubSpot failure is returned for the caller to retry; a failure for good is recorded
// as a dead letter and Handle returns nil.
func (h *ResolveMessage) Handle(ctx context.Context, stream string) error {
	evs, err := h.store.ReadStream(ctx, stream, 0)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", stream, err)
	}
	if len(evs) == 0 {
		return fmt.Errorf("resolve %s: no such message", stream)
	}
	st, err := domain.FoldMessage(evs)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", stream, err)
	}
	if !st.NeedsResolution() {
		return nil
	}
	log := h.log.With("correlation_id", st.CorrelationID, "channel_id", st.Received.ChannelID, "message_id", st.Received.MessageID)
	var out []outcome
	ch, ok := h.catalog.Channel(st.Received.ChannelID)
	if !ok {
		out = append(out, outcome{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StageResolution,
			Reason: fmt.Sprintf("channel %q is no longer configured; restore it and retry", st.Received.ChannelID), Attempts: 1}})
		return h.record(ctx, stream, st, out)
	}
	sender := st.Received.Sender
	if h.profiles != nil && ch.Identifier == domain.IdentifyByUsername && sender.Username == "" {
		// Resolving by a wrong identifier is worse than waiting: a failed profile
		// lookup is retried, never skipped.
		if sender, err = h.profiles.CompleteSender(ctx, ch, sender); err != nil {
			err = fmt.Errorf("complete sender from the %s profile API: %w", ch.Kind, err)
			if !errors.Is(err, domain.ErrPermanent) {
				return fmt.Errorf("resolve %s: %w", stream, err)
			}
			log.Error("resolution failed for good", "error", err)
			out = append(out, outcome{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StageResolution, Reason: err.Error(), Attempts: 1}})
			return h.record(ctx, stream, st, out)
		}
	}
	id, unlinked := domain.Identify(ch, h.catalog.BlockList(ch.WorkspaceID), sender)
	if st.Identified == nil && (id.Raw != "" || id.Identifier != "") {
		out = append(out, outcome{domain.EventSenderIdentified, domain.SenderIdentified{
			ChannelID: ch.ID, Settings: ch, Source: id.Source, Raw: id.Raw, Identifier: id.Identifier,
			Steps: id.Steps, MatchKey: id.Key, Searched: id.Searched(),
		}})
	}
	if unlinked != nil {
		out = append(out, outcome{domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: unlinked.Reason, Detail: unlinked.Detail}})
		log.Info("conversation unlinked", "reason", unlinked.Reason)
		return h.record(ctx, stream, st, out)
	}
	res, err := h.resolveKey(ctx, ch, id, sender, st.CorrelationID)
	if err != nil {
		if !errors.Is(err, domain.ErrPermanent) {
			return fmt.Errorf("resolve %s: %w", stream, err)
		}
		log.Error("resolution failed for good", "error", err)
		res = outcome{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StageResolution, Reason: err.Error(), Status: httpStatus(err), Attempts: 1}}
	}
	out = append(out, res)
	return h.record(ctx, stream, st, out)
}

func (h *ResolveMessage) record(ctx context.Context, stream string, st domain.MessageState, out []outcome) error {
	evs := make([]domain.EventData, 0, len(out))
	for _, o := range out {
		e, err := domain.NewEvent(h.newID(), o.typ, o.payload, h.now(), st.CorrelationID)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	_, err := h.store.Append(ctx, stream, domain.ExpectedVersion(st.Version), evs...)
	if errors.Is(err, domain.ErrWrongExpectedVersion) {
		// Another resolver recorded this message's outcome first; its answer stands.
		return nil
	}
	if err != nil {
		return fmt.Errorf("record resolution of %s: %w", stream, err)
	}
	return nil
}

// resolveKey serializes on the match key's stream: the key is claimed with an
// expected-version append before a contact is created, so concurrent first messages
// from one sender — in this process or another — create one contact; the losers read
// the winner's outcome.
func (h *ResolveMessage) resolveKey(ctx context.Context, ch domain.ChannelSettings, id domain.Identification, sender domain.Sender, corr string) (outcome, error) {
	key := id.Key
	unlock := h.locks.lock(key.Stream())
	defer func() { unlock() }()
	dir, err := h.dirs.Directory(ch.WorkspaceID)
	if err != nil {
		return outcome{}, err
	}
	region := h.catalog.Region(ch.WorkspaceID)
	wait := 50 * time.Millisecond
	for {
		evs, err := h.store.ReadStream(ctx, key.Stream(), 0)
		if err != nil {
			return outcome{}, fmt.Errorf("read match key %s: %w", key, err)
		}
		ks, err := domain.FoldKey(evs)
		if err != nil {
			return outcome{}, err
		}
		if ks.Resolved() {
			return stickyOutcome(key, ks, corr), nil
		}
		if ks.ClaimLive(h.now()) && ks.ClaimedBy != corr {
			// Wait without the key's lock: the holder may be a message of this very
			// process coming back to finish its creation, and it needs the lock.
			unlock()
			err := h.sleep(ctx, wait)
			unlock = h.locks.lock(key.Stream())
			if err != nil {
				return outcome{}, err
			}
			wait = min(wait*2, time.Second)
			continue
		}
		found, err := lookup(ctx, dir, id)
		if err != nil {
			return outcome{}, err
		}
		kept, verdicts := domain.ConfirmCandidates(id, region, found.Candidates)
		if len(kept) > 0 {
			chosen, ambiguous, _ := domain.ChooseCandidate(kept)
			matched := domain.MatchedPropertiesOf(verdicts, chosen.ID)
			won, err := h.appendKey(ctx, key, ks.Version, corr, domain.EventMatchKeyResolved,
				domain.MatchKeyResolved{MatchKey: key, ContactID: chosen.ID, How: "matched", MatchedProperties: matched})
			if err != nil {
				return outcome{}, err
			}
			if !won {
				continue
			}
			h.fillBSUID(ctx, dir, ch, id, sender, chosen)
			return outcome{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: chosen.ID,
				Via: viaOf(found), MatchedProperties: matched, Lookups: found.Lookups, Candidates: verdicts, Ambiguous: ambiguous}}, nil
		}
		if !ch.CreatesContacts() {
			reason, detail := domain.UnlinkedNoMatch, fmt.Sprintf("no contact has %s %s and channel %s does not create contacts (auto_create is off)", id.Property, id.Raw, ch.ID)
			if ch.Kind == domain.KindSlack {
				reason, detail = domain.UnlinkedSlackNoMatch, fmt.Sprintf("no contact has %s %s and Slack channels never create contacts", id.Property, id.Raw)
			}
			return outcome{domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: reason, Detail: detail,
				MatchKey: &key, Lookups: found.Lookups, Candidates: verdicts}}, nil
		}
		claimVersion := ks.Version
		if ks.ClaimedBy != corr {
			won, err := h.appendKey(ctx, key, ks.Version, corr, domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: corr})
			if err != nil {
				return outcome{}, err
			}
			if !won {
				continue
			}
			claimVersion = ks.Version + 1
		}
		return h.create(ctx, dir, ch, id, sender, corr, claimVersion, found, verdicts)
	}
}

func (h *ResolveMessage) create(ctx context.Context, dir domain.ContactDirectory, ch domain.ChannelSettings, id domain.Identification,
	sender domain.Sender, corr string, claimVersion int64, found domain.LookupResult, verdicts []domain.CandidateVerdict) (outcome, error) {
	key := id.Key
	if h.profiles != nil && ch.Kind.IsSocial() && sender.FirstName == "" && sender.LastName == "" && sender.DisplayName == "" {
		// Names are a courtesy: a profile API that is down must not hold the message.
		if s, err := h.profiles.CompleteSender(ctx, ch, sender); err == nil {
			sender = s
		} else {
			h.log.Warn("creating contact without names: profile lookup failed", "correlation_id", corr, "error", err)
		}
	}
	props := domain.NewContactProperties(ch, id, sender)
	matched := id.Searched()[:1]
	// The create must end well inside the claim's lease: past it another resolver may
	// take the key over and create a second contact. A create cut short is retried,
	// and the retry looks the contact up before creating again.
	cctx, cancel := context.WithTimeout(ctx, domain.ClaimLease/3)
	c, err := dir.CreateContact(cctx, props)
	cancel()
	var exists *domain.ContactExistsError
	switch {
	case errors.As(err, &exists) && exists.ExistingID != "":
		// HubSpot knows the contact by a unique value (email or the identifier
		// property) that search did not show yet: it is a match, not an error.
		if _, err := h.appendKey(ctx, key, claimVersion, corr, domain.EventMatchKeyResolved,
			domain.MatchKeyResolved{MatchKey: key, ContactID: exists.ExistingID, How: "matched", MatchedProperties: matched}); err != nil {
			return outcome{}, err
		}
		return outcome{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: exists.ExistingID,
			Via: "existing_on_create", MatchedProperties: matched, Lookups: found.Lookups, Candidates: verdicts}}, nil
	case err != nil:
		return outcome{}, fmt.Errorf("create contact for %s: %w", key, err)
	}
	won, err := h.appendKey(ctx, key, claimVersion, corr, domain.EventMatchKeyResolved,
		domain.MatchKeyResolved{MatchKey: key, ContactID: c.ID, How: "created", MatchedProperties: matched, Properties: props})
	if err != nil {
		return outcome{}, err
	}
	if !won {
		// Our claim was taken over after its lease: the other resolver may have
		// created a second contact. Say so loudly; the key's first resolution wins.
		h.log.Error("match key claim lost after creating a contact; a duplicate contact may exist",
			"correlation_id", corr, "match_key", key.String(), "contact_id", c.ID)
		evs, rerr := h.store.ReadStream(ctx, key.Stream(), 0)
		if rerr != nil {
			return outcome{}, rerr
		}
		ks, _ := domain.FoldKey(evs)
		if ks.Resolved() {
			return stickyOutcome(key, ks, corr), nil
		}
		return outcome{}, fmt.Errorf("match key %s: claim lost and key unresolved", key)
	}
	return outcome{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: c.ID, Properties: props,
		MatchedProperties: matched, Lookups: found.Lookups, Candidates: verdicts}}, nil
}

// appendKey appends one event to the key stream at the expected version; won is false
// when another resolver moved the stream first.
func (h *ResolveMessage) appendKey(ctx context.Context, key domain.MatchKey, version int64, corr, typ string, payload any) (won bool, err error) {
	e, err := domain.NewEvent(h.newID(), typ, payload, h.now(), corr)
	if err != nil {
		return false, err
	}
	_, err = h.store.Append(ctx, key.Stream(), domain.ExpectedVersion(version), e)
	if errors.Is(err, domain.ErrWrongExpectedVersion) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("append %s to match key %s: %w", typ, key, err)
	}
	return true, nil
}

// stickyOutcome serves a resolved key without asking HubSpot (rule 7). When this very
// message resolved the key before a crash, its original outcome is restored.
func stickyOutcome(key domain.MatchKey, ks domain.KeyState, corr string) outcome {
	if ks.ResolvedBy == corr && ks.How == "created" {
		return outcome{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: ks.ContactID,
			Properties: ks.CreatedWith, MatchedProperties: ks.MatchedProperties}}
	}
	return outcome{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: ks.ContactID,
		Via: "match_key", MatchedProperties: ks.MatchedProperties}}
}

// fillBSUID writes a WhatsApp sender's BSUID to a matched contact whose property is
// still empty (rule 14); it never overwrites a value (rule 5). Best effort: the match
// stands even when the write fails.
func (h *ResolveMessage) fillBSUID(ctx context.Context, dir domain.ContactDirectory, ch domain.ChannelSettings, id domain.Identification, s domain.Sender, c domain.Contact) {
	if id.Phone == nil || ch.BSUIDProperty == "" || s.BSUID == "" || c.Properties[ch.BSUIDProperty] != "" {
		return
	}
	if err := dir.UpdateContact(ctx, c.ID, map[string]string{ch.BSUIDProperty: s.BSUID}); err != nil {
		h.log.Warn("could not write BSUID to contact", "contact_id", c.ID, "error", err)
	}
}

func lookup(ctx context.Context, dir domain.ContactDirectory, id domain.Identification) (domain.LookupResult, error) {
	if id.Phone != nil {
		return dir.FindByPhone(ctx, domain.PhoneQuery{E164: id.Identifier, NationalNumbers: domain.NationalNumbers(id.Identifier)})
	}
	return dir.FindByProperty(ctx, id.Property, id.Spellings()...)
}

func viaOf(r domain.LookupResult) string {
	if len(r.Lookups) > 0 {
		return r.Lookups[0].Kind
	}
	return "lookup"
}

// httpStatus extracts the HTTP status an adapter error carries, 0 when none.
func httpStatus(err error) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		return s.HTTPStatus()
	}
	return 0
}

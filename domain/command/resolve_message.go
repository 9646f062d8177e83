package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchboard/domain"
)

// ResolveMessage asks for the message recorded as Stream (domain.MessageStream) to be
// resolved to a contact (SPEC §3).
type ResolveMessage struct {
	Stream string
}

// ResolveMessageHandler performs what domain.DecideResolution asks for — read the match
// key, search HubSpot, claim the key, create the contact — and records the outcome on
// the message stream. It is idempotent: a message already resolved is left alone, so it
// may run any number of times, on any node.
type ResolveMessageHandler struct {
	messages *Repository[domain.MessageState]
	keys     *Repository[domain.KeyState]
	catalog  Catalog
	dirs     Directories
	profiles domain.ProfileLookup
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	log      *slog.Logger
	locks    keyLocks
}

// ResolveDeps are the resolver's collaborators; Profiles, Sleep and Logger may be nil.
type ResolveDeps struct {
	Store       domain.EventStore
	Catalog     Catalog
	Directories Directories
	Profiles    domain.ProfileLookup
	NewID       func() string
	Now         func() time.Time
	Sleep       func(context.Context, time.Duration) error
	Logger      *slog.Logger
}

// NewResolveMessageHandler refuses missing dependencies. Each handler has its own
// in-process key locks: two handlers behave as two processes.
func NewResolveMessageHandler(d ResolveDeps) (*ResolveMessageHandler, error) {
	if d.Store == nil || d.Catalog == nil || d.Directories == nil || d.NewID == nil || d.Now == nil {
		return nil, errors.New("new resolve message handler: store, catalog, directories, id generator and clock are required")
	}
	if d.Sleep == nil {
		d.Sleep = sleepCtx
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	messages, err := MessageRepository(d.Store, d.NewID, d.Now)
	if err != nil {
		return nil, err
	}
	keys, err := KeyRepository(d.Store, d.NewID, d.Now)
	if err != nil {
		return nil, err
	}
	return &ResolveMessageHandler{messages: messages, keys: keys, catalog: d.Catalog, dirs: d.Directories, profiles: d.Profiles,
		now: d.Now, sleep: d.Sleep, log: d.Logger}, nil
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

// Handle resolves the message. A transient failure (HubSpot, a profile API) is
// returned for the caller to retry; a failure for good is recorded as a dead letter
// and Handle returns nil.
func (h *ResolveMessageHandler) Handle(ctx context.Context, cmd ResolveMessage) error {
	_, err := h.messages.Update(ctx, cmd.Stream, func(st domain.MessageState, version int64) ([]Change, error) {
		if version == 0 {
			return nil, errors.New("no such message")
		}
		if !st.NeedsResolution() {
			return nil, nil
		}
		return h.resolve(ctx, st)
	})
	if errors.Is(err, domain.ErrWrongExpectedVersion) {
		// Another resolver recorded this message's outcome first; its answer stands.
		return nil
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", cmd.Stream, err)
	}
	return nil
}

// resolve decides the events of one unresolved message: its identification, once,
// and its outcome.
func (h *ResolveMessageHandler) resolve(ctx context.Context, st domain.MessageState) ([]Change, error) {
	log := h.log.With("correlation_id", st.CorrelationID, "channel_id", st.Received.ChannelID, "message_id", st.Received.MessageID)
	ch, ok := h.catalog.Channel(st.Received.ChannelID)
	if !ok {
		return []Change{deadLetter(fmt.Sprintf("channel %q is no longer configured; restore it and retry", st.Received.ChannelID), 0)}, nil
	}
	sender := st.Received.Sender
	if h.profiles != nil && ch.Identifier == domain.IdentifyByUsername && sender.Username == "" {
		// Resolving by a wrong identifier is worse than waiting: a failed profile
		// lookup is retried, never skipped.
		var err error
		if sender, err = h.profiles.CompleteSender(ctx, ch, sender); err != nil {
			err = fmt.Errorf("complete sender from the %s profile API: %w", ch.Kind, err)
			if !errors.Is(err, domain.ErrPermanent) {
				return nil, err
			}
			log.Error("resolution failed for good", "error", err)
			return []Change{deadLetter(err.Error(), 0)}, nil
		}
	}
	id, unlinked := domain.Identify(ch, h.catalog.BlockList(ch.WorkspaceID), sender)
	var out []Change
	if st.Identified == nil && (id.Raw != "" || id.Identifier != "") {
		out = append(out, Change{domain.EventSenderIdentified, domain.SenderIdentified{
			ChannelID: ch.ID, Settings: ch, Source: id.Source, Raw: id.Raw, Identifier: id.Identifier,
			Steps: id.Steps, MatchKey: id.Key, Searched: id.Searched(),
		}})
	}
	in := domain.ResolutionInput{Channel: ch, Identification: id, Unlinked: unlinked,
		Attempt: domain.NewAttempt(st.CorrelationID), Corrections: domain.Corrections{}, Gone: st.Revoked}
	res, err := h.decide(ctx, in, sender, log)
	if err != nil {
		if !errors.Is(err, domain.ErrPermanent) {
			return nil, err
		}
		log.Error("resolution failed for good", "error", err)
		res = deadLetter(err.Error(), domain.StatusOf(err))
	} else {
		h.recordBSUID(ctx, in, sender, res, log)
	}
	return append(out, res), nil
}

func deadLetter(reason string, status int) Change {
	return Change{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StageResolution, Reason: reason, Status: status, Attempts: 1}}
}

// decide runs the resolution decision until it is an outcome, performing the I/O each
// step asks for. Every step past the identification works on the match key, serialized
// on the key's stream: the key is claimed with an expected-version append before a
// contact is created, so concurrent first messages from one sender — in this process
// or another — create one contact; the losers read the winner's outcome.
func (h *ResolveMessageHandler) decide(ctx context.Context, in domain.ResolutionInput, sender domain.Sender, log *slog.Logger) (Change, error) {
	id, key := in.Identification, in.Identification.Key
	switch d := domain.DecideResolution(in); d.Kind {
	case domain.DecideUnlinked:
		log.Info("conversation unlinked", "reason", d.Reason)
		return Change{domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: d.Reason, Detail: d.Detail}}, nil
	case domain.DecideLink:
		return linkOutcome(key, d), nil
	}
	unlock := h.locks.lock(key.Stream())
	defer func() { unlock() }()
	dir, err := h.dirs.Directory(in.Channel.WorkspaceID)
	if err != nil {
		return Change{}, err
	}
	in.Region = h.catalog.Region(in.Channel.WorkspaceID)
	corr := in.Attempt.CorrelationID
	wait := 50 * time.Millisecond
	for {
		// One round: read the key, decide (searching when the decision asks), and
		// append the key event the decision makes, expecting the version just read.
		var d domain.Decision
		in.Now = h.now()
		_, err := h.keys.Update(ctx, key.Stream(), func(ks domain.KeyState, _ int64) ([]Change, error) {
			in.Key, in.Corrections = &ks, ks.Corrections
			for d = domain.DecideResolution(in); d.Kind == domain.DecideSearch; d = domain.DecideResolution(in) {
				found, err := lookup(ctx, dir, id)
				if err != nil {
					return nil, err
				}
				in.Lookup = &found
			}
			switch d.Kind {
			case domain.DecideMatch:
				return []Change{{domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: d.ContactID,
					How: "matched", MatchedProperties: d.MatchedProperties}}}, nil
			case domain.DecideClaim:
				return []Change{{domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: in.Attempt.Holder}}}, nil
			}
			return nil, nil
		}, CorrelatedWith(corr))
		if errors.Is(err, domain.ErrWrongExpectedVersion) {
			// Another resolver moved the key first: read it again, and search again,
			// since what it did may have changed HubSpot too.
			in.Key, in.Lookup = nil, nil
			continue
		}
		if err != nil {
			return Change{}, err
		}
		switch d.Kind {
		case domain.DecideLink:
			return linkOutcome(key, d), nil
		case domain.DecideSticky:
			return stickyOutcome(key, d), nil
		case domain.DecideWait:
			// Wait without the key's lock: the holder may be a message of this very
			// process coming back to finish its creation, and it needs the lock.
			unlock()
			err := h.sleep(ctx, wait)
			unlock = h.locks.lock(key.Stream())
			if err != nil {
				return Change{}, err
			}
			wait = min(wait*2, time.Second)
			// Whatever the holder did changed HubSpot: search again once it is done.
			in.Lookup = nil
		case domain.DecideMatch:
			return cite(Change{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: d.ContactID,
				Via: viaOf(*in.Lookup), MatchedProperties: d.MatchedProperties, Lookups: in.Lookup.Lookups,
				Candidates: d.Candidates, Ambiguous: d.Ambiguous}}, in.Corrections, d), nil
		case domain.DecideUnlinked:
			return cite(Change{domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: d.Reason, Detail: d.Detail,
				MatchKey: &key, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, in.Corrections, d), nil
		case domain.DecideClaim:
			// Claimed: the next round reads the claim back and decides to create.
		case domain.DecideCreate:
			c, err := h.create(ctx, dir, in, d, sender, log)
			return cite(c, in.Corrections, d), err
		default:
			return Change{}, fmt.Errorf("match key %s: unexpected decision %q", key, d.Kind)
		}
	}
}

// errClaimLost says the key moved between this attempt's claim and its resolution.
var errClaimLost = errors.New("match key claim lost")

// create creates the contact under the attempt's claim (in.Key holds it) and binds the
// key to it.
func (h *ResolveMessageHandler) create(ctx context.Context, dir domain.ContactDirectory, in domain.ResolutionInput, d domain.Decision,
	sender domain.Sender, log *slog.Logger) (Change, error) {
	ch, id, key, corr := in.Channel, in.Identification, in.Identification.Key, in.Attempt.CorrelationID
	claimVersion := in.Key.Version
	if h.profiles != nil && ch.Kind.IsSocial() && sender.FirstName == "" && sender.LastName == "" && sender.DisplayName == "" {
		// Names are a courtesy: a profile API that is down must not hold the message.
		if s, err := h.profiles.CompleteSender(ctx, ch, sender); err == nil {
			sender = s
		} else {
			log.Warn("creating contact without names: profile lookup failed", "error", err)
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
	case errors.As(err, &exists) && exists.ExistingID != "" && forbids(in.Corrections, exists.ExistingID):
		return h.refuseForbiddenExisting(ctx, in, d, claimVersion, exists.ExistingID)
	case errors.As(err, &exists) && exists.ExistingID != "":
		// HubSpot knows the contact by a unique value (email or the identifier
		// property) that search did not show yet: it is a match, not an error. If
		// the key moved meanwhile, its first resolution stands and this message
		// still goes on the contact HubSpot named.
		err := h.resolveClaimed(ctx, key, claimVersion, corr, domain.MatchKeyResolved{MatchKey: key, ContactID: exists.ExistingID,
			How: "matched", MatchedProperties: matched})
		if err != nil && !errors.Is(err, errClaimLost) {
			return Change{}, err
		}
		return Change{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: exists.ExistingID,
			Via: "existing_on_create", MatchedProperties: matched, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, nil
	case err != nil:
		return Change{}, fmt.Errorf("create contact for %s: %w", key, err)
	}
	err = h.resolveClaimed(ctx, key, claimVersion, corr, domain.MatchKeyResolved{MatchKey: key, ContactID: c.ID, How: "created",
		MatchedProperties: matched, Properties: props})
	if errors.Is(err, errClaimLost) {
		// Our claim was taken over after its lease: the other resolver may have
		// created a second contact. Say so loudly; the key's first resolution wins.
		log.Error("match key claim lost after creating a contact; a duplicate contact may exist",
			"match_key", key.String(), "contact_id", c.ID)
		ks, _, err := h.keys.Load(ctx, key.Stream())
		if err != nil {
			return Change{}, err
		}
		in.Key = &ks
		if d := domain.DecideResolution(in); d.Kind == domain.DecideSticky {
			return stickyOutcome(key, d), nil
		}
		return Change{}, fmt.Errorf("match key %s: claim lost and key unresolved", key)
	}
	if err != nil {
		return Change{}, err
	}
	return Change{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: c.ID, Properties: props,
		MatchedProperties: matched, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, nil
}

// resolveClaimed binds the key while the attempt's claim, made at claimVersion, still
// holds; errClaimLost when another resolver moved the key since.
func (h *ResolveMessageHandler) resolveClaimed(ctx context.Context, key domain.MatchKey, claimVersion int64, corr string, p domain.MatchKeyResolved) error {
	_, err := h.keys.Update(ctx, key.Stream(), func(_ domain.KeyState, version int64) ([]Change, error) {
		if version != claimVersion {
			return nil, errClaimLost
		}
		return []Change{{domain.EventMatchKeyResolved, p}}, nil
	}, CorrelatedWith(corr))
	if errors.Is(err, domain.ErrWrongExpectedVersion) {
		return errClaimLost
	}
	if err != nil && !errors.Is(err, errClaimLost) {
		return fmt.Errorf("resolve match key %s: %w", key, err)
	}
	return err
}

// stickyOutcome serves a resolved key without asking HubSpot (rule 7). When this very
// message resolved the key before a crash, its original outcome is restored.
func stickyOutcome(key domain.MatchKey, d domain.Decision) Change {
	if d.Restored {
		return Change{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: d.ContactID,
			Properties: d.Properties, MatchedProperties: d.MatchedProperties}}
	}
	return Change{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: d.ContactID,
		Via: "match_key", MatchedProperties: d.MatchedProperties, ThreadRef: d.ThreadRef}}
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

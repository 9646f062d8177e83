package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"switchboard/domain"
)

// ResolveMessage asks for the message recorded as Stream (domain.MessageStream) to be
// resolved to a contact (SPEC §3).
type ResolveMessage struct {
	Stream string
	// Identified is, optionally, an identification of the message's sender already
	// made (the resolver's partition needs one): used when it was made from what the
	// handler would identify from — the same channel settings, block list and sender —
	// and made again otherwise.
	Identified *Identified
}

// Identified is the identification of a sender and what it was made from.
type Identified struct {
	Channel  domain.ChannelSettings
	Blocked  domain.BlockList
	Sender   domain.Sender
	ID       domain.Identification
	Unlinked *domain.Unlinked
}

// identify is domain.Identify, or pre's answer when pre was made from the same inputs.
func identify(pre *Identified, ch domain.ChannelSettings, blocked domain.BlockList, sender domain.Sender) (domain.Identification, *domain.Unlinked) {
	if pre != nil && pre.Channel == ch && pre.Sender == sender && pre.Blocked.Equal(blocked) {
		return pre.ID, pre.Unlinked
	}
	return domain.Identify(ch, blocked, sender)
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
	newID    func() string
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	log      *slog.Logger
	locks    keyLocks
	// erasures, when set, abandons a resolution under way at every erasure.
	erasures ErasureSignal
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
	// Erasures, when the store seals personal values: a resolution waiting on HubSpot
	// when someone is erased is abandoned and retried, so that it reads its message
	// again (untilErasure) rather than search for, or create, an erased person.
	Erasures ErasureSignal
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
		newID: d.NewID, now: d.Now, sleep: d.Sleep, log: d.Logger, erasures: d.Erasures}, nil
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
	ctx, cancel := untilErasure(ctx, h.erasures)
	defer cancel()
	_, err := h.messages.Update(ctx, cmd.Stream, func(st domain.MessageState, version int64) ([]Change, error) {
		if version == 0 {
			return nil, errors.New("no such message")
		}
		if c, ok := st.CancelledByErasure(domain.StageResolution); ok {
			return []Change{{domain.EventPublicationCancelled, c}}, nil
		}
		if !st.NeedsResolution() {
			return nil, nil
		}
		return h.resolve(ctx, st, cmd.Identified)
	})
	if errors.Is(err, domain.ErrWrongExpectedVersion) {
		// Another resolver recorded this message's outcome first; its answer stands.
		return nil
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", domain.RedactStream(cmd.Stream), err)
	}
	return nil
}

// resolve decides the events of one unresolved message: its identification, once,
// and its outcome.
func (h *ResolveMessageHandler) resolve(ctx context.Context, st domain.MessageState, pre *Identified) ([]Change, error) {
	log := h.log.With("correlation_id", st.CorrelationID, "channel_id", st.Received.ChannelID)
	// The message id may embed the sender's number or chat id: debug level only.
	log.Debug("resolving message", "message_id", st.Received.MessageID)
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
			return []Change{deadLetter(domain.ErrorWithDetail(err), 0)}, nil
		}
	}
	id, unlinked := identify(pre, ch, h.catalog.BlockList(ch.WorkspaceID), sender)
	var out []Change
	if st.Identified == nil && (id.Raw != "" || id.Identifier != "") {
		out = append(out, Change{domain.EventSenderIdentified, domain.SenderIdentified{
			ChannelID: ch.ID, Settings: ch, Source: id.Source, Raw: id.Raw, Identifier: id.Identifier,
			Steps: id.Steps, MatchKey: id.Key, Searched: id.Searched(), ValidNumber: id.ValidNumber(),
		}})
	}
	// Each run is an attempt of its own: a retry of this message, or this message in
	// another process, never takes this attempt's claim for its own (rule 8).
	in := domain.ResolutionInput{Channel: ch, Identification: id, Unlinked: unlinked,
		Attempt: domain.NewAttempt(st.CorrelationID, h.newID()), Corrections: domain.Corrections{}, Gone: st.Revoked,
		Policy: createPolicy(h.catalog, ch.WorkspaceID)}
	res, err := h.decide(ctx, in, sender, log)
	if err != nil {
		if !errors.Is(err, domain.ErrPermanent) {
			return nil, err
		}
		log.Error("resolution failed for good", "error", err)
		res = deadLetter(domain.ErrorWithDetail(err), domain.StatusOf(err))
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
// on the key's stream: the key is claimed with an expected-version append, and the
// create recorded as attempted (MatchKeyCreateAttempted, again at the version just
// read) before it is sent, so concurrent first messages from one sender — in this
// process or another, before or after a crash — create one contact; the losers read
// the winner's outcome, and a later attempt that finds a create attempted and never
// recorded confirms it before creating again.
func (h *ResolveMessageHandler) decide(ctx context.Context, in domain.ResolutionInput, sender domain.Sender, log *slog.Logger) (Change, error) {
	key := in.Identification.Key
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
	r := &round{h: h, dir: dir, in: in, sender: sender, log: log}
	out, err := r.run(ctx, &unlock)
	if err != nil && r.claimed {
		// The attempt returns its error for a retry, which is a new attempt: give the
		// claim up so that the retry claims at once instead of waiting out the lease.
		// A create attempted stays recorded, so the retry confirms it first.
		h.release(ctx, key, r.in.Attempt, r.attemptVersion > 0, log)
	}
	return out, err
}

// round is one attempt's work on its match key.
type round struct {
	h      *ResolveMessageHandler
	dir    domain.ContactDirectory
	in     domain.ResolutionInput
	sender domain.Sender
	log    *slog.Logger
	// claimed is set once the attempt appended a claim (or a create attempted).
	claimed bool
	// props and attemptVersion are the create this attempt recorded as attempted.
	props          map[string]string
	attemptVersion int64
}

func (r *round) run(ctx context.Context, unlock *func()) (Change, error) {
	h, in, key := r.h, &r.in, r.in.Identification.Key
	corr := in.Attempt.CorrelationID
	wait := 50 * time.Millisecond
	for {
		// One round: read the key, decide (searching when the decision asks), and
		// append the key event the decision makes, expecting the version just read.
		var d domain.Decision
		in.Now = h.now()
		res, err := h.keys.Update(ctx, key.Stream(), func(ks domain.KeyState, _ int64) ([]Change, error) {
			in.Key, in.Corrections = &ks, ks.Corrections
			for d = domain.DecideResolution(*in); ; d = domain.DecideResolution(*in) {
				switch d.Kind {
				case domain.DecideSearch:
					// When the search was sent, not answered: what it cannot have seen
					// is bounded by then.
					at := h.now()
					found, err := lookup(ctx, r.dir, in.Identification)
					if err != nil {
						return nil, err
					}
					in.Lookup, in.LookedUpAt = &found, at
					continue
				case domain.DecideConfirmCreate:
					// A read by the unique create key, not the lagging search index.
					found, err := r.dir.FindByProperty(ctx, d.CreateKeyProperty, d.CreateKey)
					if err != nil {
						return nil, fmt.Errorf("confirm an earlier create attempt by %s: %w", d.CreateKeyProperty, err)
					}
					in.Confirm = &found
					continue
				}
				break
			}
			switch d.Kind {
			case domain.DecideMatch:
				return []Change{{domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: d.ContactID,
					How: "matched", MatchedProperties: d.MatchedProperties}}}, nil
			case domain.DecideAdoptCreated:
				return []Change{{domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: d.ContactID,
					How: "created", MatchedProperties: d.MatchedProperties, Properties: d.Properties, CreatedBy: d.CreatedBy}}}, nil
			case domain.DecideClaim:
				return []Change{{domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: in.Attempt.Holder}}}, nil
			case domain.DecideCreate:
				// Recorded before it is sent, under the live claim it renews: whatever
				// becomes of the answer, every later attempt knows a contact may exist.
				r.props = h.createProperties(ctx, *in, d, r.sender, r.log)
				return []Change{{domain.EventMatchKeyCreateAttempted, domain.MatchKeyCreateAttempted{MatchKey: key, Holder: in.Attempt.Holder,
					KeyProperty: d.CreateKeyProperty, CreateKey: r.props[d.CreateKeyProperty], Properties: r.props}}}, nil
			}
			return nil, nil
		}, CorrelatedWith(corr))
		if errors.Is(err, domain.ErrWrongExpectedVersion) {
			// Another resolver moved the key first: read it again, and search again,
			// since what it did may have changed HubSpot too.
			in.Key, in.Lookup, in.Confirm = nil, nil, nil
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
		case domain.DecideWait, domain.DecideWaitSearchLag:
			// Wait without the key's lock: the holder may be a message of this very
			// process coming back to finish its creation, and it needs the lock.
			pause := min(wait, time.Second)
			wait = min(wait*2, time.Second)
			if d.Kind == domain.DecideWaitSearchLag {
				pause = max(d.Until.Sub(in.Now), time.Millisecond)
			}
			(*unlock)()
			err := h.sleep(ctx, pause)
			*unlock = h.locks.lock(key.Stream())
			if err != nil {
				return Change{}, err
			}
			// Whatever the holder did changed HubSpot: search again once it is done.
			in.Lookup, in.Confirm = nil, nil
		case domain.DecideMatch:
			return cite(Change{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: d.ContactID,
				Via: viaOf(*in.Lookup), MatchedProperties: d.MatchedProperties, Lookups: in.Lookup.Lookups,
				Candidates: d.Candidates, Ambiguous: d.Ambiguous}}, in.Corrections, d), nil
		case domain.DecideAdoptCreated:
			r.log.Info("contact of an earlier create attempt found by its create key", "contact_id", d.ContactID, "restored", d.Restored)
			if d.Restored {
				return Change{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: d.ContactID,
					Properties: d.Properties, MatchedProperties: d.MatchedProperties, Lookups: in.Confirm.Lookups}}, nil
			}
			return Change{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: d.ContactID,
				Via: "create_key", MatchedProperties: d.MatchedProperties, Lookups: in.Confirm.Lookups}}, nil
		case domain.DecideUnlinked:
			return cite(Change{domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: d.Reason, Detail: d.Detail,
				MatchKey: &key, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, in.Corrections, d), nil
		case domain.DecideClaim:
			// Claimed: the next round reads the claim back and decides to create.
			r.claimed = true
		case domain.DecideCreate:
			r.claimed, r.attemptVersion = true, res.NextVersion
			c, err := r.create(ctx, d)
			return cite(c, in.Corrections, d), err
		default:
			return Change{}, fmt.Errorf("resolution of %s: unexpected decision %q", in.Attempt.CorrelationID, d.Kind)
		}
	}
}

// errClaimLost says the key moved between this attempt's claim and its resolution.
var errClaimLost = errors.New("match key claim lost")

// createProperties are what the contact of DecideCreate is created with: the channel's
// identifier, the names, and the create key when the workspace has one (the first
// attempt's value, or a new one).
func (h *ResolveMessageHandler) createProperties(ctx context.Context, in domain.ResolutionInput, d domain.Decision, sender domain.Sender, log *slog.Logger) map[string]string {
	ch := in.Channel
	if h.profiles != nil && ch.Kind.IsSocial() && sender.FirstName == "" && sender.LastName == "" && sender.DisplayName == "" {
		// Names are a courtesy: a profile API that is down must not hold the message.
		if s, err := h.profiles.CompleteSender(ctx, ch, sender); err == nil {
			sender = s
		} else {
			log.Warn("creating contact without names: profile lookup failed", "error", err)
		}
	}
	props := domain.NewContactProperties(ch, in.Identification, sender)
	if d.CreateKeyProperty != "" {
		k := d.CreateKey
		if k == "" {
			k = "sb-" + h.newID()
		}
		props[d.CreateKeyProperty] = k
	}
	return props
}

// create sends the create recorded as attempted at r.attemptVersion and binds the key
// to its answer.
func (r *round) create(ctx context.Context, d domain.Decision) (Change, error) {
	h, in, props := r.h, r.in, r.props
	key, corr := in.Identification.Key, in.Attempt.CorrelationID
	matched := in.Identification.Searched()[:1]
	// The create ends well inside the lease its MatchKeyCreateAttempted renewed, and it
	// is not cut short by the caller's cancellation (a shutdown): a create that HubSpot
	// answers is recorded, and one that does not is confirmed by the next attempt.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), domain.CreateTimeout)
	c, err := r.dir.CreateContact(cctx, props)
	cancel()
	// Recording the answer gets a context of its own, for the same reason.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), domain.CreateTimeout)
	defer cancel()
	var exists *domain.ContactExistsError
	switch {
	case errors.As(err, &exists) && exists.ExistingID != "" && forbids(in.Corrections, exists.ExistingID):
		return h.refuseForbiddenExisting(rctx, in, d, r.attemptVersion, exists.ExistingID)
	case errors.As(err, &exists) && exists.ExistingID != "":
		return r.existing(rctx, d, exists.ExistingID)
	case err != nil:
		return Change{}, fmt.Errorf("create contact: %w", err)
	}
	err = h.resolveClaimed(rctx, key, r.attemptVersion, corr, domain.MatchKeyResolved{MatchKey: key, ContactID: c.ID, How: "created",
		MatchedProperties: matched, Properties: props})
	if errors.Is(err, errClaimLost) {
		// Another resolver moved the key after this attempt's lease ran out. It
		// confirmed our attempt before creating (by the create key, or by a search after
		// the search-lag allowance), so the key's first resolution is expected to be this
		// very contact; a different one is a duplicate, said loudly.
		return r.afterClaimLost(rctx, c.ID)
	}
	if err != nil {
		return Change{}, err
	}
	return Change{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: c.ID, Properties: props,
		MatchedProperties: matched, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, nil
}

// existing handles HubSpot's 409 on the create: a unique value of the create already
// belongs to contact id. It reads that contact to say which value (issue 10 item 5): its
// own create key means an earlier attempt's create did land — the contact is the one
// switchboard created; an email or the identifier property is a match on that property,
// and the audit, the key and what HubSpot is told say so.
func (r *round) existing(ctx context.Context, d domain.Decision, id string) (Change, error) {
	h, in, props := r.h, r.in, r.props
	key, corr := in.Identification.Key, in.Attempt.CorrelationID
	want := []string{"email", "hs_additional_emails"}
	for p := range props {
		want = append(want, p)
	}
	c, err := r.dir.GetContact(ctx, id, want)
	if err != nil {
		return Change{}, fmt.Errorf("read contact %s that HubSpot's 409 named: %w", id, err)
	}
	matched := existingMatched(c, props, d.CreateKeyProperty)
	ownCreate := d.CreateKeyProperty != "" && len(matched) > 0 && matched[0] == d.CreateKeyProperty
	resolved := domain.MatchKeyResolved{MatchKey: key, ContactID: c.ID, How: "matched", MatchedProperties: matched}
	if ownCreate {
		createdBy := in.Key.CreateAttemptedBy
		if createdBy == "" {
			createdBy = corr
		}
		resolved = domain.MatchKeyResolved{MatchKey: key, ContactID: c.ID, How: "created", MatchedProperties: in.Identification.Searched()[:1],
			Properties: in.Key.CreateAttemptedWith, CreatedBy: createdBy}
		if resolved.Properties == nil {
			resolved.Properties = props
		}
	}
	// If the key moved meanwhile, its first resolution stands and this message still
	// goes on the contact HubSpot named.
	if err := h.resolveClaimed(ctx, key, r.attemptVersion, corr, resolved); err != nil && !errors.Is(err, errClaimLost) {
		return Change{}, err
	}
	r.log.Info("hubspot answered the create with an existing contact", "contact_id", c.ID, "matched_properties", matched, "own_create", ownCreate)
	if ownCreate && resolved.CreatedBy == corr {
		return Change{domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: c.ID, Properties: resolved.Properties,
			MatchedProperties: resolved.MatchedProperties, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, nil
	}
	return Change{domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: c.ID,
		Via: "existing_on_create", MatchedProperties: resolved.MatchedProperties, Lookups: in.Lookup.Lookups, Candidates: d.Candidates}}, nil
}

// existingMatched lists which unique values of the create the existing contact holds:
// the create key first, then email (or one of the contact's additional emails), then
// the others (a social channel's identifier property).
func existingMatched(c domain.Contact, props map[string]string, keyProperty string) []string {
	same := func(a, b string) bool {
		return a != "" && strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	var out []string
	if keyProperty != "" && same(props[keyProperty], c.Properties[keyProperty]) {
		out = append(out, keyProperty)
	}
	if e := props["email"]; e != "" {
		switch {
		case same(e, c.Properties["email"]):
			out = append(out, "email")
		case slices.ContainsFunc(strings.Split(c.Properties["hs_additional_emails"], ";"), func(x string) bool { return same(e, x) }):
			out = append(out, "hs_additional_emails")
		}
	}
	names := make([]string, 0, len(props))
	for p := range props {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		// A phone is never unique in HubSpot: it cannot be what a 409 was about.
		if p == keyProperty || p == "email" || p == "phone" || p == "mobilephone" || p == "firstname" || p == "lastname" {
			continue
		}
		if same(props[p], c.Properties[p]) {
			out = append(out, p)
		}
	}
	return out
}

// afterClaimLost serves the message after its create landed but the key moved: the
// key's resolution wins.
func (r *round) afterClaimLost(ctx context.Context, created string) (Change, error) {
	h, in, key := r.h, &r.in, r.in.Identification.Key
	ks, _, err := h.keys.Load(ctx, key.Stream())
	if err != nil {
		return Change{}, err
	}
	in.Key = &ks
	d := domain.DecideResolution(*in)
	if d.Kind == domain.DecideSticky && d.ContactID != created {
		// No match key in the log line: it holds the sender's identifier.
		r.log.Error("match key claim lost after creating a contact; a duplicate contact may exist",
			"correlation_id", in.Attempt.CorrelationID, "contact_id", created, "key_contact_id", d.ContactID)
	}
	if d.Kind == domain.DecideSticky {
		return stickyOutcome(key, d), nil
	}
	return Change{}, fmt.Errorf("claim lost after creating contact %s and the key is unresolved: %w", created, errClaimLost)
}

// release gives up the attempt's claim after a failure, if the key still shows it.
// Best effort, with a context of its own: a shutdown that ended the attempt must not
// leave the claim to its lease when a short append can free it.
func (h *ResolveMessageHandler) release(ctx context.Context, key domain.MatchKey, a domain.Attempt, sent bool, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	reason := "the attempt failed before creating"
	if sent {
		reason = "the attempt failed after sending the create: its outcome is to be confirmed"
	}
	_, err := h.keys.Update(rctx, key.Stream(), func(ks domain.KeyState, _ int64) ([]Change, error) {
		if ks.Resolved() || ks.ClaimedBy != a.Holder {
			return nil, nil
		}
		return []Change{{domain.EventMatchKeyClaimReleased, domain.MatchKeyClaimReleased{MatchKey: key, Holder: a.Holder, Reason: reason}}}, nil
	}, CorrelatedWith(a.CorrelationID))
	if err != nil && !errors.Is(err, domain.ErrWrongExpectedVersion) {
		// The store's error names the key's stream, which holds the sender's
		// identifier: only at debug level.
		log.Warn("could not release the match key claim; it lapses after its lease")
		log.Debug("match key claim release failed", "error", err)
	}
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
		return fmt.Errorf("resolve the match key: %w", err)
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

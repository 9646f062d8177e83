package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"switchboard/domain"
)

// LogReader is the reading half of the event log: all a what-if may use.
type LogReader interface {
	ReadAll(ctx context.Context, afterPosition int64, limit int) ([]domain.RecordedEvent, error)
	LastPosition(ctx context.Context) (int64, error)
}

// SimulateProgress is what a what-if reports while it runs.
type SimulateProgress struct {
	Phase string // "reading", "lookups", "deciding"
	// Done and Total count messages (reading, deciding) or distinct lookups.
	Done, Total int
	// Lookups is the number of HubSpot lookups made so far.
	Lookups int
	// Left estimates the time the remaining lookups take at HubSpot's search limit.
	Left time.Duration
}

// SimulateDeps are the what-if's collaborators. They can only read: the log through a
// LogReader, HubSpot through ReadOnlyDirectory (by type: nothing here holds a client
// that could write).
type SimulateDeps struct {
	Log     LogReader
	Catalog Catalog
	// Directories gives each workspace's read-only HubSpot.
	Directories map[string]*ReadOnlyDirectory
	// SearchPerSecond is the search limit the estimate of the time left uses.
	SearchPerSecond float64
	// Concurrency bounds the lookups in flight (the HubSpot client batches concurrent
	// searches into one request and keeps within the rate limits).
	Concurrency int
	Progress    func(SimulateProgress)
}

// Simulator replays the recorded messages under other settings (rule 15).
type Simulator struct{ d SimulateDeps }

// NewSimulator refuses missing dependencies.
func NewSimulator(d SimulateDeps) (*Simulator, error) {
	if d.Log == nil || d.Catalog == nil || d.Directories == nil {
		return nil, errors.New("new simulator: log, catalog and directories are required")
	}
	if d.SearchPerSecond <= 0 {
		d.SearchPerSecond = 4
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 8
	}
	if d.Progress == nil {
		d.Progress = func(SimulateProgress) {}
	}
	return &Simulator{d: d}, nil
}

// simItem is one recorded message, or one key event that changes what later messages
// resolve to (a correction, a forgotten or merged contact), in log order.
type simItem struct {
	key *domain.RecordedEvent

	stream, corr string
	received     domain.MessageReceived
	identified   *domain.SenderIdentified
	outcome      string
	contactID    string
	reason       string
	at           time.Time
}

// Simulate replays the messages recorded at or after since (zero: all). Under --since,
// the replay starts from the corrections recorded before since and no bindings: each
// key's first message in the window searches again.
//
// Messages are resolved in log order by domain.DecideResolution under the catalog's
// settings; the replay keeps its own match keys, so stickiness holds within it. A
// contact switchboard created (a ContactCreated of the log) is hidden from searches
// until the replay creates it again for the key it was created for: a replay that would
// create it again lands "created" on its recorded id, and a replay that would not does
// not find it either, since it would not exist. HubSpot is asked each distinct lookup
// once, before the decisions, so the client can batch them.
func (s *Simulator) Simulate(ctx context.Context, since time.Time) (domain.WhatIfReport, error) {
	items, createdFor, existed, erased, err := s.read(ctx, since)
	if err != nil {
		return domain.WhatIfReport{}, err
	}
	rep := domain.WhatIfReport{Erased: erased}
	type planned struct {
		ch       domain.ChannelSettings
		known    bool
		id       domain.Identification
		unlinked *domain.Unlinked
	}
	plans := make([]planned, len(items))
	lookups := map[string]lookupJob{}
	for i, it := range items {
		if it.key != nil || it.outcome == "" {
			continue
		}
		ch, ok := s.d.Catalog.Channel(it.received.ChannelID)
		p := planned{ch: ch, known: ok}
		if ok {
			p.id, p.unlinked = domain.Identify(ch, s.d.Catalog.BlockList(ch.WorkspaceID), senderOf(ch, it))
			if p.unlinked == nil {
				k := lookupKey(p.id)
				if _, seen := lookups[k]; !seen {
					lookups[k] = lookupJob{workspace: ch.WorkspaceID, id: p.id}
				}
			}
		}
		plans[i] = p
	}
	found, err := s.lookupAll(ctx, lookups)
	if err != nil {
		return domain.WhatIfReport{}, err
	}
	rep.Lookups = len(found)

	keys := map[string]*domain.KeyState{}
	keyOf := func(stream string) *domain.KeyState {
		ks, ok := keys[stream]
		if !ok {
			ks = &domain.KeyState{}
			keys[stream] = ks
		}
		return ks
	}
	// exists holds the contacts switchboard created that the replay created too, and
	// those created before the window: they existed when it starts.
	exists := existed
	createdByKey := map[string][]string{}
	for _, it := range items {
		if it.key == nil && it.outcome == domain.EventContactCreated {
			createdByKey[createdFor[it.contactID]] = append(createdByKey[createdFor[it.contactID]], it.contactID)
		}
	}
	newContacts := 0
	total := 0
	for _, it := range items {
		if it.key == nil && it.outcome != "" {
			total++
		}
	}
	done := 0
	for i, it := range items {
		if it.key != nil {
			if err := keyOf(it.key.StreamID).Apply(*it.key); err != nil {
				return rep, err
			}
			continue
		}
		if it.outcome == "" {
			rep.Skipped++
			continue
		}
		from := recordedOutcome(it, createdFor)
		p := plans[i]
		var to domain.WhatIfOutcome
		switch {
		case !p.known:
			to = domain.WhatIfOutcome{Kind: domain.WhatIfUnlinked, Reason: fmt.Sprintf("channel %s is not in the new configuration", it.received.ChannelID)}
		default:
			to, err = s.decide(it, p.ch, p.id, p.unlinked, keyOf, found, createdFor, createdByKey, exists, &newContacts)
			if err != nil {
				return rep, fmt.Errorf("simulate %s: %w", it.stream, err)
			}
		}
		rep.Add(it.received.ChannelID, it.received.MessageID, from, to)
		done++
		if done%500 == 0 || done == total {
			s.d.Progress(SimulateProgress{Phase: "deciding", Done: done, Total: total, Lookups: rep.Lookups})
		}
	}
	for _, d := range s.d.Directories {
		rep.WriteAttempts += d.Violations()
	}
	return rep, nil
}

// decide runs the resolution decision for one message on the replay's own key state,
// answering its requests from the looked-up candidates. It makes no I/O.
func (s *Simulator) decide(it simItem, ch domain.ChannelSettings, id domain.Identification, unlinked *domain.Unlinked,
	keyOf func(string) *domain.KeyState, found map[string]domain.LookupResult, createdFor map[string]string,
	createdByKey map[string][]string, exists map[string]bool, newContacts *int) (domain.WhatIfOutcome, error) {
	in := domain.ResolutionInput{Channel: ch, Identification: id, Unlinked: unlinked, Attempt: domain.NewAttempt(it.corr, it.corr),
		Now: it.at, Region: s.d.Catalog.Region(ch.WorkspaceID)}
	var ks *domain.KeyState
	if unlinked == nil {
		ks = keyOf(id.Key.Stream())
		in.Corrections = ks.Corrections
	}
	kindOf := func(contactID string) domain.WhatIfOutcome {
		if strings.HasPrefix(contactID, simNewPrefix) {
			return domain.WhatIfOutcome{Kind: domain.WhatIfCreated}
		}
		if _, ok := createdFor[contactID]; ok {
			return domain.WhatIfOutcome{Kind: domain.WhatIfCreated, ContactID: contactID}
		}
		return domain.WhatIfOutcome{Kind: domain.WhatIfMatched, ContactID: contactID}
	}
	for range 10 {
		d := domain.DecideResolution(in)
		switch d.Kind {
		case domain.DecideUnlinked:
			return domain.WhatIfOutcome{Kind: domain.WhatIfUnlinked, Reason: d.Reason + ": " + d.Detail}, nil
		case domain.DecideLink:
			o := kindOf(d.ContactID)
			o.Reason = "an operator's link: " + d.Correction.Reason
			return o, nil
		case domain.DecideReadKey:
			in.Key = ks
		case domain.DecideSticky:
			o := kindOf(d.ContactID)
			o.Reason = "the match key resolved earlier in the replay"
			return o, nil
		case domain.DecideWait:
			return domain.WhatIfOutcome{}, fmt.Errorf("match key %s: a claim outlived its message in the replay", id.Key)
		case domain.DecideSearch:
			r := found[lookupKey(id)]
			// Contacts switchboard created are hidden until the replay creates them.
			var cands []domain.Contact
			for _, c := range r.Candidates {
				if _, ours := createdFor[c.ID]; !ours || exists[c.ID] {
					cands = append(cands, c)
				}
			}
			in.Lookup = &domain.LookupResult{Lookups: r.Lookups, Candidates: cands}
		case domain.DecideMatch:
			ks.ContactID, ks.How, ks.MatchedProperties, ks.ResolvedBy = d.ContactID, "matched", d.MatchedProperties, it.corr
			o := kindOf(d.ContactID)
			o.Reason = fmt.Sprintf("HubSpot has contact %s with %s", d.ContactID, strings.Join(d.MatchedProperties, ", "))
			if d.Ambiguous {
				o.Reason += " (the oldest of several)"
			}
			return o, nil
		case domain.DecideClaim:
			ks.ClaimedBy, ks.ClaimedAt = in.Attempt.Holder, in.Now
		case domain.DecideCreate:
			// The contact switchboard created first for this key, if the replay has
			// not created it already: ids in the log never change on replay.
			contact := ""
			for _, c := range createdByKey[id.Key.String()] {
				if !exists[c] {
					contact = c
					break
				}
			}
			o := domain.WhatIfOutcome{Kind: domain.WhatIfCreated, ContactID: contact,
				Reason: fmt.Sprintf("no contact has %s %s and channel %s creates contacts", strings.Join(id.Searched(), " or "), id.Identifier, ch.ID)}
			if contact == "" {
				*newContacts++
				contact = fmt.Sprintf("%s%d", simNewPrefix, *newContacts)
			} else {
				exists[contact] = true
			}
			ks.ContactID, ks.How, ks.ResolvedBy, ks.ClaimedBy = contact, "created", "", ""
			return o, nil
		default:
			return domain.WhatIfOutcome{}, fmt.Errorf("unexpected decision %q", d.Kind)
		}
	}
	return domain.WhatIfOutcome{}, fmt.Errorf("match key %s: the decision did not settle", id.Key)
}

// simNewPrefix marks, in the replay's key state, a contact the replay would create.
const simNewPrefix = "whatif:new:"

// read loads the recorded messages (since since) and the key events that change
// resolutions, in log order, and which match key each contact switchboard created was
// created for.
func (s *Simulator) read(ctx context.Context, since time.Time) ([]simItem, map[string]string, map[string]bool, int, error) {
	erased := 0
	last, err := s.d.Log.LastPosition(ctx)
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("simulate: %w", err)
	}
	existed := map[string]bool{}
	var items []simItem
	byStream := map[string]int{}
	createdFor := map[string]string{}
	var after int64
	for {
		evs, err := s.d.Log.ReadAll(ctx, after, 1000)
		if err != nil {
			return nil, nil, nil, 0, fmt.Errorf("simulate: read the log after %d: %w", after, err)
		}
		for _, e := range evs {
			after = e.Position
			switch e.Type {
			case domain.EventMessageReceived:
				var p domain.MessageReceived
				if err := domain.Decode(e, &p); err != nil {
					return nil, nil, nil, 0, err
				}
				if !since.IsZero() && e.OccurredAt.Before(since) {
					continue
				}
				if p.MessageID == domain.Erased {
					erased++
					continue
				}
				byStream[e.StreamID] = len(items)
				items = append(items, simItem{stream: e.StreamID, corr: e.CorrelationID, received: p, at: e.OccurredAt})
			case domain.EventSenderIdentified:
				if i, ok := byStream[e.StreamID]; ok {
					var p domain.SenderIdentified
					if err := domain.Decode(e, &p); err != nil {
						return nil, nil, nil, 0, err
					}
					items[i].identified = &p
				}
			case domain.EventContactMatched, domain.EventContactCreated, domain.EventConversationUnlinked:
				var p struct {
					MatchKey  *domain.MatchKey `json:"match_key"`
					ContactID string           `json:"contact_id"`
					Via       string           `json:"via"`
					Reason    string           `json:"reason"`
				}
				if err := domain.Decode(e, &p); err != nil {
					return nil, nil, nil, 0, err
				}
				if e.Type == domain.EventContactCreated && p.MatchKey != nil {
					createdFor[p.ContactID] = p.MatchKey.String()
					if _, inWindow := byStream[e.StreamID]; !inWindow {
						existed[p.ContactID] = true
					}
				}
				if i, ok := byStream[e.StreamID]; ok {
					items[i].outcome, items[i].contactID = e.Type, p.ContactID
					items[i].reason = map[string]string{domain.EventContactMatched: "matched via " + p.Via,
						domain.EventContactCreated: "created", domain.EventConversationUnlinked: "unlinked: " + p.Reason}[e.Type]
				}
			case domain.EventMatchKeyLinked, domain.EventMatchKeyNeverLinked, domain.EventMatchKeyUnpinned,
				domain.EventMatchKeyForgotten, domain.EventMatchKeyFollowed:
				e := e
				items = append(items, simItem{key: &e})
			}
		}
		s.d.Progress(SimulateProgress{Phase: "reading", Done: int(after), Total: int(last)})
		if len(evs) < 1000 || after >= last {
			break
		}
	}
	return items, createdFor, existed, erased, nil
}

// senderOf is the recorded sender, with the username the live resolver obtained from
// the platform's profile API where the webhook did not carry it: the replay asks no
// platform.
func senderOf(ch domain.ChannelSettings, it simItem) domain.Sender {
	snd := it.received.Sender
	if ch.Identifier == domain.IdentifyByUsername && snd.Username == "" && it.identified != nil && it.identified.Source == "username" {
		snd.Username = it.identified.Raw
	}
	return snd
}

// recordedOutcome is where the log says the message landed.
func recordedOutcome(it simItem, createdFor map[string]string) domain.WhatIfOutcome {
	switch it.outcome {
	case domain.EventConversationUnlinked:
		return domain.WhatIfOutcome{Kind: domain.WhatIfUnlinked, Reason: it.reason}
	default:
		kind := domain.WhatIfMatched
		if _, ok := createdFor[it.contactID]; ok {
			kind = domain.WhatIfCreated
		}
		return domain.WhatIfOutcome{Kind: kind, ContactID: it.contactID, Reason: it.reason}
	}
}

type lookupJob struct {
	workspace string
	id        domain.Identification
}

// lookupKey names one distinct HubSpot lookup: two messages with one key ask once.
func lookupKey(id domain.Identification) string {
	return id.Key.Workspace + "\x00" + strings.Join(id.Searched(), ",") + "\x00" + id.Identifier
}

// lookupAll asks HubSpot every distinct lookup once, Concurrency at a time, so the
// client can batch concurrent searches; it reports progress and the time left at the
// search limit.
func (s *Simulator) lookupAll(ctx context.Context, jobs map[string]lookupJob) (map[string]domain.LookupResult, error) {
	out := make(map[string]domain.LookupResult, len(jobs))
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan string)
	var firstErr error
	var wg sync.WaitGroup
	for range s.d.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				j := jobs[k]
				dir, ok := s.d.Directories[j.workspace]
				var r domain.LookupResult
				var err error
				if !ok {
					err = fmt.Errorf("workspace %q has no HubSpot directory", j.workspace)
				} else {
					r, err = lookup(ctx, dir, j.id)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("look up %s in HubSpot: %w", j.id.Key.Lookup, err)
					cancel()
				}
				out[k] = r
				n := len(out)
				mu.Unlock()
				left := time.Duration(float64(len(jobs)-n) / s.d.SearchPerSecond * float64(time.Second))
				s.d.Progress(SimulateProgress{Phase: "lookups", Done: n, Total: len(jobs), Lookups: n, Left: left})
			}
		}()
	}
	for k := range jobs {
		select {
		case work <- k:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

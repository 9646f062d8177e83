package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the version of the saved-state format; Load refuses other versions.
const stateVersion = 1

// savedState is everything a restarted emulator must remember to behave as the same
// portal: contacts with their search-index history, property definitions, inbox
// messages with their idempotency keys, threads, visitors and tokens. Rate-limit
// windows, statistics and faults are not kept: a restart starts them afresh.
type savedState struct {
	Version     int                `json:"version"`
	SavedAt     time.Time          `json:"saved_at"`
	NextID      int64              `json:"next_id"`
	NextThread  int64              `json:"next_thread"`
	NextVisitor int64              `json:"next_visitor"`
	Tokens      []string           `json:"tokens"`
	Revoked     []string           `json:"revoked"`
	Records     []savedRecord      `json:"records"`
	Properties  []savedProperty    `json:"properties"`
	Messages    []savedMessage     `json:"messages"`
	Idempotency []savedIdempotency `json:"idempotency"`
	Threads     []savedThread      `json:"threads"`
	Published   []PublishedMessage `json:"published"`
	Visitors    []savedVisitor     `json:"visitors"`
	OAuth       *savedOAuth        `json:"oauth,omitempty"`
	Channels    *savedChannels     `json:"channels,omitempty"`
}

// savedChannels keeps the app's custom channels and the portal's channel accounts, so
// a restarted emulator accepts the publications of a portal set up before it.
type savedChannels struct {
	Channels    []Channel        `json:"channels"`
	Accounts    []ChannelAccount `json:"accounts"`
	NextChannel int64            `json:"next_channel"`
	NextAccount int64            `json:"next_account"`
}

// savedOAuth keeps the app's installs across a restart: the refresh tokens the token
// endpoint accepts or refuses, and the access tokens issued with their expiry.
// Authorization codes are not kept: a consent interrupted by a restart starts again.
type savedOAuth struct {
	Refresh []string             `json:"refresh"`
	Refused []string             `json:"refused"`
	Access  map[string]time.Time `json:"access"`
}

type savedRecord struct {
	ID         string            `json:"id"`
	Props      map[string]string `json:"props"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Archived   bool              `json:"archived"`
	ArchivedAt time.Time         `json:"archived_at"`
	MergedInto string            `json:"merged_into"`
	Index      []savedSnapshot   `json:"index"`
}

type savedSnapshot struct {
	VisibleAt time.Time         `json:"visible_at"`
	Live      bool              `json:"live"`
	Props     map[string]string `json:"props"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

type savedProperty struct {
	Name, Label, Type, FieldType, GroupName, Description string
	Unique, Calculated, ReadOnly, HubspotDefined         bool
	Options                                              json.RawMessage
	DisplayOrder                                         int
	CreatedAt                                            time.Time
}

type savedMessage struct {
	ChannelID string               `json:"channel_id"`
	Wire      conversationsMessage `json:"wire"`
}

type savedIdempotency struct {
	ChannelAccountID string `json:"channel_account_id"`
	IdempotencyID    string `json:"idempotency_id"`
	MessageID        string `json:"message_id"`
}

type savedThread struct {
	Key    [2]string `json:"key"`
	Thread Thread    `json:"thread"`
}

type savedVisitor struct {
	Identifier DeliveryIdentifier `json:"identifier"`
	ActorID    string             `json:"actor_id"`
}

// Save writes the emulator's data to w as JSON, so that a new emulator can Load it and
// carry on as the same portal (a restarted HubSpot keeps its contacts and inbox).
func (s *Server) Save(w io.Writer) error {
	s.mu.Lock()
	st := s.snapshotLocked()
	s.mu.Unlock()
	enc := json.NewEncoder(w)
	if err := enc.Encode(st); err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	return nil
}

func (s *Server) snapshotLocked() savedState {
	st := savedState{Version: stateVersion, SavedAt: s.now().UTC(), NextID: s.nextID, NextThread: s.nextThread,
		NextVisitor: s.nextVisitor, Published: append([]PublishedMessage{}, s.published...)}
	for t := range s.tokens {
		st.Tokens = append(st.Tokens, t)
	}
	for t := range s.revoked {
		st.Revoked = append(st.Revoked, t)
	}
	st.OAuth = &savedOAuth{Access: map[string]time.Time{}}
	for t := range s.oauth.refresh {
		st.OAuth.Refresh = append(st.OAuth.Refresh, t)
	}
	for t := range s.oauth.refusedRT {
		st.OAuth.Refused = append(st.OAuth.Refused, t)
	}
	for t, exp := range s.oauth.access {
		st.OAuth.Access[t] = exp
	}
	for _, r := range s.order {
		sr := savedRecord{ID: r.id, Props: copyMap(r.props), CreatedAt: r.createdAt, UpdatedAt: r.updatedAt,
			Archived: r.archived, ArchivedAt: r.archivedAt, MergedInto: r.mergedInto}
		for _, sn := range r.index {
			sr.Index = append(sr.Index, savedSnapshot{VisibleAt: sn.visibleAt, Live: sn.live, Props: copyMap(sn.props),
				CreatedAt: sn.createdAt, UpdatedAt: sn.updatedAt})
		}
		st.Records = append(st.Records, sr)
	}
	for _, p := range s.propList {
		st.Properties = append(st.Properties, savedProperty{Name: p.name, Label: p.label, Type: p.typ, FieldType: p.fieldType,
			GroupName: p.groupName, Description: p.description, Unique: p.unique, Calculated: p.calculated, ReadOnly: p.readOnly,
			HubspotDefined: p.hubspotDefined, Options: p.options, DisplayOrder: p.displayOrder, CreatedAt: p.createdAt})
	}
	for _, m := range s.messages {
		st.Messages = append(st.Messages, savedMessage{ChannelID: m.channelID, Wire: m.wire})
	}
	for k, m := range s.idempotency {
		st.Idempotency = append(st.Idempotency, savedIdempotency{ChannelAccountID: k[0], IdempotencyID: k[1], MessageID: m.wire.ID})
	}
	keys := make(map[*Thread][2]string, len(s.threads))
	for k, th := range s.threads {
		keys[th] = k
	}
	for _, th := range s.threadList {
		c := *th
		c.MessageIDs = append([]string(nil), th.MessageIDs...)
		st.Threads = append(st.Threads, savedThread{Key: keys[th], Thread: c})
	}
	for d, v := range s.visitors {
		st.Visitors = append(st.Visitors, savedVisitor{Identifier: d, ActorID: v})
	}
	st.Channels = &savedChannels{NextChannel: s.chans.nextChannel, NextAccount: s.chans.nextAccount}
	for _, ch := range s.chans.channels {
		st.Channels.Channels = append(st.Channels.Channels, *ch)
	}
	for _, a := range s.chans.accounts {
		st.Channels.Accounts = append(st.Channels.Accounts, *a)
	}
	return st
}

// Load replaces the emulator's data with what Save wrote. Faults, limits, statistics
// and options stay as they are.
func (s *Server) Load(r io.Reader) error {
	var st savedState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("emulator: load state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("%w: load state: format version %d, this emulator reads %d", ErrInvalid, st.Version, stateVersion)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID, s.nextThread, s.nextVisitor = st.NextID, st.NextThread, st.NextVisitor
	s.tokens, s.revoked = map[string]bool{}, map[string]bool{}
	for _, t := range st.Tokens {
		s.tokens[t] = true
	}
	for _, t := range st.Revoked {
		s.revoked[t] = true
	}
	stats := s.oauth.stats
	s.oauth = newOAuthState()
	s.oauth.stats = stats
	if st.OAuth != nil {
		for _, t := range st.OAuth.Refresh {
			s.oauth.refresh[t] = true
		}
		for _, t := range st.OAuth.Refused {
			s.oauth.refusedRT[t] = true
		}
		for t, exp := range st.OAuth.Access {
			s.oauth.access[t] = exp
		}
	}
	s.records, s.order = map[string]*record{}, nil
	for _, sr := range st.Records {
		r := &record{id: sr.ID, props: nonNil(sr.Props), createdAt: sr.CreatedAt, updatedAt: sr.UpdatedAt,
			archived: sr.Archived, archivedAt: sr.ArchivedAt, mergedInto: sr.MergedInto}
		for _, sn := range sr.Index {
			r.index = append(r.index, snapshot{visibleAt: sn.VisibleAt, live: sn.Live, props: nonNil(sn.Props),
				createdAt: sn.CreatedAt, updatedAt: sn.UpdatedAt})
		}
		s.records[r.id] = r
		s.order = append(s.order, r)
	}
	s.props, s.propList = map[string]*propertyDef{}, nil
	for _, p := range st.Properties {
		s.addProperty(&propertyDef{name: p.Name, label: p.Label, typ: p.Type, fieldType: p.FieldType, groupName: p.GroupName,
			description: p.Description, unique: p.Unique, calculated: p.Calculated, readOnly: p.ReadOnly,
			hubspotDefined: p.HubspotDefined, options: p.Options, displayOrder: p.DisplayOrder, createdAt: p.CreatedAt})
	}
	s.messages = map[string]*message{}
	for _, m := range st.Messages {
		s.messages[m.Wire.ID] = &message{wire: m.Wire, channelID: m.ChannelID}
	}
	s.idempotency = map[[2]string]*message{}
	for _, k := range st.Idempotency {
		m := s.messages[k.MessageID]
		if m == nil {
			return fmt.Errorf("%w: load state: idempotency key %s names message %s, which is not saved", ErrInvalid, k.IdempotencyID, k.MessageID)
		}
		s.idempotency[[2]string{k.ChannelAccountID, k.IdempotencyID}] = m
	}
	s.threads, s.threadList = map[[2]string]*Thread{}, nil
	for _, t := range st.Threads {
		th := t.Thread
		s.threads[t.Key] = &th
		s.threadList = append(s.threadList, &th)
	}
	s.published = st.Published
	s.visitors = map[DeliveryIdentifier]string{}
	for _, v := range st.Visitors {
		s.visitors[v.Identifier] = v.ActorID
	}
	s.chans = newChannelState()
	if c := st.Channels; c != nil {
		s.chans.nextChannel, s.chans.nextAccount = c.NextChannel, c.NextAccount
		for _, ch := range c.Channels {
			ch := ch
			s.chans.channels = append(s.chans.channels, &ch)
		}
		for _, a := range c.Accounts {
			a := a
			s.chans.accounts = append(s.chans.accounts, &a)
		}
	}
	// Message ids come from idRng; reseeding with the same seed after a restart would
	// hand out the ids of the messages saved before it.
	s.idRng = rand.New(rand.NewSource(s.opts.Seed ^ 0x5eed ^ int64(len(s.messages))<<20 ^ st.SavedAt.UnixNano()))
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// SaveFile writes the state to path atomically (a temporary file renamed over it), so
// a crash while saving leaves the previous state, never half of one.
func (s *Server) SaveFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("emulator: save state to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := s.Save(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: save state to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("emulator: save state to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("emulator: save state to %s: %w", path, err)
	}
	return nil
}

// LoadFile loads the state SaveFile wrote to path. A missing file is not an error: the
// emulator starts empty (found reports whether there was state to load).
func (s *Server) LoadFile(path string) (found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("emulator: load state from %s: %w", path, err)
	}
	defer f.Close()
	if err := s.Load(f); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

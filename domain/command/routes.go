package command

import (
	"context"
	"strings"
	"sync"

	"switchboard/domain"
)

// Routes are how the handlers that react to the log follow it. Each route gives a
// follower (eventstore/follow.Reactor) its name, the events it accepts, the partition
// each event runs in, the group (workspace) of each partition and the handling; events
// of one partition are handled in log order, partitions side by side, and no group
// holds more than its share of the workers.
type Routes struct {
	Resolve ResolveRoute
	Publish PublishRoute
}

// ResolveRoute feeds ResolveMessage: new messages, operators' retries of a
// dead-lettered resolution, and resolutions revoked because HubSpot no longer has
// their contact (ContactChangesRoute).
type ResolveRoute struct {
	catalog    Catalog
	handler    CommandHandler[ResolveMessage]
	identified *identifications
}

// NewResolveRoute routes to handler; catalog computes partitions.
func NewResolveRoute(catalog Catalog, handler CommandHandler[ResolveMessage]) ResolveRoute {
	return ResolveRoute{catalog: catalog, handler: handler, identified: &identifications{}}
}

// identifications hand the identification the resolver's Partition made of a message's
// sender to the message's Handle, so that its phone number is not parsed twice. An
// entry is taken once (a retry identifies again); entries of events this node does not
// handle (another node's bucket) are dropped wholesale past maxIdentifications, so what
// it holds of senders stays a few batches' worth. The handler takes an entry only for
// the sender it reads from the stream, so a sender erased in between reads as erased.
type identifications struct {
	mu         sync.Mutex
	byPosition map[int64]*Identified
}

const maxIdentifications = 4096

func (m *identifications) put(position int64, v *Identified) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byPosition == nil || len(m.byPosition) >= maxIdentifications {
		m.byPosition = map[int64]*Identified{}
	}
	m.byPosition[position] = v
}

func (m *identifications) take(position int64) *Identified {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.byPosition[position]
	delete(m.byPosition, position)
	return v
}

// Name keys the follower's checkpoint: renaming it replays the whole log through the
// resolver.
func (ResolveRoute) Name() string { return "resolver" }

// Accept selects what the resolver reacts to.
func (ResolveRoute) Accept(e domain.RecordedEvent) bool {
	return e.Type == domain.EventMessageReceived || e.Type == domain.EventResolutionRevoked ||
		(e.Type == domain.EventRetryRequested && stageOf(e) == domain.StageResolution)
}

// Partition resolves one sender's messages in arrival order, so their outcomes — and
// so their inbox messages — keep that order; different senders run side by side. A
// sender is its normalized identifier on the channel, the same one its thread is keyed
// by: "+1 415 555 2671" and "(415) 555-2671" are one person in one thread and must not
// overtake each other.
//
// The key starts with the workspace (see Group).
func (r ResolveRoute) Partition(e domain.RecordedEvent) string {
	if e.Type != domain.EventMessageReceived {
		return partitionIn(r.workspaceOfStream(e.StreamID), e.StreamID)
	}
	var p domain.MessageReceived
	if domain.Decode(e, &p) != nil {
		return partitionIn(r.workspaceOfStream(e.StreamID), e.StreamID)
	}
	if ch, ok := r.catalog.Channel(p.ChannelID); ok {
		blocked := r.catalog.BlockList(ch.WorkspaceID)
		id, unlinked := domain.Identify(ch, blocked, p.Sender)
		r.identified.put(e.Position, &Identified{Channel: ch, Blocked: blocked, Sender: p.Sender, ID: id, Unlinked: unlinked})
		if unlinked == nil {
			return partitionIn(ch.WorkspaceID, p.ChannelID+"|"+id.Identifier)
		}
	}
	snd := p.Sender
	return partitionIn(p.WorkspaceID, p.ChannelID+"|"+snd.Phone+"|"+snd.UserID+"|"+snd.Username+"|"+snd.BSUID)
}

// Group is the workspace of a partition: one workspace's failing HubSpot may hold only
// its share of the resolver's workers.
func (ResolveRoute) Group(partition string) string { return workspaceOfPartition(partition) }

// workspaceOfStream is the workspace of a message stream's channel ("" if unknown).
func (r ResolveRoute) workspaceOfStream(stream string) string {
	rest, ok := strings.CutPrefix(stream, "message:")
	if !ok {
		return ""
	}
	channel, _, _ := strings.Cut(rest, ":")
	if ch, ok := r.catalog.Channel(channel); ok {
		return ch.WorkspaceID
	}
	return ""
}

// Handle resolves the message of e's stream, named as the store keeps it: an event read
// before its sender's erasure carries the stream's logical name, which leads nowhere
// once the erasure is done, while a retry of it must still read the message, erased, and
// record that it stops there (PublicationCancelled). The same holds for the publisher.
func (r ResolveRoute) Handle(ctx context.Context, e domain.RecordedEvent, _ int) error {
	return r.handler.Handle(ctx, ResolveMessage{Stream: e.Stored(), Identified: r.identified.take(e.Position)})
}

// PublishRoute feeds PublishMessage: resolutions (each is published once) and
// operators' retries of a dead-lettered publication.
type PublishRoute struct {
	messages *Repository[domain.MessageState]
	handler  CommandHandler[PublishMessage]
}

// NewPublishRoute routes to handler; messages computes partitions.
func NewPublishRoute(messages *Repository[domain.MessageState], handler CommandHandler[PublishMessage]) PublishRoute {
	return PublishRoute{messages: messages, handler: handler}
}

// Name keys the follower's checkpoint: renaming it publishes nothing twice (the
// idempotency ids see to that) but re-reads the whole log.
func (PublishRoute) Name() string { return "publisher" }

// Accept selects what the publisher reacts to.
func (PublishRoute) Accept(e domain.RecordedEvent) bool {
	switch e.Type {
	case domain.EventContactMatched, domain.EventContactCreated, domain.EventConversationUnlinked:
		return true
	case domain.EventRetryRequested:
		return stageOf(e) == domain.StagePublication
	}
	return false
}

// Partition publishes one thread's messages in log order — the order their resolutions
// were recorded, which is arrival order per sender — while threads go side by side, so
// a thread stuck on HubSpot retries holds only itself.
//
// The key starts with the workspace (see Group).
func (r PublishRoute) Partition(e domain.RecordedEvent) string {
	st, version, err := r.messages.Load(context.Background(), e.Stored())
	if err != nil || version == 0 {
		return partitionIn("", e.StreamID)
	}
	return partitionIn(st.Received.WorkspaceID, domain.ThreadID(st.Received.ChannelID, st))
}

// Group is the workspace of a partition: one workspace's failing HubSpot may hold only
// its share of the publisher's workers.
func (PublishRoute) Group(partition string) string { return workspaceOfPartition(partition) }

// partitionIn keys a partition by its workspace first, so that Group can tell which
// workspace a partition belongs to without reading anything again. The separator is a
// control character no configured id holds.
func partitionIn(workspace, key string) string { return workspace + partitionSep + key }

func workspaceOfPartition(partition string) string {
	ws, _, _ := strings.Cut(partition, partitionSep)
	return ws
}

const partitionSep = "\x1f"

// Handle publishes the message of e's stream; attempt counts the follower's tries. The
// handler reads the stream again rather than take what Partition read: the sender may
// have been erased in between (a backlog waits minutes for HubSpot's budget), and only a
// read after the erasure sees the message as erased and leaves it unpublished.
func (r PublishRoute) Handle(ctx context.Context, e domain.RecordedEvent, attempt int) error {
	return r.handler.Handle(ctx, PublishMessage{Stream: e.Stored(), Attempt: attempt})
}

func stageOf(e domain.RecordedEvent) string {
	var p domain.RetryRequested
	if domain.Decode(e, &p) != nil {
		return ""
	}
	return p.Stage
}

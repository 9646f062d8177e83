package command

import (
	"context"
	"strings"

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
	catalog Catalog
	handler CommandHandler[ResolveMessage]
}

// NewResolveRoute routes to handler; catalog computes partitions.
func NewResolveRoute(catalog Catalog, handler CommandHandler[ResolveMessage]) ResolveRoute {
	return ResolveRoute{catalog: catalog, handler: handler}
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
		if id, unlinked := domain.Identify(ch, r.catalog.BlockList(ch.WorkspaceID), p.Sender); unlinked == nil {
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

// Handle resolves the message of e's stream.
func (r ResolveRoute) Handle(ctx context.Context, e domain.RecordedEvent, _ int) error {
	return r.handler.Handle(ctx, ResolveMessage{Stream: e.StreamID})
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
	st, version, err := r.messages.Load(context.Background(), e.StreamID)
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

// Handle publishes the message of e's stream; attempt counts the follower's tries.
func (r PublishRoute) Handle(ctx context.Context, e domain.RecordedEvent, attempt int) error {
	return r.handler.Handle(ctx, PublishMessage{Stream: e.StreamID, Attempt: attempt})
}

func stageOf(e domain.RecordedEvent) string {
	var p domain.RetryRequested
	if domain.Decode(e, &p) != nil {
		return ""
	}
	return p.Stage
}

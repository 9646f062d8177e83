package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/projections"
)

// MessageSummary is the current state of one message, folded from its own stream (the
// source of truth, so it is exact even while projections catch up).
type MessageSummary struct {
	ChannelID     string `json:"channel_id"`
	MessageID     string `json:"message_id"`
	CorrelationID string `json:"correlation_id"`
	Outcome       string `json:"outcome,omitempty"`
	ContactID     string `json:"contact_id,omitempty"`
	Published     bool   `json:"published"`
	DeadLetter    string `json:"dead_letter,omitempty"`
}

// Timeline is the audit API's answer.
type Timeline struct {
	Subject string              `json:"subject"`
	Key     string              `json:"key"`
	Message *MessageSummary     `json:"message,omitempty"`
	Keys    any                 `json:"match_keys,omitempty"`
	Events  []projections.Entry `json:"events"`
}

func (s *Server) auditMessage(w http.ResponseWriter, r *http.Request) {
	ch, msg := r.PathValue("channel"), r.PathValue("message_id")
	st, err := s.d.Messages.Handle(r.Context(), command.GetMessage{ChannelID: ch, MessageID: msg})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sum := &MessageSummary{ChannelID: ch, MessageID: msg, CorrelationID: st.CorrelationID, Outcome: st.Outcome,
		ContactID: st.ContactID, Published: st.Published != nil}
	if st.DeadLetter != nil {
		sum.DeadLetter = st.DeadLetter.Stage + ": " + st.DeadLetter.Reason
	}
	entries, err := s.d.Reader.Timeline(r.Context(), projections.SubjectMessage, projections.MessageKey(ch, msg))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Timeline{Subject: projections.SubjectMessage, Key: projections.MessageKey(ch, msg), Message: sum, Events: entries})
}

func (s *Server) auditSender(w http.ResponseWriter, r *http.Request) {
	chID, ident := r.PathValue("channel"), r.PathValue("identifier")
	ch, ok := s.d.Catalog.Channel(chID)
	if !ok {
		s.fail(w, r, domain.NotFound("channel %q is not configured", chID))
		return
	}
	key := projections.SenderKey(chID, NormalizeIdentifier(ch, ident))
	entries, err := s.d.Reader.Timeline(r.Context(), projections.SubjectSender, key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Timeline{Subject: projections.SubjectSender, Key: key, Events: entries})
}

// NormalizeIdentifier reads an identifier an operator typed the way the channel reads
// senders, so "+1 415 555 2671" finds the sender stored as "+14155552671".
func NormalizeIdentifier(ch domain.ChannelSettings, raw string) string {
	var snd domain.Sender
	switch {
	case ch.Kind.IsPhone():
		snd.Phone = raw
	case ch.Identifier == domain.IdentifyByUsername:
		snd.Username = raw
	default:
		snd.UserID = raw
	}
	if id, unl := domain.Identify(ch, domain.NewBlockList(nil), snd); unl == nil {
		return id.Identifier
	}
	return raw
}

func (s *Server) auditContact(w http.ResponseWriter, r *http.Request) {
	ws, contact := r.PathValue("workspace"), r.PathValue("contact_id")
	if s.d.Workspaces != nil && !s.d.Workspaces(ws) {
		s.fail(w, r, domain.NotFound("workspace %q is not configured", ws))
		return
	}
	entries, err := s.d.Reader.Timeline(r.Context(), projections.SubjectContact, projections.ContactKey(ws, contact))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := s.d.Reader.KeysOfContact(r.Context(), ws, contact)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Timeline{Subject: projections.SubjectContact, Key: projections.ContactKey(ws, contact), Keys: keys, Events: entries})
}

// page reads after and limit, answering 400 when they are not numbers.
func page(w http.ResponseWriter, r *http.Request, defLimit, maxLimit int) (after int64, limit int, ok bool) {
	q := r.URL.Query()
	limit = defLimit
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, domain.CodeInvalid, "after", fmt.Sprintf("%q is not a position; use a whole number ≥ 0", v))
			return 0, 0, false
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, domain.CodeInvalid, "limit", fmt.Sprintf("%q is not a limit; use a whole number from 1 to %d", v, maxLimit))
			return 0, 0, false
		}
		limit = n
	}
	return after, limit, true
}

func (s *Server) ambiguous(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r, 100, 1000)
	if !ok {
		return
	}
	rows, err := s.d.Reader.Ambiguous(r.Context(), after, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ambiguous": rows})
}

func (s *Server) unlinked(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r, 100, 1000)
	if !ok {
		return
	}
	rows, err := s.d.Reader.Unlinked(r.Context(), after, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"unlinked": rows})
}

// Bounds of GET /v1/events. limit defaults to 100 and may be at most 1000 (larger is
// 400, naming the field, like every paged list). An event carries up to 64 KiB of text,
// so a full page could still be tens of megabytes: the answer also stops once the
// events' payloads reach MaxEventsResponseBytes (never before the first event), says
// "truncated": true, and next_after is where to ask again.
const (
	defaultEventsLimit = 100
	maxEventsLimit     = 1000
	// MaxEventsResponseBytes bounds the payload bytes of one /v1/events answer.
	MaxEventsResponseBytes = 4 << 20
	// eventsReadChunk is how many events are read from the store at a time, so that a
	// page cut short by the byte bound was not read whole.
	eventsReadChunk = 100
)

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r, defaultEventsLimit, maxEventsLimit)
	if !ok {
		return
	}
	out := make([]projections.Entry, 0, min(limit, eventsReadChunk))
	next, size, truncated := after, 0, false
	for len(out) < limit && !truncated {
		want := min(limit-len(out), eventsReadChunk)
		evs, err := s.d.Store.ReadAll(r.Context(), next, want)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, e := range evs {
			if size += len(e.Payload); size > MaxEventsResponseBytes && len(out) > 0 {
				truncated = true
				break
			}
			out = append(out, EntryOf(e))
			next = e.Position
		}
		if len(evs) < want {
			break // the end of the log
		}
	}
	body := map[string]any{"events": out, "next_after": next}
	if truncated {
		body["truncated"] = true
	}
	writeJSON(w, http.StatusOK, body)
}

// EntryOf shapes a recorded event as the audit API shows it.
func EntryOf(e domain.RecordedEvent) projections.Entry {
	return projections.Entry{Position: e.Position, Stream: e.StreamID, Version: e.Version, Type: e.Type,
		OccurredAt: e.OccurredAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), CorrelationID: e.CorrelationID, Data: e.Payload}
}

func (s *Server) projections(w http.ResponseWriter, r *http.Request) {
	last, err := s.d.Store.LastPosition(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type follower struct {
		Position int64 `json:"position"`
		Lag      int64 `json:"lag"`
	}
	out := map[string]follower{}
	for name, pos := range s.d.Positions() {
		out[name] = follower{Position: pos, Lag: last - pos}
	}
	writeJSON(w, http.StatusOK, map[string]any{"last_position": last, "followers": out})
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	rows, err := s.d.Reader.DeadLetters(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": rows})
}

func (s *Server) retryDeadLetter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok, err := s.d.Reader.DeadLetter(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, domain.NotFound("no dead letter with id %q (it may have been retried already)", id))
		return
	}
	if d.Erased() {
		s.fail(w, r, domain.Invalid("id", "%q is the dead letter of an erased sender: nothing publishes its message any more", id))
		return
	}
	stage, err := s.d.Retrier.Handle(r.Context(), command.RetryDeadLetter{Stream: domain.MessageStream(d.ChannelID, d.MessageID), RequestedBy: "api"})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "stage": stage, "status": "retry requested"})
}

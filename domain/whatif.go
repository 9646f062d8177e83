package domain

import (
	"fmt"
	"sort"
)

// What-if (rule 15, SPEC §5 "What-if"): the recorded messages replayed under other
// settings, through DecideResolution, with HubSpot read-only. This file holds the
// report's language; domain/command's Simulator runs the replay.

// Outcome kinds of a what-if report: where a message landed.
const (
	// WhatIfMatched is an existing contact that switchboard did not create.
	WhatIfMatched = "matched"
	// WhatIfCreated is a contact switchboard created (with its recorded id), or would
	// create (without an id).
	WhatIfCreated = "created"
	// WhatIfUnlinked is no contact.
	WhatIfUnlinked = "unlinked"
)

// WhatIfOutcome is where one message landed, recorded or replayed.
type WhatIfOutcome struct {
	Kind string
	// ContactID is "" for unlinked and for a contact the replay would create.
	ContactID string
	// Reason says why, in words.
	Reason string
}

// Describe names the outcome's contact for a person: "501", "a new contact", "-".
func (o WhatIfOutcome) Describe() string {
	switch {
	case o.Kind == WhatIfUnlinked:
		return "-"
	case o.ContactID == "":
		return "(new contact)"
	}
	return o.ContactID
}

// WhatIfChanged reports whether the replay lands a message elsewhere than the log
// says: another kind, or another contact (matched→matched counts only when the contact
// differs; created→created is unchanged when the replay creates the recorded contact
// again).
func WhatIfChanged(from, to WhatIfOutcome) bool {
	if from.Kind != to.Kind {
		return true
	}
	return from.Kind != WhatIfUnlinked && from.ContactID != to.ContactID
}

// WhatIfExample is one changed message of a report.
type WhatIfExample struct {
	ChannelID   string `json:"channel_id"`
	MessageID   string `json:"message_id"`
	FromContact string `json:"from_contact"`
	ToContact   string `json:"to_contact"`
	Reason      string `json:"reason"`
}

// WhatIfChange counts the messages that moved from one kind to another.
type WhatIfChange struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Count    int             `json:"count"`
	Examples []WhatIfExample `json:"examples"`
}

// WhatIfReport is the what-if's answer, in the JSON of SPEC §5, plus what the replay
// cost and skipped.
type WhatIfReport struct {
	Messages  int            `json:"messages"`
	Unchanged int            `json:"unchanged"`
	Changed   []WhatIfChange `json:"changed"`
	// Skipped counts recorded messages that have no outcome yet (still resolving, or
	// dead-lettered): there is nothing to compare them with.
	Skipped int `json:"skipped"`
	// Erased counts recorded messages whose sender was erased (rule 17): their values
	// read "[erased]", there is nobody to look up, and they are not replayed.
	Erased int `json:"erased"`
	// Lookups counts the distinct HubSpot lookups the replay made.
	Lookups int `json:"lookups"`
	// WriteAttempts counts what the replay tried to write to HubSpot and the read-only
	// directory refused; anything but 0 is a bug.
	WriteAttempts int64 `json:"write_attempts"`
}

// MaxWhatIfExamples bounds the examples kept per change.
const MaxWhatIfExamples = 5

// Add counts one replayed message.
func (r *WhatIfReport) Add(channelID, messageID string, from, to WhatIfOutcome) {
	r.Messages++
	if !WhatIfChanged(from, to) {
		r.Unchanged++
		return
	}
	i := sort.Search(len(r.Changed), func(i int) bool {
		c := r.Changed[i]
		return c.From > from.Kind || c.From == from.Kind && c.To >= to.Kind
	})
	if i == len(r.Changed) || r.Changed[i].From != from.Kind || r.Changed[i].To != to.Kind {
		r.Changed = append(r.Changed, WhatIfChange{})
		copy(r.Changed[i+1:], r.Changed[i:])
		r.Changed[i] = WhatIfChange{From: from.Kind, To: to.Kind, Examples: []WhatIfExample{}}
	}
	c := &r.Changed[i]
	c.Count++
	if len(c.Examples) < MaxWhatIfExamples {
		reason := to.Reason
		if from.Reason != "" {
			reason = fmt.Sprintf("%s (recorded: %s)", to.Reason, from.Reason)
		}
		c.Examples = append(c.Examples, WhatIfExample{ChannelID: channelID, MessageID: messageID,
			FromContact: from.Describe(), ToContact: to.Describe(), Reason: reason})
	}
}

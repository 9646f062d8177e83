// Package appendcheck holds what every event store decides the same way about an
// append, apart from its storage: whether the batch is valid, and whether a batch whose
// ids are already stored is a retry of the original append (a lost acknowledgement) or
// two appends reusing ids.
package appendcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"switchboard/domain"
)

// Validate reports every problem of a batch at once, so a caller fixes it in one go.
func Validate(stream string, expected domain.ExpectedVersion, events []domain.EventData) error {
	var errs []error
	if stream == "" {
		errs = append(errs, errors.New("stream id is empty; want the id of the stream to append to"))
	}
	if expected < domain.AnyVersion {
		errs = append(errs, fmt.Errorf("expected version is %d; want AnyVersion (-1), NoStream (0) or a version >= 1", int64(expected)))
	}
	if len(events) == 0 {
		errs = append(errs, errors.New("no events; want at least one"))
	}
	seen := make(map[string]int, len(events))
	for i, e := range events {
		if e.ID == "" {
			errs = append(errs, fmt.Errorf("event %d: id is empty; want a unique id (a UUIDv7)", i))
		} else if j, dup := seen[e.ID]; dup {
			errs = append(errs, fmt.Errorf("event %d: id %s repeats event %d; want a distinct id per event", i, e.ID, j))
		} else {
			seen[e.ID] = i
		}
		if e.Type == "" {
			errs = append(errs, fmt.Errorf("event %d (id %s): type is empty; want the event type name", i, e.ID))
		}
		if e.SchemaVersion < 1 {
			errs = append(errs, fmt.Errorf("event %d (id %s): schema version is %d; want >= 1", i, e.ID, e.SchemaVersion))
		}
		if e.OccurredAt.IsZero() {
			errs = append(errs, fmt.Errorf("event %d (id %s): occurred-at time is zero; want when the event happened", i, e.ID))
		}
		if !json.Valid(e.Payload) {
			errs = append(errs, fmt.Errorf("event %d (id %s): payload is not valid JSON (%d bytes); want a JSON value such as {}", i, e.ID, len(e.Payload)))
		}
	}
	return errors.Join(errs...)
}

// Place is where an event id is stored.
type Place struct {
	Stream            string
	Version, Position int64
}

// Retry decides, from where the batch's ids are stored (stored holds only the ids that
// are), whether the batch is a retry of an append that committed. found is false when
// no id is stored. When found, err is nil for a retry — res is then the original
// append's result — and explains the clash otherwise: ids only partly stored, stored in
// another stream, or stored in another order are not a retry.
func Retry(stream string, events []domain.EventData, stored map[string]Place) (res domain.AppendResult, found bool, err error) {
	if len(stored) == 0 {
		return res, false, nil
	}
	var missing []string
	for i, e := range events {
		p, ok := stored[e.ID]
		switch {
		case !ok:
			missing = append(missing, e.ID)
		case p.Stream != stream:
			return res, true, fmt.Errorf("event %d (id %s) is already stored in stream %q at version %d; an event id belongs to exactly one stream",
				i, e.ID, p.Stream, p.Version)
		}
	}
	if len(missing) > 0 {
		return res, true, fmt.Errorf("%d of %d event ids are already stored in this stream, %s not: a retry must resend exactly the original events, and new events need new ids",
			len(stored), len(events), formatIDs(missing))
	}
	first := stored[events[0].ID]
	for i, e := range events {
		if p := stored[e.ID]; p.Version != first.Version+int64(i) {
			return res, true, fmt.Errorf("event ids are already stored in this stream, but not as one batch in this order (event %d, id %s, is at version %d, want %d): a retry must resend the original events in their original order",
				i, e.ID, p.Version, first.Version+int64(i))
		}
	}
	last := stored[events[len(events)-1].ID]
	return domain.AppendResult{
		NextVersion:   last.Version,
		FirstPosition: first.Position,
		LastPosition:  last.Position,
		AlreadyStored: true,
	}, true, nil
}

// formatIDs names a few ids and counts the rest, so a large batch keeps the error readable.
func formatIDs(ids []string) string {
	const show = 3
	verb := "is"
	if len(ids) > 1 {
		verb = "are"
	}
	if len(ids) <= show {
		return strings.Join(ids, ", ") + " " + verb
	}
	return fmt.Sprintf("%s and %d more are", strings.Join(ids[:show], ", "), len(ids)-show)
}

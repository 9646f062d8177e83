package command

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"switchboard/domain"
)

// Reconcile re-checks the cached match keys of a workspace against HubSpot (rule 7,
// `switchboard reconcile`): it records what a lost webhook did not say. Progress, when
// set, is told how many contacts were checked.
type Reconcile struct {
	Workspace     string
	CorrelationID string
	Progress      func(done, total int)
}

// ReconcileReport says what one pass found.
type ReconcileReport struct {
	Keys      int `json:"keys"`
	Contacts  int `json:"contacts"`
	Deleted   int `json:"deleted"`
	Merged    int `json:"merged"`
	Edited    int `json:"edited"`
	Forgotten int `json:"forgotten"`
	Followed  int `json:"followed"`
}

// CachedKeys lists the match keys the identifier→contact cache binds, with their
// contact (projections.Reader.KeysOfWorkspace).
type CachedKeys interface {
	KeysOfWorkspace(ctx context.Context, workspace string) (map[string][]domain.MatchKey, error)
}

// ContactBatchReader reads contacts by id, MaxBatch at a time; missing ids are deleted
// or merged away (a batch read does not follow merges).
type ContactBatchReader interface {
	BatchReadContacts(ctx context.Context, ids []string, properties []string) (found map[string]domain.Contact, missing []string, err error)
}

// BatchReaders gives the batch reader of a workspace's HubSpot.
type BatchReaders interface {
	BatchReader(workspaceID string) (ContactBatchReader, error)
}

// ReconcileBatch is how many contacts one batch read asks for (HubSpot's limit).
const ReconcileBatch = 100

// ReconcileHandler runs a pass: the cached keys grouped by contact, read in batches
// of ReconcileBatch within the client's rate limits; each contact a batch does not
// return is read alone (a merged-away id reads as its survivor, a deleted one is a
// 404). Each finding goes through ContactChangesHandler, so a key a webhook already
// changed is left alone.
type ReconcileHandler struct {
	cached  CachedKeys
	readers BatchReaders
	changes *ContactChangesHandler
}

// NewReconcileHandler refuses missing dependencies.
func NewReconcileHandler(cached CachedKeys, readers BatchReaders, changes *ContactChangesHandler) (*ReconcileHandler, error) {
	if cached == nil || readers == nil || changes == nil {
		return nil, errors.New("new reconcile handler: cached keys, batch readers and contact changes handler are required")
	}
	return &ReconcileHandler{cached: cached, readers: readers, changes: changes}, nil
}

// Handle runs one pass over the workspace.
func (h *ReconcileHandler) Handle(ctx context.Context, cmd Reconcile) (ReconcileReport, error) {
	var rep ReconcileReport
	byContact, err := h.cached.KeysOfWorkspace(ctx, cmd.Workspace)
	if err != nil {
		return rep, fmt.Errorf("reconcile %s: cached keys: %w", cmd.Workspace, err)
	}
	reader, err := h.readers.BatchReader(cmd.Workspace)
	if err != nil {
		return rep, fmt.Errorf("reconcile %s: %w", cmd.Workspace, err)
	}
	ids := make([]string, 0, len(byContact))
	for id, keys := range byContact {
		ids = append(ids, id)
		rep.Keys += len(keys)
	}
	sort.Strings(ids)
	rep.Contacts = len(ids)
	progress := cmd.Progress
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, len(ids))
	cause := domain.KeyChangeCause{Source: domain.CauseReconcile}
	for start := 0; start < len(ids); start += ReconcileBatch {
		chunk := ids[start:min(start+ReconcileBatch, len(ids))]
		var props []string
		for _, id := range chunk {
			for _, k := range byContact[id] {
				for _, p := range domain.KeyProperties(k) {
					if !slices.Contains(props, p) {
						props = append(props, p)
					}
				}
			}
		}
		found, missing, err := reader.BatchReadContacts(ctx, chunk, props)
		if err != nil {
			return rep, fmt.Errorf("reconcile %s: %w", cmd.Workspace, err)
		}
		for _, id := range chunk {
			var change domain.ContactChange
			if c, ok := found[id]; ok {
				change = domain.ChangeOfRead(id, c, true, "", cause)
			} else if slices.Contains(missing, id) {
				if change, err = h.changes.read(ctx, cmd.Workspace, id, props, "", cause); err != nil {
					return rep, fmt.Errorf("reconcile %s: %w", cmd.Workspace, err)
				}
			} else {
				continue
			}
			res, err := h.changes.Handle(ctx, ApplyContactChange{Workspace: cmd.Workspace, Change: change,
				Keys: byContact[id], CorrelationID: cmd.CorrelationID})
			if err != nil {
				return rep, fmt.Errorf("reconcile %s: %w", cmd.Workspace, err)
			}
			switch {
			case change.Kind == domain.ContactDeleted:
				rep.Deleted++
			case change.Kind == domain.ContactMerged:
				rep.Merged++
			case res.Forgotten > 0:
				rep.Edited++
			}
			rep.Forgotten += res.Forgotten
			rep.Followed += res.Followed
		}
		progress(min(start+ReconcileBatch, len(ids)), len(ids))
	}
	return rep, nil
}

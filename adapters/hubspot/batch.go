package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"switchboard/domain"
)

// Batching. Single flight (share) merges identical lookups; a batcher merges DIFFERENT
// lookups that wait for the same rate limiter into one request.
//
// A batcher keeps a queue of lookups and at most one leader: a goroutine that waits for
// the next slot of the limiter and, the moment the slot is granted, takes every lookup
// then queued that fits one request, and sends it. There is no timer that holds a lookup
// back to collect others: a lookup that finds the limiter free leaves at once, alone,
// exactly as it would without batching; lookups that arrive while a leader waits ride
// along with it and leave no later than they would have with a slot of their own. What
// does not fit stays queued for the next slot, with a new leader.
//
// A batch of one is sent exactly as an unbatched lookup would be (same request, same
// audit words). A batch of several is one request whose results are routed back: each
// lookup receives the contacts that hold one of ITS values, and a contact the answer
// does not let the client route (the routing property missing from it) goes to every
// lookup of the batch — an extra candidate is rejected by the domain's confirmation, a
// missing one would create a duplicate contact. A failure of the shared request is
// every lookup's failure, except a 400, which one lookup's value can cause: that batch
// is sent again in halves so that only the lookup at fault fails (splitOnError).
const (
	// maxBatchSearchValues caps the values of one batched search (the union of the
	// lookups' values, repeated in each IN filter). HubSpot documents no cap on the
	// number of IN values: 50 is a conservative choice, not a documented limit, and
	// unverified against a live portal. If HubSpot refuses a list with a 400, the batch
	// is split (splitOnError), so a too-long list costs requests, not lookups.
	maxBatchSearchValues = 50
	// maxSearchBodyBytes keeps a batched search under HubSpot's 3,000-character request
	// limit, with room for the paging cursor added on later pages.
	maxSearchBodyBytes = 2900
	// maxBatchReadInputs is HubSpot's limit of inputs per batch request.
	maxBatchReadInputs = 100
)

// outcome is the answer of one lookup of a batch.
type outcome struct {
	res domain.LookupResult
	err error
}

// batchCall is one lookup waiting in a batcher.
type batchCall struct {
	values []string
	ctx    context.Context // the caller's; its values, not its deadline, reach the request
	done   chan struct{}   // closed when out is set
	out    outcome
	run    *batchRun // the request it rides in; nil while queued
}

// batchRun is one batch in flight: its context ends when the last lookup of the batch
// gives up, not when the first does.
type batchRun struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiting int
}

// batcher merges the lookups of one kind (phone searches; reads of one unique property;
// searches of one other property).
type batcher struct {
	c  *Client
	op string // the batch-size metric's operation label
	// search selects the search limiter, otherwise the 10-second one. The limiter is
	// read from the client at each wait.
	search bool
	// fits reports whether next may join the lookups already in batch; the first lookup
	// of a batch is always taken.
	fits func(batch [][]string, next []string) bool
	// send makes the request(s) of one batch and answers every lookup, in order. The
	// first request's limiter slot is already taken (request.slotTaken).
	send func(ctx context.Context, batch [][]string) []outcome

	mu       sync.Mutex
	queue    []*batchCall
	leading  bool               // a leader waits for a slot
	stopWait context.CancelFunc // ends the leader's wait when every queued lookup gave up
}

// lookup queues values for the next request and waits for its answer or for ctx. A
// lookup that gives up leaves the batch; the request goes on for the others.
func (b *batcher) lookup(ctx context.Context, values []string) (domain.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return domain.LookupResult{}, err
	}
	call := &batchCall{values: values, ctx: ctx, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, call)
	if !b.leading {
		b.leading = true
		go b.lead(context.WithoutCancel(ctx))
	}
	b.mu.Unlock()

	select {
	case <-call.done:
		return call.out.res, call.out.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-call.done: // answered while giving up: the answer is as good as the error
		return call.out.res, call.out.err
	default:
	}
	if call.run == nil {
		b.queue = slices.DeleteFunc(b.queue, func(x *batchCall) bool { return x == call })
		if len(b.queue) == 0 && b.stopWait != nil {
			b.stopWait()
		}
	} else {
		call.run.waiting--
		if call.run.waiting == 0 {
			call.run.cancel()
		}
	}
	return domain.LookupResult{}, ctx.Err()
}

// lead waits for limiter slots and sends what is queued when each slot comes, until the
// queue is empty. ctx carries values only.
func (b *batcher) lead(ctx context.Context) {
	lim, bucket := b.c.general, "ten_secondly"
	if b.search {
		lim, bucket = b.c.search, "search"
	}
	for {
		wctx, stop := context.WithCancel(ctx)
		b.mu.Lock()
		b.stopWait = stop
		b.mu.Unlock()
		err := b.c.waitLimiter(wctx, lim, bucket)
		stop()

		b.mu.Lock()
		b.stopWait = nil
		if len(b.queue) == 0 {
			b.leading = false
			b.mu.Unlock()
			return
		}
		if err != nil {
			// Everyone queued gave up during the wait and others came since: the slot
			// was stopped, wait for the next one.
			b.mu.Unlock()
			continue
		}
		batch := b.take()
		run := &batchRun{waiting: len(batch)}
		run.ctx, run.cancel = context.WithCancel(context.WithoutCancel(batch[0].ctx))
		for _, call := range batch {
			call.run = run
		}
		more := len(b.queue) > 0
		b.leading = more
		b.mu.Unlock()

		if more {
			go b.finish(run, batch)
			continue
		}
		b.finish(run, batch)
		return
	}
}

// take removes from the queue the lookups of the next request, in arrival order: the
// first one, then each following one while it fits. Called with b.mu held.
func (b *batcher) take() []*batchCall {
	values := [][]string{b.queue[0].values}
	n := 1
	for ; n < len(b.queue) && b.fits(values, b.queue[n].values); n++ {
		values = append(values, b.queue[n].values)
	}
	batch := slices.Clone(b.queue[:n])
	b.queue = slices.Delete(b.queue, 0, n)
	return batch
}

func (b *batcher) finish(run *batchRun, batch []*batchCall) {
	defer run.cancel()
	values := make([][]string, len(batch))
	for i, call := range batch {
		values[i] = call.values
	}
	b.c.metrics.batchSize.WithLabelValues(b.op).Observe(float64(len(batch)))
	if len(batch) > 1 {
		b.c.log.LogAttrs(run.ctx, slog.LevelDebug, "hubspot lookups batched", slog.String("op", b.op),
			slog.Int("lookups", len(batch)))
	}
	outs := b.send(run.ctx, values)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, call := range batch {
		call.out = outs[i]
		close(call.done)
	}
}

// union returns the distinct values of every lookup, sorted.
func union(batch [][]string) []string {
	var out []string
	for _, vals := range batch {
		for _, v := range vals {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

// splitOnError reports whether a batch's request failed in a way one lookup's value can
// cause: a 400 (HubSpot validates values, and a value it refuses would fail the others
// with it). The batch is then sent again in halves, down to single lookups, so only the
// lookup at fault gets the error. Every other failure (401, 403, 429, 5xx, timeouts)
// is the portal's, not a value's: it goes to every lookup of the batch.
func splitOnError(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest
}

func failAll(n int, err error) []outcome {
	outs := make([]outcome, n)
	for i := range outs {
		outs[i].err = err
	}
	return outs
}

// Batched searches.

// searchBatch describes a search that batches: one group per property, each an IN filter
// over the lower-cased union of the lookups' values (groups are ORed); a result goes to
// the lookups whose values one of those properties holds.
type searchBatch struct {
	op    string   // metrics and logs
	props []string // searched with IN, read back to route the results
	what  string   // what the values are, for the audit ("phone or mobilephone national number")
	// single sends a batch of one, as an unbatched lookup.
	single func(ctx context.Context, values []string, slotTaken bool) (domain.LookupResult, error)
}

func (s searchBatch) groups(values []string) []filterGroup {
	groups := make([]filterGroup, len(s.props))
	for i, p := range s.props {
		groups[i] = filterGroup{Filters: []filter{{PropertyName: p, Operator: "IN", Values: values}}}
	}
	return groups
}

// lowerAll lower-cases every value: HubSpot wants IN values in lower case and compares
// them with the stored value lower-cased.
func lowerAll(batch [][]string) [][]string {
	out := make([][]string, len(batch))
	for i, vals := range batch {
		for _, v := range vals {
			if l := strings.ToLower(v); !slices.Contains(out[i], l) {
				out[i] = append(out[i], l)
			}
		}
	}
	return out
}

// searchBatcher builds the batcher of s.
func (c *Client) searchBatcher(s searchBatch) *batcher {
	return &batcher{
		c: c, op: s.op, search: true,
		fits: func(batch [][]string, next []string) bool {
			values := union(lowerAll(append(slices.Clone(batch), next)))
			if len(values) > maxBatchSearchValues {
				return false
			}
			return c.searchBodySize(s.groups(values), s.props) <= maxSearchBodyBytes
		},
		send: func(ctx context.Context, batch [][]string) []outcome {
			return c.sendSearchBatch(ctx, s, batch, true)
		},
	}
}

// searchBodySize is the size of the first page's request body.
func (c *Client) searchBodySize(groups []filterGroup, extra []string) int {
	b, err := json.Marshal(c.searchBody(groups, extra))
	if err != nil {
		return 0
	}
	return len(b)
}

// sendSearchBatch runs one search for every lookup of batch and routes the results. A
// batched search that reaches the page cap (maxSearchPages) is not cut short for
// everyone: it is split in two halves, searched again, down to single lookups, which
// stop at the cap as an unbatched search does.
func (c *Client) sendSearchBatch(ctx context.Context, s searchBatch, batch [][]string, slotTaken bool) []outcome {
	if len(batch) == 1 {
		res, err := s.single(ctx, batch[0], slotTaken)
		return []outcome{{res, err}}
	}
	mine := lowerAll(batch)
	values := union(mine)
	var filters []string
	for _, p := range s.props {
		filters = append(filters, p+" IN")
	}
	// The words go into every sender's lookup, sealed with that sender's key: they
	// must not list the other senders' values (SPEC §3 rule 17), only how many.
	words := fmt.Sprintf("contacts whose %s is one of %d values (%s), oldest first; one search shared by %d senders",
		s.what, len(values), strings.Join(filters, " OR "), len(batch))
	pages, truncated, err := c.searchPages(ctx, s.op, s.groups(values), s.props, words, slotTaken)
	if splitOnError(err) {
		c.log.WarnContext(ctx, "hubspot refused a batched search; searching again in smaller groups",
			"op", s.op, "lookups", len(batch), "error", err.Error())
		return c.splitSearch(ctx, s, batch)
	}
	if err != nil {
		return failAll(len(batch), err)
	}
	outs := make([]outcome, len(batch))
	if truncated {
		c.log.WarnContext(ctx, "hubspot batched search has more results than the client reads; splitting it",
			"op", s.op, "lookups", len(batch))
		for i := range outs {
			for _, p := range pages {
				outs[i].res.Lookups = append(outs[i].res.Lookups, domain.Lookup{Kind: "search", Found: 0,
					Query: p.query + fmt.Sprintf("; results dropped: more than %d pages for %d senders, searched again in smaller groups", maxSearchPages, len(batch))})
			}
		}
		return appendSplit(outs, c.splitSearch(ctx, s, batch))
	}
	routedPages := make([][][]domain.Contact, len(pages))
	unrouted := 0
	for pi, p := range pages {
		routed := make([][]domain.Contact, len(batch))
		for _, o := range p.results {
			ct := o.contact()
			var keys []string
			for _, prop := range s.props {
				if v := ct.Properties[prop]; v != "" {
					keys = append(keys, routingKeys(v)...)
				}
			}
			to := routeTo(keys, mine, func(k, v string) bool { return k == v })
			if len(to) == 0 {
				unrouted++
			}
			for _, i := range to {
				routed[i] = append(routed[i], ct)
			}
		}
		routedPages[pi] = routed
	}
	if unrouted > 0 {
		// A contact HubSpot matched by a form of the value the client cannot read back
		// belongs to some sender of the batch, but to which one it cannot tell. Given to
		// every sender, its values would sit in the events of people it is not, sealed
		// with their keys (SPEC §3 rule 17); given to none, its own sender could miss it
		// and create a duplicate. Smaller searches tell: a lone sender's search is its own.
		c.log.WarnContext(ctx, "hubspot batched search returned contacts without the searched values; searching again in smaller groups",
			"op", s.op, "contacts", unrouted, "lookups", len(batch))
		for i := range outs {
			for _, p := range pages {
				outs[i].res.Lookups = append(outs[i].res.Lookups, domain.Lookup{Kind: "search", Found: 0,
					Query: p.query + fmt.Sprintf("; results dropped: %d of the contacts it returned hold none of the searched values as read back, searched again in smaller groups", unrouted)})
			}
		}
		return appendSplit(outs, c.splitSearch(ctx, s, batch))
	}
	for pi, p := range pages {
		routed := routedPages[pi]
		for i := range outs {
			outs[i].res.Lookups = append(outs[i].res.Lookups, domain.Lookup{Kind: "search", Found: len(routed[i]),
				Query: p.query + fmt.Sprintf("; %d of the %d contacts it returned are for this sender's %s", len(routed[i]), len(p.results), strings.Join(mine[i], " or "))})
			outs[i].res.Candidates = append(outs[i].res.Candidates, routed[i]...)
		}
	}
	return outs
}

// splitSearch searches the two halves of batch again.
func (c *Client) splitSearch(ctx context.Context, s searchBatch, batch [][]string) []outcome {
	half := len(batch) / 2
	return append(c.sendSearchBatch(ctx, s, batch[:half], false), c.sendSearchBatch(ctx, s, batch[half:], false)...)
}

// appendSplit adds to each outcome what the searches again of its lookup found (rest,
// in the same order), keeping the lookups already recorded.
func appendSplit(outs, rest []outcome) []outcome {
	for i := range outs {
		outs[i].err = rest[i].err
		outs[i].res.Lookups = append(outs[i].res.Lookups, rest[i].res.Lookups...)
		outs[i].res.Candidates = append(outs[i].res.Candidates, rest[i].res.Candidates...)
	}
	return outs
}

// routingKeys are the lower-cased forms a stored value matches: the value, and each
// part of a ";"-joined multi-value.
func routingKeys(stored string) []string {
	stored = strings.ToLower(stored)
	keys := []string{stored}
	if strings.Contains(stored, ";") {
		keys = append(keys, strings.Split(stored, ";")...)
	}
	return keys
}

// routeTo returns the indexes of the lookups one of whose values matches one of keys.
func routeTo(keys []string, lookups [][]string, match func(key, value string) bool) []int {
	var to []int
	for i, vals := range lookups {
		if slices.ContainsFunc(keys, func(k string) bool {
			return slices.ContainsFunc(vals, func(v string) bool { return match(k, v) })
		}) {
			to = append(to, i)
		}
	}
	return to
}

// Batched reads by a unique property.

// uniqueKey is how a unique value is compared when routing a batch read's results:
// lower-cased, without a leading '@'. HubSpot's case handling of unique values is not
// documented; the key is loose on purpose (an extra candidate is confirmed away).
func uniqueKey(v string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "@")
}

// uniqueBatcher builds the batcher of the reads by the unique property.
func (c *Client) uniqueBatcher(property string) *batcher {
	return &batcher{
		c: c, op: "read_contacts_by_property",
		fits: func(batch [][]string, next []string) bool {
			return len(distinct(append(slices.Clone(batch), next))) <= maxBatchReadInputs
		},
		send: func(ctx context.Context, batch [][]string) []outcome {
			return c.readByUniqueBatch(ctx, property, batch, true)
		},
	}
}

// distinct returns every lookup's values, each once (exactly as given), in order.
func distinct(batch [][]string) []string {
	var out []string
	for _, vals := range batch {
		for _, v := range vals {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// readByUniqueBatch reads, by the unique property, the contacts of every lookup of
// batch: a lone value with GET ?idProperty=, anything more with batch/read (100 inputs
// per request). Values HubSpot does not hold come back as errors of a 207: no match.
func (c *Client) readByUniqueBatch(ctx context.Context, property string, batch [][]string, slotTaken bool) []outcome {
	if len(batch) == 1 && len(batch[0]) == 1 {
		res, err := c.readByUniqueProperty(ctx, property, batch[0][0], slotTaken)
		return []outcome{{res, err}}
	}
	mine := make([][]string, len(batch))
	for i, vals := range batch {
		for _, v := range vals {
			mine[i] = append(mine[i], uniqueKey(v))
		}
	}
	inputs := distinct(batch)
	outs := make([]outcome, len(batch))
	for start := 0; start < len(inputs); start += maxBatchReadInputs {
		chunk := inputs[start:min(start+maxBatchReadInputs, len(inputs))]
		found, err := c.batchReadByUniqueProperty(ctx, property, chunk, slotTaken && start == 0)
		if len(batch) > 1 && splitOnError(err) {
			c.log.WarnContext(ctx, "hubspot refused a batch read; reading again in smaller groups",
				"property", property, "lookups", len(batch), "error", err.Error())
			return c.splitRead(ctx, property, batch)
		}
		if err != nil {
			return failAll(len(batch), err)
		}
		if len(batch) == 1 {
			query := fmt.Sprintf("contacts whose %s is one of %q (batch read by unique property, not the search index)", property, chunk)
			outs[0].res.Lookups = append(outs[0].res.Lookups, domain.Lookup{Kind: "read_by_property", Query: query, Found: len(found)})
			outs[0].res.Candidates = append(outs[0].res.Candidates, found...)
			continue
		}
		routed := make([][]domain.Contact, len(batch))
		unrouted := 0
		for _, ct := range found {
			var to []int
			if v := ct.Properties[property]; v != "" {
				to = routeTo([]string{uniqueKey(v)}, mine, func(k, v string) bool { return k == v })
			}
			if len(to) == 0 {
				unrouted++
			}
			for _, i := range to {
				routed[i] = append(routed[i], ct)
			}
		}
		if unrouted > 0 {
			// As for a batched search (sendSearchBatch): smaller reads tell whose it is;
			// a lone value is read on its own, and what it returns is that value's.
			c.log.WarnContext(ctx, "hubspot batch read returned contacts the client cannot route by their value; reading again in smaller groups",
				"property", property, "contacts", unrouted, "lookups", len(batch))
			dropped := make([]outcome, len(batch))
			for i := range dropped {
				dropped[i].res.Lookups = []domain.Lookup{{Kind: "read_by_property", Found: 0,
					Query: fmt.Sprintf("contacts whose %s is one of %d values (batch read by unique property, one request shared by %d senders); results dropped: %d of the contacts it returned hold none of the values as read back, read again in smaller groups",
						property, len(chunk), len(batch), unrouted)}}
			}
			return appendSplit(dropped, c.splitRead(ctx, property, batch))
		}
		for i := range outs {
			// Sealed with this sender's key, the words name this sender's values alone:
			// the others' would outlive their own erasure here (SPEC §3 rule 17).
			outs[i].res.Lookups = append(outs[i].res.Lookups, domain.Lookup{Kind: "read_by_property", Found: len(routed[i]),
				Query: fmt.Sprintf("contacts whose %s is one of %d values (batch read by unique property, not the search index); one request shared by %d senders: %d of the %d contacts it returned are for this sender's %q",
					property, len(chunk), len(batch), len(routed[i]), len(found), batch[i])})
			outs[i].res.Candidates = append(outs[i].res.Candidates, routed[i]...)
		}
	}
	return outs
}

// splitRead reads the two halves of batch (of two lookups or more) again: a half of
// one lookup keeps what it reads, all of it its own.
func (c *Client) splitRead(ctx context.Context, property string, batch [][]string) []outcome {
	half := len(batch) / 2
	return append(c.readByUniqueBatch(ctx, property, batch[:half], false), c.readByUniqueBatch(ctx, property, batch[half:], false)...)
}

// batchReadByUniqueProperty reads up to 100 values of a unique property in one
// request and returns the contacts found.
func (c *Client) batchReadByUniqueProperty(ctx context.Context, property string, values []string, slotTaken bool) ([]domain.Contact, error) {
	props := appendUnique(slices.Clone(c.readProperties), property)
	type input struct {
		ID string `json:"id"`
	}
	body := struct {
		IDProperty            string   `json:"idProperty"`
		Inputs                []input  `json:"inputs"`
		Properties            []string `json:"properties"`
		PropertiesWithHistory []string `json:"propertiesWithHistory"`
	}{IDProperty: property, Properties: props, PropertiesWithHistory: []string{}}
	for _, v := range values {
		body.Inputs = append(body.Inputs, input{ID: v})
	}
	resp, err := c.do(ctx, request{op: "batch_read_contacts_by_property", method: http.MethodPost,
		path: contactsPath + "/batch/read", body: body, slotTaken: slotTaken})
	if err != nil {
		return nil, err
	}
	var br struct {
		Results []object `json:"results"`
		Errors  []struct {
			Category string `json:"category"`
			Message  string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp.body, &br); err != nil {
		return nil, fmt.Errorf("decode batch read: %w", err)
	}
	for _, e := range br.Errors {
		if !strings.EqualFold(e.Category, "OBJECT_NOT_FOUND") {
			// Only "not found" is an expected partial failure; say so rather than
			// reading anything else as "no such contact" in silence.
			// HubSpot's message names the inputs it failed on: debug level only.
			c.log.WarnContext(ctx, "hubspot batch read reported an error for some inputs; read as not found",
				"property", property, "category", e.Category)
			c.log.DebugContext(ctx, "hubspot batch read error", "category", e.Category, "message", e.Message)
		}
	}
	out := make([]domain.Contact, 0, len(br.Results))
	for _, o := range br.Results {
		out = append(out, o.contact())
	}
	return out, nil
}

// batcherFor returns the batcher of key, building it with mk the first time.
func (c *Client) batcherFor(key string, mk func() *batcher) *batcher {
	c.batchMu.Lock()
	defer c.batchMu.Unlock()
	b, ok := c.batchers[key]
	if !ok {
		b = mk()
		c.batchers[key] = b
	}
	return b
}

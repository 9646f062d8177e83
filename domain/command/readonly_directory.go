package command

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"switchboard/domain"
)

// ContactReader is the reading half of a HubSpot CRM: all a what-if may use.
type ContactReader interface {
	FindByPhone(ctx context.Context, q domain.PhoneQuery) (domain.LookupResult, error)
	FindByProperty(ctx context.Context, property string, values ...string) (domain.LookupResult, error)
	GetContact(ctx context.Context, id string, properties []string) (domain.Contact, error)
}

// ErrReadOnly is what a ReadOnlyDirectory answers every write with.
var ErrReadOnly = errors.New("read-only HubSpot directory: writes are refused")

// ReadOnlyDirectory is a ContactDirectory and an InboxPublisher that can only read:
// it holds nothing but a ContactReader, so no code path through it can reach a write of
// the client it wraps. Each write it is asked for is refused with ErrReadOnly (marked
// permanent, so a resolver gives up instead of retrying) and counted as a violation.
type ReadOnlyDirectory struct {
	r          ContactReader
	violations atomic.Int64
}

// NewReadOnlyDirectory wraps r.
func NewReadOnlyDirectory(r ContactReader) (*ReadOnlyDirectory, error) {
	if r == nil {
		return nil, errors.New("new read-only directory: a contact reader is required")
	}
	return &ReadOnlyDirectory{r: r}, nil
}

var (
	_ domain.ContactDirectory = (*ReadOnlyDirectory)(nil)
	_ domain.InboxPublisher   = (*ReadOnlyDirectory)(nil)
)

func (d *ReadOnlyDirectory) FindByPhone(ctx context.Context, q domain.PhoneQuery) (domain.LookupResult, error) {
	return d.r.FindByPhone(ctx, q)
}

func (d *ReadOnlyDirectory) FindByProperty(ctx context.Context, property string, values ...string) (domain.LookupResult, error) {
	return d.r.FindByProperty(ctx, property, values...)
}

func (d *ReadOnlyDirectory) GetContact(ctx context.Context, id string, properties []string) (domain.Contact, error) {
	return d.r.GetContact(ctx, id, properties)
}

func (d *ReadOnlyDirectory) refuse(op string) error {
	d.violations.Add(1)
	return &domain.ExternalError{System: "hubspot", Op: op, Permanent: true, Err: ErrReadOnly}
}

// CreateContact is refused.
func (d *ReadOnlyDirectory) CreateContact(context.Context, map[string]string) (domain.Contact, error) {
	return domain.Contact{}, d.refuse("create contact")
}

// UpdateContact is refused.
func (d *ReadOnlyDirectory) UpdateContact(_ context.Context, id string, _ map[string]string) error {
	return d.refuse(fmt.Sprintf("update contact %s", id))
}

// Publish is refused.
func (d *ReadOnlyDirectory) Publish(context.Context, domain.InboxMessage) (domain.PublishedMessage, error) {
	return domain.PublishedMessage{}, d.refuse("publish")
}

// Violations counts the writes refused so far.
func (d *ReadOnlyDirectory) Violations() int64 { return d.violations.Load() }

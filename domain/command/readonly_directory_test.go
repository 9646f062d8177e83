package command_test

import (
	"context"
	"errors"
	"testing"

	"switchboard/domain"
	"switchboard/domain/command"
)

// reads records which reads reached the wrapped client; it has no write methods, so
// the wrapper could not call one if it tried.
type reads struct{ n int }

func (r *reads) FindByPhone(context.Context, domain.PhoneQuery) (domain.LookupResult, error) {
	r.n++
	return domain.LookupResult{}, nil
}
func (r *reads) FindByProperty(context.Context, string, ...string) (domain.LookupResult, error) {
	r.n++
	return domain.LookupResult{}, nil
}
func (r *reads) GetContact(context.Context, string, []string) (domain.Contact, error) {
	r.n++
	return domain.Contact{}, nil
}

// The what-if's HubSpot reads through and refuses every write, counting each one; a
// refusal is permanent, so a resolver handed it gives up instead of retrying.
func TestReadOnlyDirectoryRefusesAndCountsWrites(t *testing.T) {
	inner := &reads{}
	d, err := command.NewReadOnlyDirectory(inner)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = d.FindByPhone(ctx, domain.PhoneQuery{E164: "+14155552671"})
	_, _ = d.FindByProperty(ctx, "telegram_user_id", "1")
	_, _ = d.GetContact(ctx, "1", nil)
	writes := []func() error{
		func() error { _, err := d.CreateContact(ctx, map[string]string{"phone": "+1"}); return err },
		func() error { return d.UpdateContact(ctx, "1", map[string]string{"x": "y"}) },
		func() error { _, err := d.Publish(ctx, domain.InboxMessage{}); return err },
	}
	for i, w := range writes {
		err := w()
		if !errors.Is(err, command.ErrReadOnly) || !errors.Is(err, domain.ErrPermanent) {
			t.Errorf("write %d: %v, want ErrReadOnly, permanent", i, err)
		}
	}
	if inner.n != 3 || d.Violations() != 3 {
		t.Errorf("%d reads passed, %d violations; want 3 and 3", inner.n, d.Violations())
	}
	if _, err := command.NewReadOnlyDirectory(nil); err == nil {
		t.Error("a read-only directory without a reader was built")
	}
}

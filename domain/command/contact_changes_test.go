package command

import (
	"errors"
	"strings"
	"testing"

	"switchboard/domain"
)

func TestWithoutKeyRedactsTheMatchKey(t *testing.T) {
	k := domain.MatchKey{Workspace: "acme", Lookup: domain.LookupPhone, Identifier: "+14155552671"}
	inner := &domain.WrongExpectedVersionError{Stream: k.Stream(), Expected: 3, Actual: 4}
	err := withoutKey(errors.Join(errors.New("append to "+k.Stream()), inner), k)
	if strings.Contains(err.Error(), "4155552671") {
		t.Fatalf("error still names the identifier: %v", err)
	}
	if !errors.Is(err, domain.ErrWrongExpectedVersion) {
		t.Fatalf("redaction lost the error chain: %v", err)
	}
}

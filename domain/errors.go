package domain

import (
	"errors"
	"fmt"
)

// Error codes callers decide on; the HTTP layer maps them to statuses once.
const (
	CodeInvalid      = "invalid"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeUnauthorized = "unauthorized"
	CodeInternal     = "internal"
)

// Error is an application error with a code, the offending field where there is one,
// and a message that says what was wrong and what was expected.
type Error struct {
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalid builds a CodeInvalid error for a field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound builds a CodeNotFound error.
func NotFound(format string, args ...any) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, CodeInternal for errors that carry none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ExternalError is a failure of a system outside switchboard (HubSpot, a platform's
// API) in the domain's terms: whether a retry can fix it, and the HTTP status of the
// refusal, which a dead letter records. errors.Is(err, ErrPermanent) is true when it is
// permanent. Adapters produce it (errors.As finds it on their own error types), so the
// command layer decides without knowing any adapter.
type ExternalError struct {
	// System is what answered: "hubspot", "slack", "graph".
	System string
	// Op is the operation that failed, where the adapter names it.
	Op string
	// Status is the HTTP status of the answer, 0 when there was none (a timeout).
	Status int
	// Permanent is true when no retry can fix it (a revoked token, a missing scope).
	Permanent bool
	Err       error
}

func (e *ExternalError) Error() string {
	msg := e.System
	if e.Op != "" {
		msg += " " + e.Op
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s answered %d", msg, e.Status)
}

func (e *ExternalError) Unwrap() error { return e.Err }

func (e *ExternalError) Is(target error) bool { return target == ErrPermanent && e.Permanent }

// StatusOf returns the HTTP status an external system answered err with, 0 when err
// carries none.
func StatusOf(err error) int {
	var e *ExternalError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Detailer is an error that keeps a detail out of its Error text: an external system's
// own words, which may quote the values it refused (HubSpot's validation messages name
// the phone number or the email). Error texts reach logs at warn and error level, which
// must name nobody; the detail goes only where an erasure reaches.
type Detailer interface {
	error
	Detail() string
}

// ErrorWithDetail is err's text followed by the detail of the first error of its chain
// that has one: what a dead letter's reason records (a sealed, erasable field), never
// what a log line says.
func ErrorWithDetail(err error) string {
	var d Detailer
	if errors.As(err, &d) && d.Detail() != "" {
		return err.Error() + ": " + d.Detail()
	}
	return err.Error()
}

package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// Errors returned by the Go seeding API (Merge, Archive, UpdateContact, ...).
var (
	ErrNotFound = errors.New("emulator: contact not found")
	ErrInvalid  = errors.New("emulator: invalid request")
	ErrConflict = errors.New("emulator: contact already exists")
)

// apiError is an error answer in HubSpot's standard error shape (hubspot.md §5).
type apiError struct {
	status      int
	category    string
	subCategory string
	message     string
	context     map[string][]string
	errors      []errorDetail
}

type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code,omitempty"`
	In      string              `json:"in,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.category, e.message) }

func apiErr(status int, category, message string) *apiError {
	return &apiError{status: status, category: category, message: message}
}

func validationErr(message string) *apiError {
	return apiErr(http.StatusBadRequest, "VALIDATION_ERROR", message)
}

func notFoundErr() *apiError {
	// The exact text of HubSpot's 404 for a missing contact is unverified (hubspot.md §10).
	return apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
}

func conflictErr(existingID string) *apiError {
	return apiErr(http.StatusConflict, "CONFLICT", "Contact already exists. Existing ID: "+existingID)
}

// goErr maps an apiError to the Go API's sentinel errors.
func goErr(e *apiError) error {
	if e == nil {
		return nil
	}
	switch e.status {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, e.message)
	case http.StatusConflict:
		return fmt.Errorf("%w: %s", ErrConflict, e.message)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, e.message)
}

// errorBody's field order follows the bodies HubSpot was observed to send.
type errorBody struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
}

func (e *apiError) body() errorBody {
	return errorBody{
		Status:        "error",
		Message:       e.message,
		CorrelationID: uuid.NewString(),
		Category:      e.category,
		SubCategory:   e.subCategory,
		Context:       e.context,
		Errors:        e.errors,
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	b := e.body()
	w.Header().Set("X-HubSpot-Correlation-Id", b.CorrelationID)
	writeJSON(w, e.status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// rateLimitBody is the 429 shape: errorType and policyName instead of category.
type rateLimitBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	ErrorType     string `json:"errorType"`
	CorrelationID string `json:"correlationId"`
	PolicyName    string `json:"policyName"`
	RequestID     string `json:"requestId,omitempty"`
}

func writeTenSecondlyLimit(w http.ResponseWriter) {
	b := rateLimitBody{Status: "error", Message: "You have reached your ten_secondly_rolling limit.", ErrorType: "RATE_LIMIT",
		CorrelationID: uuid.NewString(), PolicyName: "TEN_SECONDLY_ROLLING", RequestID: uuid.NewString()}
	w.Header().Set("X-HubSpot-Correlation-Id", b.CorrelationID)
	writeJSON(w, http.StatusTooManyRequests, b)
}

// writeSecondlyLimit answers a search over its per-second limit: no rate-limit headers
// and no Retry-After (hubspot.md §3 "Search rate limit and its 429").
func writeSecondlyLimit(w http.ResponseWriter) {
	b := rateLimitBody{Status: "error", Message: "You have reached your secondly limit.", ErrorType: "RATE_LIMIT",
		CorrelationID: uuid.NewString(), PolicyName: "SECONDLY"}
	w.Header().Set("X-HubSpot-Correlation-Id", b.CorrelationID)
	writeJSON(w, http.StatusTooManyRequests, b)
}

// writeGatewayPage answers 502/503/504 with the nginx HTML page HubSpot's edge was seen
// to send for 502 (HubSpot/hubspot-php#315); the 503 and 504 pages are the same
// template by inference. Clients must not expect JSON from these statuses.
func writeGatewayPage(w http.ResponseWriter, status int) {
	title := strconv.Itoa(status) + " " + map[int]string{
		http.StatusBadGateway:         "Bad Gateway",
		http.StatusServiceUnavailable: "Service Temporarily Unavailable",
		http.StatusGatewayTimeout:     "Gateway Time-out",
	}[status]
	page := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body bgcolor=\"white\">\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// decodeBody reads a JSON request body into v; a malformed body is HubSpot's 400.
func decodeBody(r *http.Request, v any) *apiError {
	body := http.MaxBytesReader(nil, r.Body, 8<<20)
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return validationErr("Invalid input JSON: " + err.Error())
	}
	return nil
}

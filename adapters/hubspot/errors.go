package hubspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"switchboard/domain"
)

var (
	// ErrCreateOutcomeUnknown means a contact create failed in a way where HubSpot may
	// still have created the contact: a timeout, a dropped connection or a 5xx after the
	// request was sent. Re-sending the create could make a duplicate contact (only email
	// and unique properties make HubSpot answer 409; a phone number does not), so the
	// client does not retry it. The caller must look the contact up again (by the
	// unique property, or by phone once the search index caught up) before creating.
	ErrCreateOutcomeUnknown = errors.New("contact create outcome unknown: HubSpot may have created the contact")

	// ErrDailyLimit means the portal used up its daily API quota (429, policy DAILY).
	// Retrying before the quota resets (midnight in the portal's time zone) only adds
	// more 429s, so the client returns at once.
	ErrDailyLimit = errors.New("HubSpot daily API limit reached")

	// ErrPropertyNotFound means a contact property does not exist in the portal.
	ErrPropertyNotFound = errors.New("contact property does not exist in the HubSpot portal")
)

// 429 policy names (the policyName field of HubSpot's rate-limit answers).
const (
	PolicyTenSecondlyRolling = "TEN_SECONDLY_ROLLING"
	PolicySecondly           = "SECONDLY"
	PolicyDaily              = "DAILY"
)

// APIError is a non-2xx answer from HubSpot. Every field is optional: HubSpot says to
// treat all of them as such, and 429 answers carry errorType and policyName instead of
// category.
type APIError struct {
	Status        int
	Category      string // category, or errorType when the body has no category ("RATE_LIMIT")
	SubCategory   string
	PolicyName    string // 429 only: TEN_SECONDLY_ROLLING, SECONDLY, DAILY
	Message       string
	CorrelationID string
	// RetryAfter is the Retry-After header, when HubSpot sent one.
	RetryAfter time.Duration

	// permanent is decided per operation (a 404 is "not found" on a read but a broken
	// channel on a publication).
	permanent bool
	// body is the raw answer (Publish reads a 409's body for the original message).
	body []byte
}

// Error names the answer by its status, category and correlation id, not by HubSpot's
// message: a validation message quotes the values HubSpot refused (a phone number, an
// email), and error texts reach logs at warn and error level, which must name nobody
// (SPEC §3 rule 17). The message is the error's Detail, which goes only where an erasure
// reaches (domain.ErrorWithDetail: a dead letter's sealed reason).
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HubSpot answered %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		fmt.Fprintf(&b, " %s", t)
	}
	if e.Category != "" {
		fmt.Fprintf(&b, " (%s", e.Category)
		if e.SubCategory != "" {
			fmt.Fprintf(&b, "/%s", e.SubCategory)
		}
		if e.PolicyName != "" {
			fmt.Fprintf(&b, ", policy %s", e.PolicyName)
		}
		b.WriteString(")")
	} else if e.PolicyName != "" {
		fmt.Fprintf(&b, " (policy %s)", e.PolicyName)
	}
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, " [correlation id %s]", e.CorrelationID)
	}
	return b.String()
}

// Detail is HubSpot's own message (domain.Detailer).
func (e *APIError) Detail() string { return e.Message }

// Temporary reports whether a later attempt can succeed without anyone changing
// anything: rate limits (except the daily quota), locks, timeouts and server errors.
func (e *APIError) Temporary() bool {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return !e.daily()
	case e.Status == http.StatusLocked, e.Status == http.StatusRequestTimeout, e.Status == 477:
		return true
	default:
		return e.Status >= 500
	}
}

// Is makes errors.Is(err, domain.ErrPermanent) true for answers no retry can fix
// (400, 401, 403, a 404 on a publication, …) and errors.Is(err, ErrDailyLimit) true
// for the daily quota.
func (e *APIError) Is(target error) bool {
	switch target {
	case domain.ErrPermanent:
		return e.permanent
	case ErrDailyLimit:
		return e.daily()
	}
	return false
}

// expired is HubSpot's answer to an OAuth access token past its expires_in.
func (e *APIError) expired() bool {
	return e.Status == http.StatusUnauthorized && strings.EqualFold(e.Category, "EXPIRED_AUTHENTICATION")
}

func (e *APIError) daily() bool {
	return e.Status == http.StatusTooManyRequests && strings.EqualFold(e.PolicyName, PolicyDaily)
}

// errorBody is HubSpot's standard error shape plus the rate-limit fields.
type errorBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	Category      string `json:"category"`
	SubCategory   string `json:"subCategory"`
	ErrorType     string `json:"errorType"`
	PolicyName    string `json:"policyName"`
	CorrelationID string `json:"correlationId"`
}

// parseAPIError reads whatever HubSpot put in the body; a body that is not JSON
// becomes the message (trimmed), so a proxy's HTML error page still says something.
func parseAPIError(status int, header http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Status: status, RetryAfter: parseRetryAfter(header.Get("Retry-After"), now), body: body}
	var b errorBody
	if err := json.Unmarshal(body, &b); err == nil {
		e.Message = b.Message
		e.Category = b.Category
		if e.Category == "" {
			e.Category = b.ErrorType
		}
		e.SubCategory = b.SubCategory
		e.PolicyName = b.PolicyName
		e.CorrelationID = b.CorrelationID
	} else if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		e.Message = s
	}
	if e.CorrelationID == "" {
		e.CorrelationID = header.Get("X-HubSpot-Correlation-Id")
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else is no hint.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// existingIDPattern finds the id in HubSpot's 409 message
// "Contact already exists. Existing ID: 37765128953".
var existingIDPattern = regexp.MustCompile(`Existing ID:\s*(\d+)`)

func existingID(message string) string {
	if m := existingIDPattern.FindStringSubmatch(message); m != nil {
		return m[1]
	}
	return ""
}

// As maps HubSpot's answer onto the domain's terms: errors.As(err, &ext) with ext a
// *domain.ExternalError finds the status and whether a retry can fix it, which is what
// the command layer decides on (dead letters record the status).
func (e *APIError) As(target any) bool {
	t, ok := target.(**domain.ExternalError)
	if !ok {
		return false
	}
	*t = &domain.ExternalError{System: "hubspot", Status: e.Status, Permanent: e.permanent, Err: e}
	return true
}

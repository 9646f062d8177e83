package hubspot

import "net/http"

// answer is what one HubSpot answer means for the request that got it; do acts on it.
type answer int

const (
	// answerSuccess: a 2xx, hand the response to the caller.
	answerSuccess answer = iota
	// answerFail: give the caller the *APIError now; permanent says whether retrying
	// later can help (a 409 or a read's 404 is for the caller to interpret).
	answerFail
	// answerDailyLimit: the portal's daily quota is spent; retrying before it resets
	// only spends more calls.
	answerDailyLimit
	// answerRateLimited: a 429 of a rolling window; pause the bucket and try again.
	answerRateLimited
	// answerLocked: a 423 (HubSpot is busy with the record); wait and try again.
	answerLocked
	// answerServerError: a 5xx, 408 or 477; HubSpot may answer next time.
	answerServerError
	// answerCreateUnknown: a server error on a create, which HubSpot may have carried
	// out: retrying could make a second contact.
	answerCreateUnknown
)

// verdict is the classification of one answer.
type verdict struct {
	answer answer
	// permanent is set for answerFail.
	permanent bool
}

// classify says what status (with its parsed error, nil for a 2xx) means for r. It
// decides nothing about waiting or attempts left: that is the request loop's.
func classify(r request, status int, apiErr *APIError) verdict {
	switch {
	case status >= 200 && status < 300:
		return verdict{answer: answerSuccess}
	case status == http.StatusTooManyRequests:
		if apiErr != nil && apiErr.daily() {
			return verdict{answer: answerDailyLimit}
		}
		return verdict{answer: answerRateLimited}
	case status == http.StatusLocked:
		return verdict{answer: answerLocked}
	case status >= 500, status == http.StatusRequestTimeout, status == 477:
		if r.create {
			return verdict{answer: answerCreateUnknown}
		}
		return verdict{answer: answerServerError}
	default:
		return verdict{answer: answerFail,
			permanent: status != http.StatusConflict && !(status == http.StatusNotFound && r.notFoundOK)}
	}
}

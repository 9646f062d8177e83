package hubspot

import (
	"fmt"
	"testing"
)

// TestClassify: what each answer means, apart from how long the loop waits or how many
// attempts it has left.
func TestClassify(t *testing.T) {
	read := request{op: "read_contact", notFoundOK: true}
	publish := request{op: "publish_message"}
	create := request{op: "create_contact", create: true}
	daily := &APIError{Status: 429, PolicyName: PolicyDaily}
	rolling := &APIError{Status: 429, PolicyName: PolicyTenSecondlyRolling}
	for _, tc := range []struct {
		name   string
		r      request
		status int
		err    *APIError
		want   verdict
	}{
		{"200", publish, 200, nil, verdict{answer: answerSuccess}},
		{"201 create", create, 201, nil, verdict{answer: answerSuccess}},
		{"204", read, 204, nil, verdict{answer: answerSuccess}},
		{"429 ten-secondly", publish, 429, rolling, verdict{answer: answerRateLimited}},
		{"429 secondly search", request{search: true}, 429, &APIError{Status: 429, PolicyName: PolicySecondly}, verdict{answer: answerRateLimited}},
		{"429 without policy", publish, 429, &APIError{Status: 429}, verdict{answer: answerRateLimited}},
		{"429 daily", publish, 429, daily, verdict{answer: answerDailyLimit}},
		{"429 daily on a create", create, 429, daily, verdict{answer: answerDailyLimit}},
		{"423", publish, 423, &APIError{Status: 423}, verdict{answer: answerLocked}},
		{"500 read", read, 500, &APIError{Status: 500}, verdict{answer: answerServerError}},
		{"502 publish", publish, 502, &APIError{Status: 502}, verdict{answer: answerServerError}},
		{"408", publish, 408, &APIError{Status: 408}, verdict{answer: answerServerError}},
		{"477 migration in progress", publish, 477, &APIError{Status: 477}, verdict{answer: answerServerError}},
		{"503 create", create, 503, &APIError{Status: 503}, verdict{answer: answerCreateUnknown}},
		{"408 create", create, 408, &APIError{Status: 408}, verdict{answer: answerCreateUnknown}},
		{"423 create", create, 423, &APIError{Status: 423}, verdict{answer: answerLocked}},
		{"400", publish, 400, &APIError{Status: 400}, verdict{answer: answerFail, permanent: true}},
		{"401", read, 401, &APIError{Status: 401}, verdict{answer: answerFail, permanent: true}},
		{"403", publish, 403, &APIError{Status: 403}, verdict{answer: answerFail, permanent: true}},
		{"404 read", read, 404, &APIError{Status: 404}, verdict{answer: answerFail, permanent: false}},
		{"404 publish", publish, 404, &APIError{Status: 404}, verdict{answer: answerFail, permanent: true}},
		{"409 create", create, 409, &APIError{Status: 409}, verdict{answer: answerFail, permanent: false}},
		{"409 publish", publish, 409, &APIError{Status: 409}, verdict{answer: answerFail, permanent: false}},
		{"302", publish, 302, &APIError{Status: 302}, verdict{answer: answerFail, permanent: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.r, tc.status, tc.err); got != tc.want {
				t.Errorf("classify(%s, %d) = %s, want %s", tc.r.op, tc.status, show(got), show(tc.want))
			}
		})
	}
}

func show(v verdict) string { return fmt.Sprintf("{answer %d permanent %v}", v.answer, v.permanent) }

package httpapi

import (
	"context"
	"net/http"

	"switchboard/domain"
	"switchboard/domain/command"
)

// Corrector records operators' corrections (command.CorrectMatchKey).
type Corrector interface {
	Handle(ctx context.Context, cmd command.CorrectMatchKey) (command.CorrectionReceipt, error)
}

// correctionRequest is POST /v1/corrections' body (SPEC §5 "HTTP").
type correctionRequest struct {
	Kind       string `json:"kind"`
	ChannelID  string `json:"channel_id"`
	Identifier string `json:"identifier"`
	ContactID  string `json:"contact_id"`
	Reason     string `json:"reason"`
}

// postCorrection records a link, never_link or unpin. Who asked is the admin token's
// name: the API has one token, named by the variable that holds it.
func (s *Server) postCorrection(w http.ResponseWriter, r *http.Request) {
	if s.d.Corrector == nil {
		writeError(w, http.StatusNotImplemented, domain.CodeInternal, "", "corrections are not enabled on this server")
		return
	}
	var req correctionRequest
	if e := decodeStrict(w, r, &req); e != nil {
		writeError(w, e.status, domain.CodeInvalid, e.field, e.message)
		return
	}
	by := "api"
	if s.d.AdminTokenName != "" {
		by = "api:" + s.d.AdminTokenName
	}
	rec, err := s.d.Corrector.Handle(r.Context(), command.CorrectMatchKey{Request: domain.CorrectionRequest{
		Kind: domain.CorrectionKind(req.Kind), ChannelID: req.ChannelID, Identifier: req.Identifier, ContactID: req.ContactID,
		Reason: req.Reason, RequestedBy: by}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.d.Logger.InfoContext(r.Context(), "correction recorded", "correlation_id", rec.CorrelationID, "kind", rec.Kind,
		"channel_id", req.ChannelID, "position", rec.Position)
	writeJSON(w, http.StatusCreated, map[string]any{"correlation_id": rec.CorrelationID, "position": rec.Position})
}

func (s *Server) corrections(w http.ResponseWriter, r *http.Request) {
	rows, err := s.d.Reader.Corrections(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"corrections": rows})
}

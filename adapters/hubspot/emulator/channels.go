package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultInboxID is the id of the inbox every emulated portal has (Options.Inboxes
// replaces it).
const DefaultInboxID = "147959634"

// Inbox is a conversations inbox of the portal (GET /conversations/v3/conversations/inboxes).
type Inbox struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Channel is a custom channel registered by the app (hubspot.md §8 step 1).
type Channel struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	WebhookURL   string          `json:"webhookUrl,omitempty"`
	Description  string          `json:"channelDescription,omitempty"`
	LogoURL      string          `json:"channelLogoUrl,omitempty"`
	Capabilities json.RawMessage `json:"capabilities"`
	CreatedAt    string          `json:"createdAt"`
}

// ChannelAccount is a channel account connected to an inbox (hubspot.md §8 step 2).
type ChannelAccount struct {
	ID                 string              `json:"id"`
	ChannelID          string              `json:"channelId"`
	InboxID            string              `json:"inboxId"`
	Name               string              `json:"name"`
	Active             bool                `json:"active"`
	Authorized         bool                `json:"authorized"`
	Archived           bool                `json:"archived"`
	CreatedAt          string              `json:"createdAt"`
	DeliveryIdentifier *DeliveryIdentifier `json:"deliveryIdentifier,omitempty"`
}

// Operation names of the custom-channel setup endpoints (keys of Stats.Requests).
const (
	OpRegisterChannel = "register_channel"
	OpListChannels    = "list_channels"
	OpGetChannel      = "get_channel"
	OpConnectAccount  = "connect_channel_account"
	OpListAccounts    = "list_channel_accounts"
	OpGetAccount      = "get_channel_account"
	OpListInboxes     = "list_inboxes"
	OpTokenInfo       = "token_info"
)

// channelState is the app's registered channels and their accounts. Channels belong to
// the app, accounts to the portal; the emulator is one app installed in one portal.
type channelState struct {
	channels    []*Channel
	accounts    []*ChannelAccount
	nextChannel int64
	nextAccount int64
}

func newChannelState() channelState {
	return channelState{nextChannel: 1000, nextAccount: 2000}
}

func (c *channelState) channel(id string) *Channel {
	for _, ch := range c.channels {
		if ch.ID == id {
			return ch
		}
	}
	return nil
}

func (c *channelState) account(channelID, id string) *ChannelAccount {
	for _, a := range c.accounts {
		if a.ChannelID == channelID && a.ID == id {
			return a
		}
	}
	return nil
}

// developerAuth checks the developer API key and app id that the channel registration
// endpoints take as query parameters instead of a bearer token (hubspot.md §1, §8).
func (s *Server) developerAuth(r *http.Request) *apiError {
	q := r.URL.Query()
	key, app := q.Get("hapikey"), q.Get("appId")
	switch {
	case key == "" || (s.opts.DeveloperAPIKey != "" && key != s.opts.DeveloperAPIKey):
		return apiErr(http.StatusUnauthorized, "INVALID_AUTHENTICATION", "The API key provided is invalid. View or manage your API key here: https://app.hubspot.com/l/api-key/")
	case app == "" || strings.Trim(app, "0123456789") != "":
		return validationErr("appId is required and must be the numeric id of the app that owns the channel")
	case s.opts.AppID != "" && app != s.opts.AppID:
		return apiErr(http.StatusForbidden, "MISSING_SCOPES", "The developer account of this API key does not own app "+app)
	}
	return nil
}

// POST /conversations/v3/custom-channels?hapikey=&appId=. A second channel of the same
// name is registered again, as far as anyone knows HubSpot does: finding the one
// registered already is the caller's job (list first).
func (s *Server) handleRegisterChannel(w http.ResponseWriter, r *http.Request, _ []string) {
	var body struct {
		Name         string          `json:"name"`
		WebhookURL   string          `json:"webhookUrl"`
		Description  string          `json:"channelDescription"`
		LogoURL      string          `json:"channelLogoUrl"`
		Capabilities json.RawMessage `json:"capabilities"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	switch {
	case strings.TrimSpace(body.Name) == "":
		writeError(w, validationErr("name is required"))
		return
	case len(body.Capabilities) == 0 || string(body.Capabilities) == "null":
		writeError(w, validationErr("capabilities is required"))
		return
	}
	var caps struct {
		DeliveryIdentifierTypes []string `json:"deliveryIdentifierTypes"`
	}
	if err := json.Unmarshal(body.Capabilities, &caps); err != nil {
		e := validationErr("One or more Channel Capabilities specified had invalid values: " + err.Error())
		e.subCategory = "CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES"
		writeError(w, e)
		return
	}
	for _, t := range caps.DeliveryIdentifierTypes {
		if !deliveryTypes[t] {
			e := validationErr("One or more Channel Capabilities specified had invalid values: deliveryIdentifierTypes " + strconv.Quote(t))
			e.subCategory = "CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES"
			writeError(w, e)
			return
		}
	}
	s.mu.Lock()
	s.chans.nextChannel++
	ch := &Channel{ID: strconv.FormatInt(s.chans.nextChannel, 10), Name: body.Name, WebhookURL: body.WebhookURL,
		Description: body.Description, LogoURL: body.LogoURL, Capabilities: body.Capabilities, CreatedAt: formatTime(s.now())}
	s.chans.channels = append(s.chans.channels, ch)
	out := *ch
	s.mu.Unlock()
	w.Header().Set("Location", "/conversations/v3/custom-channels/"+out.ID)
	writeJSON(w, http.StatusCreated, out)
}

// GET /conversations/v3/custom-channels?hapikey=&appId=: the app's channels.
func (s *Server) handleListChannels(w http.ResponseWriter, _ *http.Request, _ []string) {
	s.mu.Lock()
	out := make([]Channel, 0, len(s.chans.channels))
	for _, ch := range s.chans.channels {
		out = append(out, *ch)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// GET /conversations/v3/custom-channels/{channelId}?hapikey=&appId=
func (s *Server) handleGetChannel(w http.ResponseWriter, _ *http.Request, params []string) {
	s.mu.Lock()
	ch := s.chans.channel(params[0])
	var out Channel
	if ch != nil {
		out = *ch
	}
	s.mu.Unlock()
	if ch == nil {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Channel "+params[0]+" not found"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// POST /conversations/v3/custom-channels/{channelId}/channel-accounts, with the
// portal's token: the channel must be registered and the inbox must exist.
func (s *Server) handleConnectAccount(w http.ResponseWriter, r *http.Request, params []string) {
	var body struct {
		InboxID            flexString          `json:"inboxId"`
		Name               string              `json:"name"`
		Authorized         *bool               `json:"authorized"`
		DeliveryIdentifier *DeliveryIdentifier `json:"deliveryIdentifier"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	var missing []string
	if strings.TrimSpace(string(body.InboxID)) == "" {
		missing = append(missing, "inboxId")
	}
	if strings.TrimSpace(body.Name) == "" {
		missing = append(missing, "name")
	}
	if body.Authorized == nil {
		missing = append(missing, "authorized")
	}
	if len(missing) > 0 {
		writeError(w, validationErr("Missing required fields: "+strings.Join(missing, ", ")))
		return
	}
	if d := body.DeliveryIdentifier; d != nil && (!deliveryTypes[d.Type] || strings.TrimSpace(d.Value) == "") {
		writeError(w, validationErr("deliveryIdentifier needs a known type and a non-blank value"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chans.channel(params[0]) == nil {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Channel "+params[0]+" not found"))
		return
	}
	if !s.hasInbox(string(body.InboxID)) {
		writeError(w, validationErr("Inbox "+string(body.InboxID)+" does not exist in this portal"))
		return
	}
	s.chans.nextAccount++
	a := &ChannelAccount{ID: strconv.FormatInt(s.chans.nextAccount, 10), ChannelID: params[0], InboxID: string(body.InboxID),
		Name: body.Name, Active: *body.Authorized, Authorized: *body.Authorized, CreatedAt: formatTime(s.now()),
		DeliveryIdentifier: body.DeliveryIdentifier}
	s.chans.accounts = append(s.chans.accounts, a)
	w.Header().Set("Location", "/conversations/v3/custom-channels/"+params[0]+"/channel-accounts/"+a.ID)
	writeJSON(w, http.StatusCreated, *a)
}

// GET /conversations/v3/custom-channels/{channelId}/channel-accounts
func (s *Server) handleListAccounts(w http.ResponseWriter, _ *http.Request, params []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chans.channel(params[0]) == nil {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Channel "+params[0]+" not found"))
		return
	}
	out := []ChannelAccount{}
	for _, a := range s.chans.accounts {
		if a.ChannelID == params[0] {
			out = append(out, *a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// GET /conversations/v3/custom-channels/{channelId}/channel-accounts/{accountId}
func (s *Server) handleGetAccount(w http.ResponseWriter, _ *http.Request, params []string) {
	s.mu.Lock()
	a := s.chans.account(params[0], params[1])
	var out ChannelAccount
	if a != nil {
		out = *a
	}
	s.mu.Unlock()
	if a == nil {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Channel account "+params[1]+" not found on channel "+params[0]))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) hasInbox(id string) bool {
	for _, in := range s.opts.Inboxes {
		if in.ID == id {
			return true
		}
	}
	return false
}

// GET /conversations/v3/conversations/inboxes
func (s *Server) handleListInboxes(w http.ResponseWriter, _ *http.Request, _ []string) {
	type inboxJSON struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Type      string `json:"type"`
		Archived  bool   `json:"archived"`
		CreatedAt string `json:"createdAt"`
		UpdatedAt string `json:"updatedAt"`
	}
	at := formatTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	out := make([]inboxJSON, 0, len(s.opts.Inboxes))
	for _, in := range s.opts.Inboxes {
		out = append(out, inboxJSON{ID: in.ID, Name: in.Name, Type: "INBOX", CreatedAt: at, UpdatedAt: at})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": len(out), "results": out})
}

// refusePublication is the 404 of a publication into a channel account HubSpot does not
// know, once any account is connected: before that the emulator accepts any ids, as
// tests that configure inbox ids by hand need. HubSpot's exact answer is unverified.
func (s *Server) refusePublication(channelID, account string) *apiError {
	if len(s.chans.accounts) == 0 || s.chans.account(channelID, account) != nil {
		return nil
	}
	return apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Channel account "+account+" not found on channel "+channelID)
}

// GET /oauth/v1/access-tokens/{token}: the metadata of an access token (hubspot.md §1).
// Static tokens (AddToken, or any when none was added) answer too, with Options.Scopes,
// so a test can run setup with either kind.
func (s *Server) handleTokenInfo(w http.ResponseWriter, token string) {
	s.mu.Lock()
	s.stats.requests[OpTokenInfo]++
	exp, issued := s.oauth.access[token]
	valid := issued || (!s.revoked[token] && s.tokenValid(token))
	now := s.now()
	s.mu.Unlock()
	if !valid || (issued && !now.Before(exp)) {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "access token not found or expired"))
		return
	}
	expiresIn := int64(0)
	if issued {
		expiresIn = int64(exp.Sub(now) / time.Second)
	}
	scopes := append([]string{}, s.opts.Scopes...)
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "hub_id": s.opts.PortalID, "app_id": s.appIDNumber(),
		"scopes": scopes, "expires_in": expiresIn, "token_type": "access"})
}

func (s *Server) appIDNumber() int64 {
	n, _ := strconv.ParseInt(s.opts.AppID, 10, 64)
	return n
}

// Channels returns the registered custom channels in registration order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.chans.channels))
	for _, ch := range s.chans.channels {
		out = append(out, *ch)
	}
	return out
}

// ChannelAccounts returns the connected channel accounts in creation order.
func (s *Server) ChannelAccounts() []ChannelAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelAccount, 0, len(s.chans.accounts))
	for _, a := range s.chans.accounts {
		out = append(out, *a)
	}
	return out
}

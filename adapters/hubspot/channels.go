package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/domain"
)

// The calls `switchboard hubspot setup` makes (reference/hubspot.md §4, §8): the app's
// custom channel, registered with the developer API key; the portal's inboxes, channel
// accounts and identifier properties, with the portal's token; the token's scopes.

// ID is an id HubSpot may send as a string or a number; it reads as a string.
type ID = flexibleID

// CustomChannel is a registered custom channel (PublicChannelIntegrationChannel).
type CustomChannel struct {
	ID           flexibleID          `json:"id"`
	Name         string              `json:"name"`
	WebhookURL   string              `json:"webhookUrl,omitempty"`
	Description  string              `json:"channelDescription,omitempty"`
	Capabilities ChannelCapabilities `json:"capabilities"`
	CreatedAt    string              `json:"createdAt,omitempty"`
}

// ChannelCapabilities are what a custom channel declares it can do.
type ChannelCapabilities struct {
	DeliveryIdentifierTypes []string `json:"deliveryIdentifierTypes"`
	ThreadingModel          string   `json:"threadingModel,omitempty"`
	RichText                []string `json:"richText"`
	AllowInlineImages       bool     `json:"allowInlineImages"`
	AllowOutgoingMessages   bool     `json:"allowOutgoingMessages"`
	AllowConversationStart  bool     `json:"allowConversationStart"`
	AllowMultipleRecipients bool     `json:"allowMultipleRecipients"`
}

// SwitchboardCapabilities are the capabilities of switchboard's channel: incoming
// messages only, threaded by the integrationThreadId switchboard sends, from senders
// known by phone number or by a platform's opaque user id (SPEC §6).
func SwitchboardCapabilities() ChannelCapabilities {
	return ChannelCapabilities{DeliveryIdentifierTypes: []string{"HS_PHONE_NUMBER", "CHANNEL_SPECIFIC_OPAQUE_ID"},
		ThreadingModel: "INTEGRATION_THREAD_ID", RichText: []string{}}
}

// ChannelAccount is a channel account of a custom channel (PublicChannelAccount).
type ChannelAccount struct {
	ID         flexibleID `json:"id"`
	ChannelID  flexibleID `json:"channelId"`
	InboxID    flexibleID `json:"inboxId"`
	Name       string     `json:"name"`
	Active     bool       `json:"active"`
	Authorized bool       `json:"authorized"`
	Archived   bool       `json:"archived"`
}

// Inbox is a conversations inbox of the portal.
type Inbox struct {
	ID   flexibleID `json:"id"`
	Name string     `json:"name"`
}

// Developer is the client of the calls made with the app's developer API key: custom
// channels are registered once per app, not per portal (hubspot.md §8 step 1). The key
// travels in the query string, so no error it returns contains the URL.
type Developer struct {
	base  string
	key   string
	appID string
	http  *http.Client
}

// NewDeveloper builds the developer-key client; hc nil means a client with a 30 s
// timeout.
func NewDeveloper(baseURL, apiKey, appID string, hc *http.Client) (*Developer, error) {
	switch {
	case strings.TrimSpace(apiKey) == "":
		return nil, errors.New("the developer API key is empty: set hubspot_app.developer_api_key_env to the variable that holds it")
	case appID == "" || strings.Trim(appID, "0123456789") != "":
		return nil, fmt.Errorf("hubspot_app.app_id %q is not an app id: give the numeric id of the app (its URL in the developer account ends with it)", appID)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Developer{base: strings.TrimSuffix(baseURL, "/"), key: apiKey, appID: appID, http: hc}, nil
}

// Channels lists the app's custom channels.
func (d *Developer) Channels(ctx context.Context) ([]CustomChannel, error) {
	var out struct {
		Results []CustomChannel `json:"results"`
	}
	if err := d.call(ctx, http.MethodGet, nil, &out); err != nil {
		return nil, fmt.Errorf("list the app's custom channels: %w", err)
	}
	return out.Results, nil
}

// ChannelRegistration is the body of a channel registration.
type ChannelRegistration struct {
	Name         string              `json:"name"`
	WebhookURL   string              `json:"webhookUrl,omitempty"`
	Description  string              `json:"channelDescription,omitempty"`
	Capabilities ChannelCapabilities `json:"capabilities"`
}

// RegisterChannel registers a custom channel. It is not retried: a lost answer may
// hide a registration, which listing the channels finds.
func (d *Developer) RegisterChannel(ctx context.Context, reg ChannelRegistration) (CustomChannel, error) {
	var ch CustomChannel
	if err := d.call(ctx, http.MethodPost, reg, &ch); err != nil {
		return CustomChannel{}, fmt.Errorf("register custom channel %q: %w", reg.Name, err)
	}
	if ch.ID == "" {
		return CustomChannel{}, fmt.Errorf("register custom channel %q: HubSpot answered no channel id", reg.Name)
	}
	return ch, nil
}

func (d *Developer) call(ctx context.Context, method string, body, out any) error {
	q := url.Values{"hapikey": {d.key}, "appId": {d.appID}}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+"/conversations/v3/custom-channels?"+q.Encode(), rd)
	if err != nil {
		return errors.New("build request: the HubSpot base URL is not a URL")
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds the key
		}
		return fmt.Errorf("%s %s/conversations/v3/custom-channels: %w", method, d.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return parseAPIError(resp.StatusCode, resp.Header, raw, time.Now())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// Inboxes lists the portal's conversations inboxes (scope conversations.read).
func (c *Client) Inboxes(ctx context.Context) ([]Inbox, error) {
	resp, err := c.do(ctx, request{op: "list_inboxes", method: http.MethodGet, path: "/conversations/v3/conversations/inboxes",
		query: url.Values{"limit": {"100"}}})
	if err != nil {
		return nil, fmt.Errorf("list inboxes: %w", err)
	}
	var out struct {
		Results []Inbox `json:"results"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("list inboxes: decode answer: %w", err)
	}
	return out.Results, nil
}

// ChannelAccounts lists the portal's accounts of a custom channel.
func (c *Client) ChannelAccounts(ctx context.Context, channelID string) ([]ChannelAccount, error) {
	resp, err := c.do(ctx, request{op: "list_channel_accounts", method: http.MethodGet,
		path: "/conversations/v3/custom-channels/" + escapeSegment(channelID) + "/channel-accounts"})
	if err != nil {
		return nil, fmt.Errorf("list channel accounts of channel %s: %w", channelID, err)
	}
	var out struct {
		Results []ChannelAccount `json:"results"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("list channel accounts of channel %s: decode answer: %w", channelID, err)
	}
	return out.Results, nil
}

// ConnectChannelAccount connects an authorized channel account named name to inbox.
// It is retried only when HubSpot certainly did not act (like a contact create): a
// second account would split the channel's messages.
func (c *Client) ConnectChannelAccount(ctx context.Context, channelID, inboxID, name string) (ChannelAccount, error) {
	body := map[string]any{"inboxId": inboxID, "name": name, "authorized": true}
	resp, err := c.do(ctx, request{op: "connect_channel_account", method: http.MethodPost,
		path: "/conversations/v3/custom-channels/" + escapeSegment(channelID) + "/channel-accounts", body: body, create: true})
	if err != nil {
		return ChannelAccount{}, fmt.Errorf("connect channel account %q to inbox %s: %w", name, inboxID, err)
	}
	var a ChannelAccount
	if err := json.Unmarshal(resp.body, &a); err != nil || a.ID == "" {
		return ChannelAccount{}, fmt.Errorf("connect channel account %q to inbox %s: HubSpot answered no account id", name, inboxID)
	}
	return a, nil
}

// ErrPropertyExists: the property was created meanwhile (a 409).
var ErrPropertyExists = errors.New("the contact property exists already")

// CreateIdentifierProperty creates a unique single-line text property of the contacts
// (hubspot.md §4 "Creating a unique-identifier property").
func (c *Client) CreateIdentifierProperty(ctx context.Context, name, label string) (Property, error) {
	if !validPropertyName(name) {
		return Property{}, fmt.Errorf("create contact property: %w", domain.Invalid("property", "%q is not a HubSpot property name", name))
	}
	body := map[string]any{"name": name, "label": label, "type": "string", "fieldType": "text",
		"groupName": "contactinformation", "hasUniqueValue": true,
		"description": "Set by switchboard: the sender's identifier on a messaging channel."}
	resp, err := c.do(ctx, request{op: "create_property", method: http.MethodPost, path: "/crm/v3/properties/contacts", body: body, create: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		return Property{}, fmt.Errorf("create contact property %q: %w: %w", name, ErrPropertyExists, apiErr)
	}
	if err != nil {
		return Property{}, fmt.Errorf("create contact property %q: %w", name, err)
	}
	var p Property
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return Property{}, fmt.Errorf("create contact property %q: decode answer: %w", name, err)
	}
	c.propMu.Lock()
	c.props[name] = p
	c.propMu.Unlock()
	return p, nil
}

// TokenScopes reads the scopes of the access token the client uses (GET
// /oauth/v1/access-tokens/{token}, hubspot.md §1). Only OAuth access tokens have this
// metadata; a private app's token answers an error. The token is in the path, so this
// call is not logged.
func (c *Client) TokenScopes(ctx context.Context) ([]string, error) {
	token, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, http.MethodGet, c.base+"/oauth/v1/access-tokens/"+url.PathEscape(token), token, nil)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds the token
		}
		return nil, fmt.Errorf("read the access token's scopes: %w", err)
	}
	if resp.status != http.StatusOK {
		return nil, fmt.Errorf("read the access token's scopes: %w", parseAPIError(resp.status, resp.header, resp.body, c.cfg.Now()))
	}
	var out struct {
		Scopes []string `json:"scopes"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("read the access token's scopes: decode answer: %w", err)
	}
	return out.Scopes, nil
}

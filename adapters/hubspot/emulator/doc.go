// Package emulator is an in-process HubSpot: an http.Handler that speaks HubSpot's wire
// format (paths, JSON bodies, status codes, error bodies, rate-limit headers) for the
// parts switchboard uses, so the real HubSpot client talks to it unchanged. It backs the
// integration tests and `switchboard dev hubspot`. It is not a mock: it keeps state and
// enforces HubSpot's rules where they matter — phone numbers stored as free text, search
// lagging behind writes, unique properties and 409s, merges, rate limits and 429s.
//
// Endpoints (classic v3 paths; the dated 2026-03 paths /crm/objects/2026-03/...,
// /crm/properties/2026-03/... and /conversations/custom-channels/2026-03/... are routed
// to the same handlers; "0-1" is accepted for "contacts"):
//
//	POST   /crm/v3/objects/contacts                 create (201; 409 CONFLICT on a held email/unique value)
//	GET    /crm/v3/objects/contacts                 list (limit ≤ 100, after = next id)
//	GET    /crm/v3/objects/contacts/{id}            read (properties=, archived=, idProperty=)
//	PATCH  /crm/v3/objects/contacts/{id}            update ("" clears; idProperty=)
//	DELETE /crm/v3/objects/contacts/{id}            archive (204)
//	POST   /crm/v3/objects/contacts/batch/read      200, or 207 with OBJECT_NOT_FOUND errors
//	POST   /crm/v3/objects/contacts/batch/upsert    by unique idProperty, results carry "new"
//	POST   /crm/v3/objects/contacts/merge           primaryObjectId survives
//	POST   /crm/v3/objects/contacts/search          filterGroups, sorts, limit/after, query
//	GET    /crm/v3/properties/contacts[/{name}]     Property shape
//	POST   /crm/v3/properties/contacts              create a property (409 if it exists)
//	POST   /conversations/v3/custom-channels/{channelId}/messages              publish
//	GET    /conversations/v3/custom-channels/{channelId}/messages/{messageId}  read back
//	POST   /conversations/v3/custom-channels?hapikey=&appId=            register a channel (developer API key)
//	GET    /conversations/v3/custom-channels[/{channelId}]?hapikey=&appId=  the app's channels
//	POST   /conversations/v3/custom-channels/{channelId}/channel-accounts   connect an account to an inbox
//	GET    /conversations/v3/custom-channels/{channelId}/channel-accounts[/{id}]
//	GET    /conversations/v3/conversations/inboxes  the portal's inboxes (Options.Inboxes)
//	POST   /oauth/v1/token                          refresh_token and authorization_code grants (form body)
//	GET    /oauth/v1/access-tokens/{token}          a token's hub_id and scopes (Options.Scopes)
//	GET    /oauth/authorize                         the consent page, always approving: 302 to redirect_uri?code=&state=
//
// OAuth: the token endpoint issues access tokens that expire after
// Options.AccessTokenLifetime (default 30 minutes); a call with one past its expiry
// answers 401 EXPIRED_AUTHENTICATION ("The OAuth token used to make this call expired N
// second(s) ago."). Tokens given to AddToken are static and never expire. A refused
// grant answers 400 with the code in "status" (BAD_REFRESH_TOKEN, BAD_AUTH_CODE,
// BAD_CLIENT_ID, BAD_CLIENT_SECRET, BAD_REDIRECT_URI, BAD_GRANT_TYPE) — HubSpot's
// shape for BAD_REFRESH_TOKEN; the other codes' exact text is the emulator's. Issued
// access tokens share one rate-limit window (HubSpot counts an app per portal).
// Save keeps refresh tokens (accepted and refused) and issued access tokens with their
// expiry; authorization codes are not kept.
//
// With SetWebhooks it also sends HubSpot's contact webhooks (webhooks.go): every
// deletion, merge and phone/mobilephone edit, signed v3, retried, with faults that drop,
// delay or duplicate deliveries (SetWebhookFaults).
//
// Every request goes through, in order: routing (unknown path: 404 JSON), the bearer
// token (401 INVALID_AUTHENTICATION), fault injection (SetFaults), the per-token rate
// limits (429), then the handler. A request refused at any step changes nothing, with
// one deliberate exception: the "apply-" faults (apply-502, apply-reset, apply-stall)
// run the handler and commit its write, then lose the answer — a 502, a TCP reset, or a
// stall past the client's timeout — as real networks do.
//
// Save and Load (SaveFile, LoadFile) keep the data across a restart of the emulator:
// contacts with their search-index history, properties, inbox messages and their
// idempotency keys, threads. `switchboard dev hubspot --state FILE` loads FILE at start
// and saves it when it stops.
//
// Where HubSpot documents nothing (see /work/shared/reference/hubspot.md §10), the
// emulator decides as follows; each is an inference, not observed HubSpot behaviour:
//
//   - Searchable phone properties: see DerivePhone.
//   - A duplicate value in a custom unique property answers the same 409 body as a
//     duplicate email ("Contact already exists. Existing ID: n"), on create, update and
//     (per input, in a 207) batch/upsert. Unique values compare case-insensitively, and
//     email also collides with other contacts' hs_additional_emails.
//   - The 404 body for a missing contact is "Object not found.  objectId are usually
//     numeric." with category OBJECT_NOT_FOUND; the exact text is unverified.
//   - GET and PATCH of a merged-away id act on the survivor (the response carries the
//     survivor's id); batch/read reports merged-away ids as not found; DELETE of a
//     merged-away id is a no-op 204. Merge keeps primaryObjectId as the survivor: it
//     keeps its own values, takes the loser's where it has none, moves the loser's
//     email to hs_additional_emails, and lists the loser (and what had been merged into
//     it) in hs_merged_object_ids, ";"-joined.
//   - Search lag (Options.SearchLag) applies to every write, archive and merge
//     included: an archived or merged-away contact stays findable until the lag passes.
//   - Reads with properties= also return createdate, lastmodifieddate and hs_object_id;
//     requested properties that are defined but empty come back as null, undefined
//     ones are omitted; without properties= the defaults are createdate, email,
//     firstname, hs_object_id, lastmodifieddate, lastname (null when empty).
//   - Search: NEQ, NOT_IN and NOT_CONTAINS_TOKEN also match contacts without a value;
//     CONTAINS_TOKEN tokens are the whole value and its parts split on white space,
//     commas and semicolons; sorting puts contacts without a value last; filtering on
//     an undefined property is a 400; "query" is a case-insensitive substring match
//     over firstname, lastname, email, phone, mobilephone, hs_additional_emails, fax,
//     company.
//   - Rate limits are per token, search included (HubSpot's documents disagree between
//     per token and per account); publish requests count toward the 10-second window.
//   - Custom channels: until a channel account is connected any channel id and channel
//     account id is accepted (tests that write inbox ids by hand); once one is, a
//     publication into a (channel, account) pair that was not connected answers 404
//     OBJECT_NOT_FOUND. Registering a channel with a name already registered makes a
//     second channel (finding the first is the client's job: list first). A channel
//     account needs a registered channel (404) and an inbox of Options.Inboxes (400).
//     The token-info endpoint answers for static tokens too, with Options.Scopes. A
//     repeated (channelAccountId, integrationIdempotencyId) returns the
//     original message with 200. Threads are keyed by (channelAccountId,
//     integrationThreadId), or by the first sender's delivery identifier when there is
//     no integrationThreadId. associateWithContactId must name a live contact (a
//     merged-away id is accepted and resolves to the survivor); preResolvedContacts is
//     recorded without checks. Text may be empty when attachments are sent.
//   - 502, 503 and the 504 after a stall answer with an nginx HTML page, as HubSpot's
//     edge did for an observed 502.
//   - Error messages not quoted in hubspot.md (validation details, property 404/409,
//     search limits) are written by the emulator; clients should key on status and
//     category only.
package emulator

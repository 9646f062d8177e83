-- Which senders (channel/identifier, as the audit names them) wrote under each match
-- key, so that a change of the key that no message caused (a HubSpot webhook, the
-- reconciliation pass) shows on their timelines.
CREATE TABLE IF NOT EXISTS audit_sender_keys (
    match_key  TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    PRIMARY KEY (match_key, sender_key)
);

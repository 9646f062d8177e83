-- Which sender keys wrote under a match key, so a change HubSpot reports for the key (rule 7)
-- reaches every such sender's audit timeline (projections/keychanges.go).
CREATE TABLE audit_sender_keys (
    match_key  TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    PRIMARY KEY (match_key, sender_key)
);

-- Operators' corrections in force (rule 13): one row per (match key, kind, contact).
-- The corrections projection (projections/corrections.go) lists them; the resolver reads
-- the key's own stream to decide.
CREATE TABLE corrections (
    match_key      TEXT NOT NULL,
    kind           TEXT NOT NULL,   -- 'link' or 'never_link'
    contact_id     TEXT NOT NULL,
    workspace      TEXT NOT NULL,
    lookup         TEXT NOT NULL,
    identifier     TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    reason         TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    position       BIGINT NOT NULL,
    PRIMARY KEY (match_key, kind, contact_id)
);

-- The read side's tables, migration set "projections" (projections.NewRunner applies it).
-- Their checkpoints live in the store's checkpoints table, under "projection:NAME".
--
-- IF NOT EXISTS because databases from before versioned migrations already hold these
-- tables (the runner executed the same statements at every start): there this
-- migration only records itself. Change the read side with a new file, never here.

-- identifier -> contact cache: one row per resolved match key.
CREATE TABLE IF NOT EXISTS contact_keys (
    match_key   TEXT PRIMARY KEY,
    workspace   TEXT NOT NULL,
    lookup      TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    how         TEXT NOT NULL,
    resolved_at TEXT NOT NULL,
    position    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS contact_keys_contact ON contact_keys (workspace, contact_id);

-- Which message a correlation id belongs to, and which sender it came from.
CREATE TABLE IF NOT EXISTS audit_messages (
    correlation_id TEXT PRIMARY KEY,
    channel_id     TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    workspace      TEXT NOT NULL,
    sender_key     TEXT NOT NULL DEFAULT '',
    contact_key    TEXT NOT NULL DEFAULT ''
);

-- The audit trail: each event indexed under the message, sender and contact it concerns.
CREATE TABLE IF NOT EXISTS audit_entries (
    subject        TEXT NOT NULL,   -- 'message', 'sender' or 'contact'
    subject_key    TEXT NOT NULL,
    position       BIGINT NOT NULL,
    stream_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    type           TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    data           TEXT NOT NULL,
    PRIMARY KEY (subject, subject_key, position)
);

CREATE TABLE IF NOT EXISTS unlinked_conversations (
    stream_id   TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    position    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ambiguous_resolutions (
    stream_id   TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    candidates  TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    position    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS dead_letters (
    stream_id      TEXT PRIMARY KEY,
    channel_id     TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    stage          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    status         INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    position       BIGINT NOT NULL
);

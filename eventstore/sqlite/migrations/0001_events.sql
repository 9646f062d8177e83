-- The append-only event log. Rows are never updated or deleted.
--
-- AUTOINCREMENT (not a bare INTEGER PRIMARY KEY) so a position is never reused, even
-- after the highest row is gone from a restored or hand-repaired file: a follower that
-- stored "last seen = N" must never be handed a different event at N.
--
-- payload is TEXT, not BLOB: SQLite's json_* functions read a BLOB as JSONB, so JSON text
-- stored as a BLOB would be unreadable to ad-hoc audit queries.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
    occurred_at    TEXT    NOT NULL, -- RFC 3339 with nanoseconds, UTC
    recorded_at    TEXT    NOT NULL, -- RFC 3339 with nanoseconds, UTC
    correlation_id TEXT,
    causation_id   TEXT,
    payload        TEXT    NOT NULL,
    UNIQUE (stream_id, version)
) STRICT;

-- An auditor's first question is "what did this inbound message cause?".
CREATE INDEX events_correlation_id ON events (correlation_id);

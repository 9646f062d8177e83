-- The append-only event log. Rows are never updated or deleted.
--
-- position is an identity: numbers are never reused, and a rolled-back append leaves a
-- gap, which readers accept (positions increase, they are not contiguous). Appends take
-- one transaction-scoped advisory lock before they insert (see append.go), so positions
-- are handed out in commit order and a follower reading "position > last seen" never
-- skips an event that commits late.
--
-- payload is json, not jsonb: the log keeps the bytes each event was written with, as
-- SQLite does, and jsonb would refuse \u0000 and reorder keys.
CREATE TABLE events (
    position       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       text        NOT NULL UNIQUE,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    type           text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version >= 1),
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    correlation_id text,
    causation_id   text,
    payload        json        NOT NULL,
    UNIQUE (stream_id, version)
);

-- An auditor's first question is "what did this inbound message cause?".
CREATE INDEX events_correlation_id ON events (correlation_id);

-- The audit stores each event it indexes once (audit_events), and its timelines as rows
-- that name the event by position (audit_entries). Before this, audit_entries held the
-- event's payload under every timeline it is on: a known sender's message wrote its four
-- payloads three times, which was most of what the read side cost a node's one writer and
-- a rebuild (docs/performance.md, "The audit stores each event once").
--
-- An event's copies were equal (an erasure rewrote every copy alike), so any one of them
-- is the event.
CREATE TABLE audit_events (
    position       BIGINT PRIMARY KEY,
    stream_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    type           TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    data           TEXT NOT NULL,
    subject_id     TEXT NOT NULL DEFAULT '',
    stored_stream  TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_events (position, stream_id, version, type, occurred_at, correlation_id, data, subject_id, stored_stream)
    SELECT position, MIN(stream_id), MIN(version), MIN(type), MIN(occurred_at), MIN(correlation_id), MIN(data),
        MIN(subject_id), MIN(stored_stream)
    FROM audit_entries GROUP BY position;
CREATE INDEX audit_events_subject ON audit_events (subject_id);
CREATE INDEX audit_events_stored_stream ON audit_events (stored_stream);

DROP INDEX audit_entries_subject;
DROP INDEX audit_entries_stored_stream;
DROP INDEX audit_entries_key_subject;
ALTER TABLE audit_entries DROP COLUMN stream_id;
ALTER TABLE audit_entries DROP COLUMN version;
ALTER TABLE audit_entries DROP COLUMN type;
ALTER TABLE audit_entries DROP COLUMN occurred_at;
ALTER TABLE audit_entries DROP COLUMN correlation_id;
ALTER TABLE audit_entries DROP COLUMN data;
ALTER TABLE audit_entries DROP COLUMN subject_id;
ALTER TABLE audit_entries DROP COLUMN stored_stream;
-- Only a sender's timeline goes with a subject's erasure (projections.scrubAudit).
CREATE INDEX audit_entries_key_subject ON audit_entries (key_subject) WHERE subject = 'sender';

-- A timeline holds its messages by link (audit_links: the message's correlation id) where
-- it held each of their events (audit_entries): every event of a message joined the
-- message's, its sender's and its contact's timelines, so a known sender's message wrote
-- twelve entries and now writes three links (docs/performance.md, "The audit links
-- messages to timelines"). audit_entries keeps the events a timeline holds one by one:
-- key events and corrections on the contacts and senders they name, a HubSpot webhook on
-- its contacts.
--
-- An event of a message was on a sender's or a contact's timeline because the message
-- was that sender's or contact's (then or later): those are the links. The events held one
-- by one are of other types, never of a message's: key events and corrections on what
-- they name, HubSpot's webhooks (a key event a message caused is on the message's
-- timelines through its other events too). The entries a link now covers go.
CREATE TABLE audit_links (
    subject        TEXT NOT NULL,
    subject_key    TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    key_subject    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (subject, subject_key, correlation_id)
);
INSERT INTO audit_links (subject, subject_key, correlation_id, key_subject)
    SELECT t.subject, t.subject_key, e.correlation_id, MIN(t.key_subject)
    FROM audit_entries t JOIN audit_events e ON e.position = t.position
    WHERE e.type NOT IN ('MatchKeyResolved', 'MatchKeyForgotten', 'MatchKeyFollowedMerge', 'MatchKeyLinked',
        'MatchKeyNeverLinked', 'MatchKeyUnpinned', 'HubSpotContactChanged')
    GROUP BY t.subject, t.subject_key, e.correlation_id;
DELETE FROM audit_entries WHERE EXISTS (
    SELECT 1 FROM audit_events e JOIN audit_links l ON l.correlation_id = e.correlation_id
    WHERE e.position = audit_entries.position AND l.subject = audit_entries.subject AND l.subject_key = audit_entries.subject_key);
CREATE INDEX audit_events_correlation ON audit_events (correlation_id);
-- Only a sender's timeline goes with a subject's erasure (projections.scrubAudit).
CREATE INDEX audit_links_key_subject ON audit_links (key_subject) WHERE subject = 'sender';

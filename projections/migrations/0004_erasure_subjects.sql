-- Erasure scrubs the read side (SPEC §3 rule 17, docs/privacy.md): each row derived from
-- an event that holds personal values keeps the event's data-key subject id
-- (domain.RecordedEvent.Subject), so that a SubjectErased finds the rows to scrub, and the
-- stream's stored name (RecordedEvent.Stored), which is what a row names the stream by once
-- the subject is erased. '' for rows of events that hold nothing personal, and for rows
-- written before this migration: a rebuild fills them in.
--
-- audit_messages.sender_subject is the subject of the SenderIdentified that gave the
-- message its sender key; audit_entries.key_subject is the subject whose identifier the
-- entry's subject_key embeds (a message's or a sender's; '' for a contact's).

ALTER TABLE contact_keys ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
CREATE INDEX contact_keys_subject ON contact_keys (subject_id);

ALTER TABLE corrections ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
CREATE INDEX corrections_subject ON corrections (subject_id);

ALTER TABLE audit_sender_keys ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_sender_keys_subject ON audit_sender_keys (subject_id);

ALTER TABLE audit_messages ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_messages ADD COLUMN stored_stream TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_messages ADD COLUMN sender_subject TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_messages_subject ON audit_messages (subject_id);
CREATE INDEX audit_messages_sender_subject ON audit_messages (sender_subject);

ALTER TABLE audit_entries ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_entries ADD COLUMN stored_stream TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_entries ADD COLUMN key_subject TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_entries_subject ON audit_entries (subject_id);
CREATE INDEX audit_entries_stored_stream ON audit_entries (stored_stream);
CREATE INDEX audit_entries_key_subject ON audit_entries (key_subject);

ALTER TABLE unlinked_conversations ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
ALTER TABLE unlinked_conversations ADD COLUMN stored_stream TEXT NOT NULL DEFAULT '';
CREATE INDEX unlinked_conversations_subject ON unlinked_conversations (subject_id);

ALTER TABLE ambiguous_resolutions ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ambiguous_resolutions ADD COLUMN stored_stream TEXT NOT NULL DEFAULT '';
CREATE INDEX ambiguous_resolutions_subject ON ambiguous_resolutions (subject_id);

ALTER TABLE dead_letters ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';
ALTER TABLE dead_letters ADD COLUMN stored_stream TEXT NOT NULL DEFAULT '';
CREATE INDEX dead_letters_subject ON dead_letters (subject_id);

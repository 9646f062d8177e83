-- A contact's erasure erases the subjects of the messages resolved to it (SPEC §3 rule 17):
-- besides its match keys', those of messages sealed with a sender subject of their own (a
-- username channel's message that came with a user id only, identified later). The index
-- finds them without reading every message's row.
CREATE INDEX audit_messages_contact ON audit_messages (contact_key);

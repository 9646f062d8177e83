-- privacy_names: the random names of streams that would otherwise hold an identifier
-- (a message stream is named by its channel and platform message id, and WhatsApp and
-- Telegram ids embed the sender's number or chat id). ref_mac is HMAC(index key,
-- reference); owner is the subject whose erasure takes the row along, so that nothing
-- left can confirm which message id a stream was.
CREATE TABLE privacy_names (
    ref_mac TEXT NOT NULL PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    owner   TEXT NOT NULL REFERENCES privacy_keys (subject_id) ON DELETE CASCADE
);
CREATE INDEX privacy_names_owner ON privacy_names (owner);

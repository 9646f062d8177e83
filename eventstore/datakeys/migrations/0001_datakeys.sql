-- The data keys of personal values (docs/privacy.md). Unlike the event log these rows
-- are deleted: deleting a subject's rows is what erases it. TEXT columns (base64) keep
-- the file readable to the sqlite3 shell and the SQL portable.
--
-- privacy_keys: one random AES-256 key per subject, wrapped with the master key when
-- secret_key_env is set.
CREATE TABLE privacy_keys (
    subject_id  TEXT NOT NULL PRIMARY KEY,
    wrapped_key TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- privacy_index: HMAC(index key, subject reference) -> subject id, the only link from
-- an identifier to the random id that names it. Erasure deletes the row with the key.
CREATE TABLE privacy_index (
    ref_mac    TEXT NOT NULL PRIMARY KEY,
    subject_id TEXT NOT NULL REFERENCES privacy_keys (subject_id) ON DELETE CASCADE
);
CREATE INDEX privacy_index_subject ON privacy_index (subject_id);

-- privacy_meta: how keys are wrapped, a check value that tells a wrong master key
-- from an erased subject, and the index key.
CREATE TABLE privacy_meta (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

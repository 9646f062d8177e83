-- The stored name of a stream is the whole name ("message:" or "matchkey:" and 32 random
-- hex digits), and each row keeps the name the application knows the stream by, sealed
-- with the owner's data key (sealed_ref), so that a reader of the log learns which
-- message or match key a stored stream is while its owner lives, and nothing once the
-- owner is erased (the row goes with the key, and the sealed name did not open without it).
-- Rows written before this migration have no sealed_ref: they named nothing yet.
ALTER TABLE privacy_names ADD COLUMN sealed_ref TEXT NOT NULL DEFAULT '';

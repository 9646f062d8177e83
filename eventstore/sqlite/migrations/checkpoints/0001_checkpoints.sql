-- One checkpoint table for every follower of the log: reactors (the resolver, the
-- publisher) under their own names, projections under "projection:" and theirs.
--
-- Databases from before this migration kept reactors' checkpoints in
-- reactor_checkpoints (created by the follower at start) and projections' in
-- projection_checkpoints (created by projections/schema.sql at start); their rows move
-- here so no follower starts again from zero. Either table may be missing, so each is
-- created empty first when it is.
CREATE TABLE checkpoints (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL CHECK (position >= 0)
) STRICT;

CREATE TABLE IF NOT EXISTS reactor_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
INSERT INTO checkpoints (name, position) SELECT name, position FROM reactor_checkpoints;
DROP TABLE reactor_checkpoints;

CREATE TABLE IF NOT EXISTS projection_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
INSERT INTO checkpoints (name, position) SELECT 'projection:' || name, position FROM projection_checkpoints;
DROP TABLE projection_checkpoints;

-- One checkpoint table for every follower of the log: reactors under their own names,
-- projections under "projection:" and theirs (the same table as in SQLite).
CREATE TABLE checkpoints (
    name     text   PRIMARY KEY,
    position bigint NOT NULL CHECK (position >= 0)
);

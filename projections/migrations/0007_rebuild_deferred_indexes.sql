-- The indexes a rebuild dropped, to create each once at its end instead of updating it
-- for every row it writes (projections.Runner.Rebuild). A rebuild that stops before its
-- end leaves them here, and the next runner on the database creates them again.
CREATE TABLE rebuild_deferred_indexes (
    name      TEXT PRIMARY KEY,
    statement TEXT NOT NULL
);

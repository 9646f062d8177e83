-- Several nodes share a reactor's work by leasing buckets of its partitions
-- (eventstore/follow/leases.go). nodes is each node's heartbeat, which sets everyone's
-- fair share; partition_leases says which node works which bucket until when. Times are
-- Unix milliseconds.
CREATE TABLE nodes (
    name       TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE partition_leases (
    reactor    TEXT    NOT NULL,
    bucket     INTEGER NOT NULL,
    owner      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (reactor, bucket)
);

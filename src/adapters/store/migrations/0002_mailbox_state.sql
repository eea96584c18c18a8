-- Per watched mailbox: where intake stands, for exactly-once and `guichet status`.
CREATE TABLE mailbox_state (
    name            TEXT PRIMARY KEY,
    uid_validity    INTEGER,
    last_uid        INTEGER NOT NULL DEFAULT 0,
    connected       INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER,
    backlog         INTEGER NOT NULL DEFAULT 0,
    processed       INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
) STRICT;

-- The running daemon, so that `guichet status` can tell fresh state from stale.
CREATE TABLE daemon_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    pid          INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER
) STRICT;

-- Each `[[report]]` digest period queued for sending, written in the transaction that queues its
-- mail: the primary key makes a second queuing of the same period fail, so a crash or a restart
-- never sends a digest twice.
CREATE TABLE digests_sent (
    report        TEXT NOT NULL,
    period_start  INTEGER NOT NULL,
    period_end    INTEGER NOT NULL,
    queued_at     INTEGER NOT NULL,
    message       INTEGER REFERENCES messages(id),
    PRIMARY KEY (report, period_start)
) STRICT;

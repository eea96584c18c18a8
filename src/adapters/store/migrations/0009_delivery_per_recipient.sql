-- Each recipient of an outgoing mail has its own outcome: one refused address no longer decides
-- for the others, and a retry goes only to the recipients not yet reached.
CREATE TABLE outbox_recipients (
    outbox       INTEGER NOT NULL REFERENCES outbox(id),
    address      TEXT NOT NULL,
    -- To first, then Cc, as the mail names them.
    position     INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending','delivered','refused','given_up')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- The server's reply (refused) or the last temporary failure (pending, given_up).
    last_error   TEXT,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (outbox, address)
) STRICT, WITHOUT ROWID;
CREATE INDEX outbox_recipients_unreached ON outbox_recipients(status)
    WHERE status IN ('refused','given_up');

-- Mail still queued from an earlier version: every recipient starts pending. Sent and dead rows
-- keep only their row status.
INSERT OR IGNORE INTO outbox_recipients (outbox, address, position, status, updated_at)
    SELECT o.id, r.value, r.key, 'pending', o.created_at
    FROM outbox o, json_each(o.recipients) r
    WHERE o.status = 'pending';

-- The agent whose answer a relay carries, told when a recipient cannot be reached, and the
-- language to tell them in. NULL for every other mail.
ALTER TABLE outbox ADD COLUMN notify_address TEXT;
ALTER TABLE outbox ADD COLUMN notify_name TEXT;
ALTER TABLE outbox ADD COLUMN notify_language TEXT;

-- Shipped migrations are never edited: add a new file instead.
CREATE TABLE tickets (
    number       INTEGER PRIMARY KEY,
    subject      TEXT NOT NULL,
    requester    TEXT NOT NULL,
    requester_name TEXT,
    status       TEXT NOT NULL CHECK (status IN ('new','open','pending','waiting','resolved','closed')),
    priority     TEXT NOT NULL CHECK (priority IN ('low','normal','high','urgent')),
    level        INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),
    queue        TEXT NOT NULL,
    assignee     TEXT,
    language     TEXT NOT NULL,
    merged_into  INTEGER REFERENCES tickets(number),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX tickets_status ON tickets(status, updated_at);

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    ticket       INTEGER REFERENCES tickets(number),
    direction    TEXT NOT NULL CHECK (direction IN ('in','out')),
    visibility   TEXT NOT NULL CHECK (visibility IN ('public','internal')),
    kind         TEXT NOT NULL,
    message_id   TEXT,
    content_hash TEXT NOT NULL,
    from_addr    TEXT,
    to_addrs     TEXT NOT NULL,
    cc_addrs     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    text         TEXT NOT NULL,
    raw          BLOB NOT NULL,
    source       TEXT NOT NULL,
    sent_date    INTEGER,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX messages_inbound_message_id ON messages(message_id)
    WHERE direction = 'in' AND message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_inbound_hash_without_id ON messages(content_hash)
    WHERE direction = 'in' AND message_id IS NULL;
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_ticket ON messages(ticket, id);

CREATE VIRTUAL TABLE messages_fts USING fts5(subject, text, content='messages', content_rowid='id');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
END;

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message      INTEGER NOT NULL REFERENCES messages(id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_message ON attachments(message);

CREATE TABLE participants (
    ticket       INTEGER NOT NULL REFERENCES tickets(number),
    address      TEXT NOT NULL,
    name         TEXT,
    role         TEXT NOT NULL,
    added_at     INTEGER NOT NULL,
    PRIMARY KEY (ticket, address)
) STRICT, WITHOUT ROWID;

-- Append-only audit trail.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    ticket       INTEGER REFERENCES tickets(number),
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    message      INTEGER REFERENCES messages(id)
) STRICT;
CREATE INDEX events_ticket ON events(ticket, id);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    message        INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    envelope_from  TEXT,
    recipients     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending','sent','dead')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error     TEXT,
    created_at     INTEGER NOT NULL,
    sent_at        INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';

-- Automatic mail sent, for the per-address hourly cap.
CREATE TABLE auto_replies (
    address      TEXT NOT NULL,
    at           INTEGER NOT NULL
) STRICT;
CREATE INDEX auto_replies_address ON auto_replies(address, at);

CREATE TABLE quarantine (
    id           INTEGER PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    source       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    path         TEXT NOT NULL
) STRICT;

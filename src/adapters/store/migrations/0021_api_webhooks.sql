-- The JSON API's clients and the webhooks' event queue (issue 14).

-- A client's token is shown once when it is made; only its SHA-256 is kept.
CREATE TABLE api_clients (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    -- The agent whose permissions its writes have (commands, notes, answers); NULL: read only.
    agent       TEXT,
    -- JSON array of the queues it sees and acts on; [] for every queue.
    queues      TEXT NOT NULL,
    can_write   INTEGER NOT NULL CHECK (can_write IN (0, 1)),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

-- Events for webhooks, written by triggers in the transaction that makes them: a new ticket,
-- an assignment, a resolution, an SLA breach. Each webhook reads on from its cursor.
CREATE TABLE webhook_events (
    id      INTEGER PRIMARY KEY,
    event   TEXT NOT NULL,
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    at      INTEGER NOT NULL,
    detail  TEXT NOT NULL
) STRICT;

CREATE TABLE webhook_cursors (
    webhook          TEXT PRIMARY KEY,
    -- The last event delivered, or skipped as not wanted.
    delivered_through INTEGER NOT NULL,
    failures         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
) STRICT;

-- A ticket's first recorded change is its creation (its status, written before its level,
-- priority, queue and assignee): created comes before an assignment made at creation.
CREATE TRIGGER webhook_event_created AFTER INSERT ON ticket_changes
WHEN new.field = 'status'
 AND NOT EXISTS (SELECT 1 FROM ticket_changes WHERE ticket = new.ticket AND rowid <> new.rowid)
BEGIN
    INSERT INTO webhook_events (event, ticket, at, detail)
    VALUES ('ticket.created', new.ticket, new.at, '');
END;

CREATE TRIGGER webhook_event_changed AFTER INSERT ON ticket_changes
WHEN (new.field = 'assignee' AND new.value IS NOT NULL)
  OR (new.field = 'status' AND new.value = 'resolved')
BEGIN
    INSERT INTO webhook_events (event, ticket, at, detail)
    VALUES (CASE new.field WHEN 'assignee' THEN 'ticket.assigned' ELSE 'ticket.resolved' END,
            new.ticket, new.at, coalesce(new.value, ''));
END;

CREATE TRIGGER webhook_event_breach AFTER INSERT ON events
WHEN new.ticket IS NOT NULL AND new.kind = 'sla_breach'
BEGIN
    INSERT INTO webhook_events (event, ticket, at, detail)
    VALUES ('sla.breached', new.ticket, new.at, new.detail);
END;

-- The helpdesk-wide hourly cap counted by the minute: counting the last hour's automatic mail
-- row by row cost a scan of the hour's rows for every mail (quadratic in a busy hour).
CREATE TABLE automatic_mail_minutes (
    minute    INTEGER PRIMARY KEY,
    messages  INTEGER NOT NULL
) STRICT;
CREATE INDEX automatic_mail_message ON automatic_mail(message) WHERE message IS NOT NULL;
INSERT INTO automatic_mail_minutes (minute, messages)
    SELECT at / 60, count(DISTINCT message) FROM automatic_mail
     WHERE message IS NOT NULL AND at > CAST(strftime('%s', 'now') AS INTEGER) - 7200
     GROUP BY at / 60;
CREATE TRIGGER automatic_mail_counted AFTER INSERT ON automatic_mail
WHEN new.message IS NOT NULL
 AND NOT EXISTS (SELECT 1 FROM automatic_mail WHERE message = new.message AND rowid <> new.rowid)
BEGIN
    INSERT INTO automatic_mail_minutes (minute, messages) VALUES (new.at / 60, 1)
        ON CONFLICT (minute) DO UPDATE SET messages = messages + 1;
    DELETE FROM automatic_mail_minutes WHERE minute < new.at / 60 - 180;
END;

-- Merged by the daemon's hourly upkeep down to two segments per level (FTS5 waits for four).
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);
INSERT INTO kb_fts(kb_fts, rank) VALUES ('usermerge', 2);
INSERT INTO kb_ticket_fts(kb_ticket_fts, rank) VALUES ('usermerge', 2);

-- Tickets held as spam: SQLite cannot alter a CHECK constraint, so the table is rebuilt with the
-- same columns and one more allowed status (the migration runs with foreign keys off and checks
-- them before it commits; see `Store::migrate`).
CREATE TABLE tickets_with_spam (
    number       INTEGER PRIMARY KEY,
    subject      TEXT NOT NULL,
    requester    TEXT NOT NULL,
    requester_name TEXT,
    status       TEXT NOT NULL CHECK (status IN ('new','open','pending','waiting','resolved','closed','spam')),
    priority     TEXT NOT NULL CHECK (priority IN ('low','normal','high','urgent')),
    level        INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),
    queue        TEXT NOT NULL,
    assignee     TEXT,
    language     TEXT NOT NULL,
    merged_into  INTEGER REFERENCES tickets(number),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    resolution   TEXT,
    first_response_due INTEGER,
    next_response_due INTEGER,
    resolution_due INTEGER,
    sla_paused_at INTEGER,
    sla_warned_for INTEGER,
    awaiting_since INTEGER
) STRICT;
INSERT INTO tickets_with_spam (number, subject, requester, requester_name, status, priority, level,
        queue, assignee, language, merged_into, created_at, updated_at, resolution,
        first_response_due, next_response_due, resolution_due, sla_paused_at, sla_warned_for,
        awaiting_since)
    SELECT number, subject, requester, requester_name, status, priority, level,
        queue, assignee, language, merged_into, created_at, updated_at, resolution,
        first_response_due, next_response_due, resolution_due, sla_paused_at, sla_warned_for,
        awaiting_since
    FROM tickets;
DROP TABLE tickets;
ALTER TABLE tickets_with_spam RENAME TO tickets;
CREATE INDEX tickets_status ON tickets(status, updated_at);
CREATE INDEX tickets_assignee_open ON tickets(assignee) WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL;

-- Every automatic mail queued, one row per recipient, for the hourly caps. `address` is the
-- recipient and `cause` the sender whose mail caused it, both normalised (lowercase, no
-- +sub-address); `message` tells mails apart for the per-ticket and global counts.
CREATE TABLE automatic_mail (
    address      TEXT NOT NULL,
    cause        TEXT,
    ticket       INTEGER,
    kind         TEXT NOT NULL,
    message      INTEGER REFERENCES messages(id),
    at           INTEGER NOT NULL
) STRICT;
CREATE INDEX automatic_mail_address ON automatic_mail(address, at);
CREATE INDEX automatic_mail_cause ON automatic_mail(cause, at) WHERE cause IS NOT NULL;
CREATE INDEX automatic_mail_ticket ON automatic_mail(ticket, at);
CREATE INDEX automatic_mail_at ON automatic_mail(at);
INSERT INTO automatic_mail (address, cause, ticket, kind, message, at)
    SELECT lower(CASE
               WHEN instr(substr(address, 1, instr(address, '@')), '+') > 0
               THEN substr(address, 1, instr(address, '+') - 1) || substr(address, instr(address, '@'))
               ELSE address END),
           NULL, NULL, 'acknowledgement', NULL, at
    FROM auto_replies;
DROP TABLE auto_replies;

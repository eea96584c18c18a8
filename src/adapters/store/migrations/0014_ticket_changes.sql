-- Each change of a ticket's status, level, priority, queue, assignee or merge, with its time:
-- what reports read to know a ticket's state at any instant (resolutions, reopens, escalations,
-- waiting on the requester). Written by the store with every ticket update from now on.
CREATE TABLE ticket_changes (
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    at      INTEGER NOT NULL,
    field   TEXT NOT NULL CHECK (field IN ('status','level','priority','queue','assignee','merged_into')),
    value   TEXT
) STRICT;
CREATE INDEX ticket_changes_ticket ON ticket_changes(ticket, at);

-- The tickets a period's report reads: those still open (tickets_status) and those changed
-- since the period began.
CREATE INDEX tickets_updated ON tickets(updated_at);

-- Tickets from before this migration: their history starts with their state now, dated at their
-- creation, a done ticket resolved at its last update. Earlier changes are not known.
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, created_at, 'status',
           CASE WHEN status IN ('resolved','closed') THEN 'open' ELSE status END FROM tickets;
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, created_at, 'level', CAST(level AS TEXT) FROM tickets;
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, created_at, 'priority', priority FROM tickets;
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, created_at, 'queue', queue FROM tickets;
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, created_at, 'assignee', assignee FROM tickets;
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, updated_at, 'merged_into', CAST(merged_into AS TEXT) FROM tickets
    WHERE merged_into IS NOT NULL;
INSERT INTO ticket_changes (ticket, at, field, value)
    SELECT number, updated_at, 'status', status FROM tickets WHERE status IN ('resolved','closed');

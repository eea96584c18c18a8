-- The open tickets' index carries what the work list ranks them by, so that ranking reads the
-- index alone and only the page shown reads ticket rows. Before, each page read every open
-- ticket's row by number: 48-57 ms at its p50 for 17,570 open tickets among a million
-- (bench/README.md, "the dashboard's pages"), rows spread over a 10 GB file. It leads with the
-- assignee as the index it replaces did (the agents' loads group by it), and the report's and
-- the work list's `status NOT IN ('resolved', 'closed') AND merged_into IS NULL` still selects it.
DROP INDEX tickets_assignee_open;
-- `status` and `merged_into` are in it too, though its condition settles them: SQLite reads the
-- columns a query's WHERE names from the index only when the index holds them.
CREATE INDEX tickets_open ON tickets(assignee, queue, level, priority, awaiting_since,
    first_response_due, next_response_due, resolution_due, sla_paused_at, sla_warned_for,
    status, merged_into)
    WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL;

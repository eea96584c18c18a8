-- Agents as the daemon sees them at run time: away or not (#away / #back), and when they were
-- last given a ticket, as an increasing sequence number (round-robin assignment).
CREATE TABLE agent_state (
    name             TEXT PRIMARY KEY,
    away             INTEGER,
    last_assigned INTEGER
) STRICT;
CREATE INDEX tickets_assignee_open ON tickets(assignee) WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL;

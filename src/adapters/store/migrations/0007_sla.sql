-- Service-level deadlines, moved by what happens on the ticket and by the scheduler.
ALTER TABLE tickets ADD COLUMN first_response_due INTEGER;
ALTER TABLE tickets ADD COLUMN next_response_due INTEGER;
ALTER TABLE tickets ADD COLUMN resolution_due INTEGER;
ALTER TABLE tickets ADD COLUMN sla_paused_at INTEGER;
ALTER TABLE tickets ADD COLUMN sla_warned_for INTEGER;
-- Since when the requester has waited for an answer (their last mail without an agent's reply).
ALTER TABLE tickets ADD COLUMN awaiting_since INTEGER;
-- No index on the deadlines: the scheduler reads open tickets (tickets_status), and every ticket
-- write would pay for one.

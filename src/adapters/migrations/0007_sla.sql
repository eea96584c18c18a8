-- Service-level deadlines, moved by what happens on the ticket and by the scheduler.
ALTER TABLE tickets ADD COLUMN first_response_due INTEGER;
ALTER TABLE tickets ADD COLUMN next_response_due INTEGER;
ALTER TABLE tickets ADD COLUMN resolution_due INTEGER;
ALTER TABLE tickets ADD COLUMN sla_paused_at INTEGER;
ALTER TABLE tickets ADD COLUMN sla_warned_for INTEGER;
-- Since when the requester has waited for an answer (their last mail without an agent's reply).
ALTER TABLE tickets ADD COLUMN awaiting_since INTEGER;
CREATE INDEX tickets_sla_due ON tickets(first_response_due, next_response_due, resolution_due)
    WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL;

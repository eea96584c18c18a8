-- Indexes for reports at scale (bench/report_scale.rs, a million tickets); no table changes.
-- Agents' relayed answers by ticket, with their time: the report's first responses and answers
-- per agent read this index alone instead of each message row (whose raw mail, stored before
-- `created_at`, makes that column the costliest to reach). Only relays are in it, so intake
-- pays for it on an agent's answer and on nothing else.
CREATE INDEX messages_relays ON messages(ticket, created_at) WHERE direction = 'out' AND kind = 'relay';
-- A ticket's changes with their values, read from the index alone: a month's report reads the
-- whole history of some 60,000 tickets (about eight changes each). It serves every query the
-- index it replaces served (its columns begin with the same two), so that one goes.
CREATE INDEX ticket_changes_history ON ticket_changes(ticket, at, field, value);
DROP INDEX ticket_changes_ticket;

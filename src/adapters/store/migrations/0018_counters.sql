-- Running totals for `/metrics`, each bumped in the transaction that does what it counts, so a
-- scrape reads a handful of rows instead of scanning messages, outbox or events, and the totals
-- survive restarts and cover mail that `guichet ingest` stores in its own process.
--   mails_in           source kind (imap, pipe, file) / outcome (new_ticket, follow_up, duplicate,
--                      quarantined, spam, knowledge)
--   mails_out          kind (acknowledgement, relay, digest, ...) / result (queued, sent, dead)
--   sla_alarms         kind (sla_warning, sla_breach)
--   knowledge_answers  relation (suggested, answered, solved)
-- Totals start at zero when this migration runs: earlier history is not counted.
CREATE TABLE counters (
    counter      TEXT NOT NULL,
    label        TEXT NOT NULL,
    sublabel     TEXT NOT NULL DEFAULT '',
    total        INTEGER NOT NULL,
    PRIMARY KEY (counter, label, sublabel)
) STRICT, WITHOUT ROWID;

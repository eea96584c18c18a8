//! What `/metrics` reads: the running totals of migration 0018 (bumped in the transaction that
//! does what they count) and gauges counted over small, indexed sets (pending outbox rows, open
//! tickets, mailboxes). Nothing here scans messages, events or the whole outbox.

use rusqlite::params;

use super::{MailboxStateRow, Reader, StoreResult, WriteTx};

/// The running totals `counters` keeps (its `counter` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    /// Label: the source's kind (`imap`, `pipe`, `file`); sublabel: the outcome.
    MailsIn,
    /// Label: the outgoing kind; sublabel: `queued`, `sent` or `dead`.
    MailsOut,
    /// Label: `sla_warning` or `sla_breach`.
    SlaAlarms,
    /// Label: `suggested`, `answered` or `solved`.
    KnowledgeAnswers,
}

impl Counter {
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::MailsIn => "mails_in",
            Counter::MailsOut => "mails_out",
            Counter::SlaAlarms => "sla_alarms",
            Counter::KnowledgeAnswers => "knowledge_answers",
        }
    }

    fn parse(text: &str) -> Option<Counter> {
        [
            Counter::MailsIn,
            Counter::MailsOut,
            Counter::SlaAlarms,
            Counter::KnowledgeAnswers,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// One running total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    pub counter: Counter,
    pub label: String,
    pub sublabel: String,
    pub total: u64,
}

/// Open tickets (not resolved, closed or merged) of one queue, level and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTickets {
    pub queue: String,
    pub level: u8,
    pub status: String,
    pub count: u64,
    /// Of them, how many have a service-level deadline past and their clock running.
    pub overdue: u64,
}

/// Everything a scrape shows that the store holds.
#[derive(Debug, Clone, Default)]
pub struct MetricsRows {
    pub counters: Vec<CounterRow>,
    /// Pending outbox rows never tried yet, and those waiting for a retry.
    pub outbox_pending: u64,
    pub outbox_retrying: u64,
    pub quarantined: u64,
    pub open_tickets: Vec<OpenTickets>,
    pub mailboxes: Vec<MailboxStateRow>,
}

/// Pending outbox rows, never tried and tried: the partial index `outbox_due` holds them alone.
const OUTBOX_PENDING: &str =
    "SELECT attempts > 0, count(*) FROM outbox WHERE status = 'pending' GROUP BY attempts > 0";

/// Open tickets by queue, level and status, and how many have a deadline past at `?1`:
/// `tickets_status` narrows this to the open tickets.
const OPEN_TICKETS: &str = "SELECT queue, level, status, count(*),
        sum(sla_paused_at IS NULL AND min(coalesce(first_response_due, ?1 + 1),
            coalesce(next_response_due, ?1 + 1), coalesce(resolution_due, ?1 + 1)) <= ?1)
     FROM tickets
     WHERE status IN ('new', 'open', 'pending', 'waiting', 'spam') AND merged_into IS NULL
     GROUP BY queue, level, status ORDER BY queue, level, status";

impl WriteTx<'_> {
    /// Adds `by` to a running total, in the caller's transaction.
    pub fn add_to_counter(
        &self,
        counter: Counter,
        label: &str,
        sublabel: &str,
        by: u64,
    ) -> StoreResult<()> {
        if by == 0 {
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "INSERT INTO counters (counter, label, sublabel, total) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (counter, label, sublabel) DO UPDATE SET total = total + excluded.total",
            )?
            .execute(params![counter.as_str(), label, sublabel, by as i64])?;
        Ok(())
    }
}

impl Reader<'_> {
    /// The store's side of a scrape. `now` decides which deadlines are past.
    pub fn metrics_rows(&self, now: i64) -> StoreResult<MetricsRows> {
        let mut rows = MetricsRows::default();
        let mut statement = self
            .conn
            .prepare_cached("SELECT counter, label, sublabel, total FROM counters")?;
        let counters = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        for counter in counters {
            let (counter, label, sublabel, total) = counter?;
            // A counter a newer Guichet wrote: not ours to show.
            if let Some(counter) = Counter::parse(&counter) {
                rows.counters.push(CounterRow {
                    counter,
                    label,
                    sublabel,
                    total: total.max(0) as u64,
                });
            }
        }
        let mut statement = self.conn.prepare_cached(OUTBOX_PENDING)?;
        let pending = statement.query_map([], |row| {
            Ok((row.get::<_, bool>(0)?, row.get::<_, i64>(1)?))
        })?;
        for counted in pending {
            match counted? {
                (true, count) => rows.outbox_retrying = count as u64,
                (false, count) => rows.outbox_pending = count as u64,
            }
        }
        rows.quarantined = self.quarantine_count()?;
        let mut statement = self.conn.prepare_cached(OPEN_TICKETS)?;
        let open = statement.query_map([now], |row| {
            Ok(OpenTickets {
                queue: row.get(0)?,
                level: row.get::<_, i64>(1)? as u8,
                status: row.get(2)?,
                count: row.get::<_, i64>(3)? as u64,
                overdue: row.get::<_, i64>(4)? as u64,
            })
        })?;
        rows.open_tickets = open.collect::<Result<_, _>>()?;
        rows.mailboxes = self.mailbox_states()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    /// A scrape (and a ticket's page) stays cheap however much the store holds: SQLite plans
    /// each query on an index that holds the rows it reads (the pending outbox, the open
    /// tickets, the tickets merged into one), never a scan of a whole table.
    #[test]
    fn scrape_queries_read_indexes_not_whole_tables() {
        let store = Store::open_memory().unwrap();
        for query in [
            OUTBOX_PENDING,
            OPEN_TICKETS,
            super::super::reads::TICKET_EVENTS,
        ] {
            let mut statement = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .unwrap();
            for index in 1..=statement.parameter_count() {
                statement.raw_bind_parameter(index, 0).unwrap();
            }
            let mut rows = statement.raw_query();
            let mut steps = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                steps.push(row.get::<_, String>(3).unwrap());
            }
            let plan = steps.join("; ");
            assert!(plan.contains("INDEX"), "{query}: {plan}");
            assert!(
                !steps
                    .iter()
                    .any(|s| s.starts_with("SCAN") && !s.contains("INDEX")),
                "{query}: {plan}"
            );
        }
    }

    #[test]
    fn totals_add_up_per_label_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.sqlite3");
        {
            let mut store = Store::open(&path).unwrap();
            let tx = store.write().unwrap();
            tx.add_to_counter(Counter::MailsIn, "imap", "new_ticket", 2)
                .unwrap();
            tx.add_to_counter(Counter::MailsIn, "imap", "new_ticket", 1)
                .unwrap();
            tx.add_to_counter(Counter::MailsIn, "pipe", "duplicate", 1)
                .unwrap();
            tx.add_to_counter(Counter::SlaAlarms, "sla_breach", "", 0)
                .unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let mut counters = store.read().metrics_rows(0).unwrap().counters;
        counters.sort_by(|a, b| a.label.cmp(&b.label));
        assert_eq!(
            counters,
            vec![
                CounterRow {
                    counter: Counter::MailsIn,
                    label: "imap".into(),
                    sublabel: "new_ticket".into(),
                    total: 3
                },
                CounterRow {
                    counter: Counter::MailsIn,
                    label: "pipe".into(),
                    sublabel: "duplicate".into(),
                    total: 1
                },
            ]
        );
    }

    #[test]
    fn a_rolled_back_transaction_counts_nothing() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        tx.add_to_counter(Counter::MailsOut, "relay", "queued", 1)
            .unwrap();
        drop(tx);
        assert!(store.read().metrics_rows(0).unwrap().counters.is_empty());
    }

    #[test]
    fn open_tickets_and_overdue_ones_by_queue_level_and_status() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        for (number, queue, status, due, paused) in [
            (1, "general", "open", Some(50), None),
            (2, "general", "open", Some(500), None),
            (3, "general", "open", Some(50), Some(40)),
            (4, "billing", "new", None, None),
            (5, "billing", "resolved", Some(50), None),
        ] {
            tx.execute(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                        language, created_at, updated_at, resolution_due, sla_paused_at)
                 VALUES (?1, 's', 'r@example.test', ?3, 'normal', 1, ?2, 'en', 0, 0, ?4, ?5)",
                params![number, queue, status, due, paused],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let open = store.read().metrics_rows(100).unwrap().open_tickets;
        assert_eq!(
            open,
            vec![
                OpenTickets {
                    queue: "billing".into(),
                    level: 1,
                    status: "new".into(),
                    count: 1,
                    overdue: 0
                },
                OpenTickets {
                    queue: "general".into(),
                    level: 1,
                    status: "open".into(),
                    count: 3,
                    overdue: 1
                },
            ]
        );
    }
}

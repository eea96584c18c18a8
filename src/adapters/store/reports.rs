//! What `guichet report` reads: the history of every ticket a period can see, for
//! `core::report`. A period sees tickets created before its end that are still open or changed
//! since its start (a ticket done and untouched before the period adds nothing to it).

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::{CapContext, Reader, RenderedMail, StoreResult, WriteTx};
use crate::core::report::{Answer, Change, Period, TicketHistory};
use crate::core::ticket::{Level, Priority, Status};

impl Reader<'_> {
    /// Each ticket `period` can see, with its changes, its agents' relayed answers (the agent's
    /// address, from the outbox row that would tell them of a failure), its custom fields and
    /// its `#solved`. Read through indexes: open tickets by status, others by last update, then
    /// per ticket by number.
    pub fn report_histories(&self, period: Period) -> StoreResult<Vec<TicketHistory>> {
        let mut tickets = self.conn.prepare_cached(
            "SELECT number, requester, created_at FROM tickets
              WHERE status NOT IN ('resolved', 'closed') AND created_at < ?2
             UNION
             SELECT number, requester, created_at FROM tickets
              WHERE updated_at >= ?1 AND created_at < ?2
             ORDER BY number",
        )?;
        let rows = tickets
            .query_map([period.from, period.to], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut changes = self.conn.prepare_cached(
            "SELECT at, field, value FROM ticket_changes WHERE ticket = ?1 ORDER BY at, rowid",
        )?;
        let mut answers = self.conn.prepare_cached(
            "SELECT m.created_at, o.notify_address FROM messages m
               LEFT JOIN outbox o ON o.message = m.id
              WHERE m.ticket = ?1 AND m.direction = 'out' AND m.kind = 'relay' ORDER BY m.id",
        )?;
        let mut fields = self
            .conn
            .prepare_cached("SELECT name, value FROM ticket_fields WHERE ticket = ?1")?;
        let mut solved = self.conn.prepare_cached(
            "SELECT min(at) FROM kb_links WHERE ticket = ?1 AND relation = 'solved'",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (number, requester, created_at) in rows {
            let changes = changes
                .query_map([number], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter_map(|(at, field, value)| Some((at, change(&field, value)?)))
                .collect();
            let answers = answers
                .query_map([number], |row| {
                    Ok(Answer {
                        at: row.get(0)?,
                        agent: row
                            .get::<_, Option<String>>(1)?
                            .unwrap_or_else(|| "(unknown)".into()),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let fields = fields
                .query_map([number], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<BTreeMap<String, String>, _>>()?;
            let solved_at = solved.query_row([number], |row| row.get(0))?;
            out.push(TicketHistory {
                number: number as u64,
                created_at,
                requester,
                fields,
                changes,
                answers,
                solved_at,
            });
        }
        Ok(out)
    }
}

/// A stored change; a value this binary does not know is skipped, not fatal.
fn change(field: &str, value: Option<String>) -> Option<Change> {
    Some(match field {
        "status" => Change::Status(value?.parse::<Status>().ok()?),
        "level" => Change::Level(Level::new(value?.parse().ok()?)?),
        "priority" => Change::Priority(value?.parse::<Priority>().ok()?),
        "queue" => Change::Queue(value?),
        "assignee" => Change::Assignee(value),
        "merged_into" => Change::MergedInto(value?.parse().ok()?),
        _ => return None,
    })
}

impl Reader<'_> {
    /// The start of the latest period of digest `report` already queued, if any.
    pub fn last_digest(&self, report: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT max(period_start) FROM digests_sent WHERE report = ?1")?
            .query_row([report], |row| row.get::<_, Option<i64>>(0))
            .optional()?
            .flatten())
    }

    /// Every digest period queued, as (report, period start, period end), oldest first.
    pub fn digests_sent(&self) -> StoreResult<Vec<(String, i64, i64)>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT report, period_start, period_end FROM digests_sent ORDER BY period_start, report",
        )?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

impl WriteTx<'_> {
    /// Records that digest `report` for `period` is sent and queues its mail, in this
    /// transaction. A period already recorded is refused by the primary key: the caller's
    /// transaction fails and nothing is queued twice.
    pub fn record_digest(
        &self,
        report: &str,
        period: Period,
        now: i64,
        mail: &RenderedMail<'_>,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO digests_sent (report, period_start, period_end, queued_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![report, period.from, period.to, now])?;
        self.queue_outgoing(mail, CapContext::default(), now)?;
        self.tx
            .prepare_cached(
                "UPDATE digests_sent SET message =
                    (SELECT max(id) FROM messages WHERE direction = 'out' AND message_id = ?3)
                  WHERE report = ?1 AND period_start = ?2",
            )?
            .execute(params![report, period.from, mail.mail.message_id])?;
        Ok(())
    }

    /// Records a digest period as sent without queuing a mail (for tests and for marking a
    /// period as already handled).
    pub fn mark_digest_sent(&self, report: &str, period: Period, now: i64) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO digests_sent (report, period_start, period_end, queued_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![report, period.from, period.to, now])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::{Store, MIGRATIONS};
    use rusqlite::Connection;

    /// Tickets from before migration 0014 get a history: their state at creation, a done one
    /// resolved at its last update, a merged one merged then; a period sees the open ones and
    /// those changed since it began.
    #[test]
    fn migration_0014_gives_old_tickets_a_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for migration in &MIGRATIONS[..13] {
                tx.execute_batch(migration).unwrap();
            }
            tx.pragma_update(None, "user_version", 13).unwrap();
            tx.execute_batch(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                     language, assignee, created_at, updated_at)
                 VALUES (1, 'Printer', 'carla@example.test', 'open', 'high', 2, 'hardware', 'fr',
                     'bob', 100, 200);
                 INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                     language, created_at, updated_at)
                 VALUES (2, 'VPN', 'dan@example.test', 'resolved', 'normal', 1, 'it', 'en', 100, 300);
                 INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                     language, merged_into, created_at, updated_at)
                 VALUES (3, 'VPN again', 'dan@example.test', 'closed', 'normal', 1, 'it', 'en', 2,
                     110, 150);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let all = store
            .read()
            .report_histories(Period { from: 0, to: 1000 })
            .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[0].changes,
            vec![
                (100, Change::Status(Status::Open)),
                (100, Change::Level(Level::new(2).unwrap())),
                (100, Change::Priority(Priority::High)),
                (100, Change::Queue("hardware".into())),
                (100, Change::Assignee(Some("bob".into()))),
            ]
        );
        assert_eq!(
            all[1].changes.last(),
            Some(&(300, Change::Status(Status::Resolved)))
        );
        assert!(all[2].changes.contains(&(150, Change::MergedInto(2))));
        // From 250 on: #1 is open, #2 changed at 300; #3 was merged and closed at 150.
        let later = store
            .read()
            .report_histories(Period {
                from: 250,
                to: 1000,
            })
            .unwrap();
        let numbers: Vec<u64> = later.iter().map(|t| t.number).collect();
        assert_eq!(numbers, [1, 2]);
    }
}

//! What `guichet report` reads: the history of every ticket a period can see, for
//! `core::report`. A period sees tickets created before its end that are still open or changed
//! since its start (a ticket done and untouched before the period adds nothing to it).

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::{CapContext, Reader, RenderedMail, StoreError, StoreResult, WriteTx};
use crate::core::report::{Answer, Change, Period, TicketHistory};
use crate::core::ticket::{Level, Priority, Status};

impl Reader<'_> {
    /// Each ticket `period` can see, with its changes, its agents' relayed answers (the agent's
    /// address, from the outbox row that would tell them of a failure), its custom fields and
    /// its `#solved`. Five queries whatever the number of tickets: the tickets first, then each
    /// kind of row for all of them at once (their numbers passed as one JSON array), in order
    /// of ticket, matched to its history here.
    pub fn report_histories(&self, period: Period) -> StoreResult<Vec<TicketHistory>> {
        // The numbers come from two indexes alone (open tickets, tickets_open: a merged
        // ticket is closed, so `merged_into IS NULL` leaves none out; changed since the start,
        // tickets_updated), then each row is read once by number. Asked as one query with an
        // ORDER BY, SQLite scanned the whole table twice instead.
        let mut out = self
            .conn
            .prepare_cached(
                "SELECT number, requester, created_at FROM tickets
                  WHERE number IN (
                        SELECT number FROM tickets
                         WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL
                        UNION ALL
                        SELECT number FROM tickets WHERE updated_at >= ?1)
                    AND created_at < ?2
                  ORDER BY number",
            )?
            .query_map([period.from, period.to], |row| {
                Ok(TicketHistory {
                    number: row.get::<_, i64>(0)? as u64,
                    requester: row.get(1)?,
                    created_at: row.get(2)?,
                    fields: BTreeMap::new(),
                    changes: Vec::new(),
                    answers: Vec::new(),
                    solved_at: None,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let numbers = serde_json::to_string(&out.iter().map(|t| t.number).collect::<Vec<_>>())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let position = |number: i64| {
            out.binary_search_by_key(&(number as u64), |t| t.number)
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, number))
        };
        // Read from the index alone (ticket_changes_history, migration 0019); changes at one
        // instant keep the order they were written in (rowid) through the stable sort below.
        let mut changes = Vec::new();
        self.conn
            .prepare_cached(
                "SELECT ticket, at, field, value, rowid FROM ticket_changes
                  WHERE ticket IN (SELECT value FROM json_each(?1)) ORDER BY ticket",
            )?
            .query_map([&numbers], |row| {
                Ok((
                    position(row.get(0)?)?,
                    (row.get::<_, i64>(1)?, row.get::<_, i64>(4)?),
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })?
            .try_for_each(|row| {
                changes.push(row?);
                Ok::<_, rusqlite::Error>(())
            })?;
        let mut answers = Vec::new();
        self.conn
            .prepare_cached(
                "SELECT m.ticket, m.created_at, o.notify_address FROM messages m
                   LEFT JOIN outbox o ON o.message = m.id
                  WHERE m.ticket IN (SELECT value FROM json_each(?1))
                    AND m.direction = 'out' AND m.kind = 'relay'
                  ORDER BY m.ticket, m.id",
            )?
            .query_map([&numbers], |row| {
                Ok((
                    position(row.get(0)?)?,
                    Answer {
                        at: row.get(1)?,
                        agent: row
                            .get::<_, Option<String>>(2)?
                            .unwrap_or_else(|| "(unknown)".into()),
                    },
                ))
            })?
            .try_for_each(|row| {
                answers.push(row?);
                Ok::<_, rusqlite::Error>(())
            })?;
        let mut fields = Vec::new();
        self.conn
            .prepare_cached(
                "SELECT ticket, name, value FROM ticket_fields
                  WHERE ticket IN (SELECT value FROM json_each(?1))",
            )?
            .query_map([&numbers], |row| {
                Ok((position(row.get(0)?)?, row.get(1)?, row.get(2)?))
            })?
            .try_for_each(|row| {
                fields.push(row?);
                Ok::<_, rusqlite::Error>(())
            })?;
        let mut solved = Vec::new();
        self.conn
            .prepare_cached(
                "SELECT ticket, min(at) FROM kb_links
                  WHERE ticket IN (SELECT value FROM json_each(?1)) AND relation = 'solved'
                  GROUP BY ticket",
            )?
            .query_map([&numbers], |row| Ok((position(row.get(0)?)?, row.get(1)?)))?
            .try_for_each(|row| {
                solved.push(row?);
                Ok::<_, rusqlite::Error>(())
            })?;
        changes.sort_by_key(|(at_position, order, _, _)| (*at_position, *order));
        for (at_position, (at, _), field, value) in changes {
            if let Some(change) = change(&field, value) {
                out[at_position].changes.push((at, change));
            }
        }
        for (at_position, answer) in answers {
            out[at_position].answers.push(answer);
        }
        for (at_position, name, value) in fields {
            out[at_position].fields.insert(name, value);
        }
        for (at_position, at) in solved {
            out[at_position].solved_at = Some(at);
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
    use crate::adapters::store::Store;

    /// Tickets from before migration 0014 get a history: their state at creation, a done one
    /// resolved at its last update, a merged one merged then; a period sees the open ones and
    /// those changed since it began.
    #[test]
    fn migration_0014_gives_old_tickets_a_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.sqlite3");
        Store::older_database(
            &path,
            13,
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
        );
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

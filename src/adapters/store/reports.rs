//! What `guichet report` reads: the history of every ticket a period can see, for
//! `core::report`. A period sees tickets created before its end that are still open or changed
//! since its start (a ticket done and untouched before the period adds nothing to it).

use std::collections::BTreeMap;

use super::{Reader, StoreResult};
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

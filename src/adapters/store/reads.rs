//! Reads: what threading, intake, the clock, the CLI and the caps ask of the store.

use rusqlite::{params, OptionalExtension};

use super::*;

/// A ticket's audit trail, with the trails of the tickets merged into it (on the partial index
/// of migration 0020: without it every ticket is read).
pub(super) const TICKET_EVENTS: &str = "SELECT at, actor, kind, detail, message FROM events
     WHERE ticket = ?1 OR ticket IN (SELECT number FROM tickets WHERE merged_into = ?1)
     ORDER BY id";

/// The open tickets with what ranks them, from the open tickets' index (migration 0025).
pub(super) const WORK_RANKING: &str =
    "SELECT number, priority, level, queue, assignee, awaiting_since,
        first_response_due, next_response_due, resolution_due, sla_paused_at, sla_warned_for
     FROM tickets INDEXED BY tickets_open
     WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL
       AND (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR level = ?2)";

impl Reader<'_> {
    /// The ticket a number leads to, following merges; `None` when there is no such ticket.
    pub fn resolve_ticket(&self, number: TicketNumber) -> StoreResult<Option<TicketNumber>> {
        resolve_ticket(self.conn, number)
    }

    pub fn ticket_for_message_id(&self, message_id: &str) -> StoreResult<Option<TicketNumber>> {
        ticket_for_message_id(self.conn, message_id)
    }

    /// The ticket an already stored copy of this mail went to: same Message-ID, or the same content
    /// when the mail has no Message-ID. `Some(None)` is a stored copy that made no ticket.
    pub fn duplicate_of(
        &self,
        message_id: Option<&str>,
        content_hash: &str,
    ) -> StoreResult<Option<Option<TicketNumber>>> {
        let found: Option<Option<i64>> = match message_id {
            Some(id) => self
                .conn
                .prepare_cached("SELECT ticket FROM messages WHERE direction = 'in' AND message_id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?,
            None => self
                .conn
                .prepare_cached(
                    "SELECT ticket FROM messages WHERE direction = 'in' AND message_id IS NULL AND content_hash = ?1",
                )?
                .query_row([content_hash], |row| row.get(0))
                .optional()?,
        };
        let Some(ticket) = found else {
            return Ok(None);
        };
        match ticket {
            Some(n) => Ok(Some(resolve_ticket(self.conn, TicketNumber(n as u64))?)),
            None => Ok(Some(None)),
        }
    }

    /// Automatic replies to an address since then, counted by its normalised form (`cap_key`).
    pub fn auto_replies_since(&self, address: &str, since: i64) -> StoreResult<u32> {
        let count: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM automatic_mail
                 WHERE address = ?1 AND at > ?2 AND kind IN (?3, ?4)",
            )?
            .query_row(
                params![
                    cap_key(address),
                    since,
                    Counted::REPLY_KINDS[0].as_str(),
                    Counted::REPLY_KINDS[1].as_str()
                ],
                |row| row.get(0),
            )?;
        Ok(count as u32)
    }

    /// What the caps need to judge a plan: replies to each of `addresses`, notices caused by
    /// `cause`, mails about `ticket` and all automatic mails since then.
    pub fn automatic_mail_since(
        &self,
        addresses: &[String],
        cause: Option<&str>,
        ticket: TicketNumber,
        since: i64,
    ) -> StoreResult<SentLastHour> {
        let mut sent = SentLastHour::default();
        for address in addresses {
            sent.replies_to
                .insert(address.clone(), self.auto_replies_since(address, since)?);
        }
        if let Some(cause) = cause {
            let count: i64 = self
                .conn
                .prepare_cached(
                    "SELECT count(DISTINCT message) FROM automatic_mail
                     WHERE cause = ?1 AND at > ?2 AND kind IN (?3, ?4)",
                )?
                .query_row(
                    params![
                        cause,
                        since,
                        Counted::NOTICE_KINDS[0].as_str(),
                        Counted::NOTICE_KINDS[1].as_str()
                    ],
                    |row| row.get(0),
                )?;
            sent.notices_caused_by
                .insert(cause.to_string(), count as u32);
        }
        let on_ticket: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(DISTINCT message) FROM automatic_mail WHERE ticket = ?1 AND at > ?2",
            )?
            .query_row(params![ticket.0 as i64, since], |row| row.get(0))?;
        // By the minute (migration 0021): the minute `since` falls in counts whole, so the cap
        // may hold back up to a minute early, never late.
        let overall: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(messages), 0) FROM automatic_mail_minutes WHERE minute >= ?1",
            )?
            .query_row(params![since.div_euclid(60)], |row| row.get(0))?;
        sent.on_ticket = on_ticket as u32;
        sent.overall = overall as u32;
        Ok(sent)
    }

    /// The texts of the latest `limit` mails Guichet sent on a ticket, newest first (a merge
    /// moves the merged ticket's mail here too).
    pub fn sent_texts(&self, ticket: TicketNumber, limit: usize) -> StoreResult<Vec<String>> {
        let texts = self
            .conn
            .prepare_cached(
                "SELECT text FROM messages WHERE ticket = ?1 AND direction = 'out'
                 ORDER BY id DESC LIMIT ?2",
            )?
            .query_map(params![ticket.0 as i64, limit as i64], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(texts)
    }

    pub fn list_tickets(&self, status: Option<Status>) -> StoreResult<Vec<TicketRow>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT number, subject, requester, requester_name, status, priority, level, queue,
                    assignee, language, merged_into, created_at, updated_at
             FROM tickets WHERE (?1 IS NULL OR status = ?1) ORDER BY number",
        )?;
        let rows = statement
            .query_map([status.map(Status::as_str)], ticket_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A stored message's attachments, in the order they came.
    pub fn message_attachments(&self, message: i64) -> StoreResult<Vec<AttachmentRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT filename, content_type, size, sha256 FROM attachments
                  WHERE message = ?1 ORDER BY id",
            )?
            .query_map([message], |row| {
                Ok(AttachmentRow {
                    filename: row.get(0)?,
                    content_type: row.get(1)?,
                    size: row.get::<_, i64>(2)? as u64,
                    sha256: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    pub fn ticket(&self, number: TicketNumber) -> StoreResult<Option<TicketDetail>> {
        let ticket = self
            .conn
            .query_row(
                "SELECT number, subject, requester, requester_name, status, priority, level, queue,
                        assignee, language, merged_into, created_at, updated_at
                 FROM tickets WHERE number = ?1",
                [number.0 as i64],
                ticket_row,
            )
            .optional()?;
        let Some(ticket) = ticket else {
            return Ok(None);
        };
        let n = number.0 as i64;
        let participants = self
            .conn
            .prepare("SELECT address, name, role FROM participants WHERE ticket = ?1 ORDER BY added_at, address")?
            .query_map([n], |row| {
                Ok(ParticipantRow {
                    address: row.get(0)?,
                    name: row.get(1)?,
                    role: row.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut messages = self
            .conn
            .prepare(
                "SELECT m.id, m.direction,
                        CASE WHEN m.stranger = 1 THEN 'stranger' ELSE m.visibility END,
                        m.kind, m.message_id, m.from_addr, m.to_addrs,
                        m.subject, m.text, m.source, m.created_at, o.status, o.last_error
                 FROM messages m LEFT JOIN outbox o ON o.message = m.id
                 WHERE m.ticket = ?1 ORDER BY m.id",
            )?
            .query_map([n], |row| {
                let to: String = row.get(6)?;
                let status: Option<String> = row.get(11)?;
                let error: Option<String> = row.get(12)?;
                Ok(MessageRow {
                    id: row.get(0)?,
                    direction: row.get(1)?,
                    visibility: row.get(2)?,
                    kind: row.get(3)?,
                    message_id: row.get(4)?,
                    from: row.get(5)?,
                    to: serde_json::from_str(&to).unwrap_or_default(),
                    subject: row.get(7)?,
                    text: row.get(8)?,
                    source: row.get(9)?,
                    created_at: row.get(10)?,
                    attachments: Vec::new(),
                    // A sent mail keeps an error only when some of its recipients were not reached.
                    delivery: status.map(|s| match error {
                        Some(e) => format!("{s}: {e}"),
                        None => s,
                    }),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for message in &mut messages {
            message.attachments = self.message_attachments(message.id)?;
        }
        let events = self
            .conn
            .prepare(TICKET_EVENTS)?
            .query_map([n], |row| {
                Ok(EventRow {
                    at: row.get(0)?,
                    actor: row.get(1)?,
                    kind: row.get(2)?,
                    detail: row.get(3)?,
                    message: row.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let tags = self
            .conn
            .prepare("SELECT tag FROM ticket_tags WHERE ticket = ?1 ORDER BY tag")?
            .query_map([n], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let fields = self
            .conn
            .prepare("SELECT name, value FROM ticket_fields WHERE ticket = ?1")?
            .query_map([n], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(Some(TicketDetail {
            ticket,
            tags,
            fields,
            participants,
            messages,
            events,
        }))
    }

    pub fn list_quarantine(&self) -> StoreResult<Vec<QuarantineRow>> {
        let rows = self
            .conn
            .prepare(
                "SELECT id, received_at, source, reason, size, path FROM quarantine ORDER BY id",
            )?
            .query_map([], |row| {
                Ok(QuarantineRow {
                    id: row.get(0)?,
                    received_at: row.get(1)?,
                    source: row.get(2)?,
                    reason: row.get(3)?,
                    size: row.get::<_, i64>(4)? as u64,
                    path: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn mailbox_state(&self, name: &str) -> StoreResult<Option<MailboxStateRow>> {
        Ok(self
            .mailbox_states()?
            .into_iter()
            .find(|row| row.name == name))
    }

    pub fn mailbox_states(&self) -> StoreResult<Vec<MailboxStateRow>> {
        let rows = self
            .conn
            .prepare(
                "SELECT name, uid_validity, last_uid, connected, last_success_at, last_error, last_error_at,
                        backlog, processed, updated_at FROM mailbox_state ORDER BY name",
            )?
            .query_map([], |row| {
                Ok(MailboxStateRow {
                    name: row.get(0)?,
                    uid_validity: row.get::<_, Option<i64>>(1)?.map(|v| v as u32),
                    last_uid: row.get::<_, i64>(2)? as u32,
                    connected: row.get(3)?,
                    last_success_at: row.get(4)?,
                    last_error: row.get(5)?,
                    last_error_at: row.get(6)?,
                    backlog: row.get::<_, i64>(7)? as u64,
                    processed: row.get::<_, i64>(8)? as u64,
                    updated_at: row.get(9)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn daemon_state(&self) -> StoreResult<Option<DaemonStateRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT pid, started_at, heartbeat_at, stopped_at FROM daemon_state WHERE id = 1",
                [],
                |row| {
                    Ok(DaemonStateRow {
                        pid: row.get::<_, i64>(0)? as u32,
                        started_at: row.get(1)?,
                        heartbeat_at: row.get(2)?,
                        stopped_at: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Outgoing mail that could not be rendered, and the latest such event.
    pub fn unsendable(&self) -> StoreResult<(u64, Option<EventRow>)> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM events WHERE kind = 'mail_not_rendered'",
            [],
            |row| row.get(0),
        )?;
        let latest = self
            .conn
            .query_row(
                "SELECT at, actor, kind, detail, message, ticket FROM events
                 WHERE kind = 'mail_not_rendered' ORDER BY id DESC LIMIT 1",
                [],
                |row| {
                    Ok(EventRow {
                        at: row.get(0)?,
                        actor: row.get(1)?,
                        kind: row.get(2)?,
                        detail: format!(
                            "ticket #{}: {}",
                            row.get::<_, i64>(5)?,
                            row.get::<_, String>(3)?
                        ),
                        message: row.get(4)?,
                    })
                },
            )
            .optional()?;
        Ok((count as u64, latest))
    }

    pub fn quarantine_count(&self) -> StoreResult<u64> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM quarantine", [], |row| row.get(0))?;
        Ok(count as u64)
    }

    /// Every agent the store knows something about: open tickets, away, last assignment.
    pub fn workloads(&self) -> StoreResult<Vec<crate::core::people::Workload>> {
        let mut loads: Vec<crate::core::people::Workload> = Vec::new();
        let mut open = self.conn.prepare_cached(
            "SELECT assignee, count(*) FROM tickets
             WHERE assignee IS NOT NULL AND status NOT IN ('resolved', 'closed') AND merged_into IS NULL
             GROUP BY assignee",
        )?;
        for row in open.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })? {
            let (name, count) = row?;
            loads.push(crate::core::people::Workload {
                name,
                open_tickets: count as u32,
                ..Default::default()
            });
        }
        let mut states = self
            .conn
            .prepare_cached("SELECT name, away, last_assigned FROM agent_state")?;
        for row in states.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<bool>>(1)?,
                row.get::<_, Option<i64>>(2)?,
            ))
        })? {
            let (name, away, last) = row?;
            match loads.iter_mut().find(|w| w.name == name) {
                Some(load) => {
                    load.away = away;
                    load.last_assigned = last;
                }
                None => loads.push(crate::core::people::Workload {
                    name,
                    away,
                    last_assigned: last,
                    open_tickets: 0,
                }),
            }
        }
        Ok(loads)
    }

    /// Open tickets with a running (not paused) deadline: the scheduler looks at these.
    pub fn sla_candidates(&self) -> StoreResult<Vec<TicketNumber>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT number FROM tickets
                 WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL AND sla_paused_at IS NULL
                   AND (first_response_due IS NOT NULL OR next_response_due IS NOT NULL OR resolution_due IS NOT NULL)
                 ORDER BY number",
            )?
            .query_map([], |row| row.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().map(|n| TicketNumber(n as u64)).collect())
    }

    /// The open tickets in the order `guichet queue` and the dashboard show them: most urgent
    /// first (`core::sla::urgency`), then by number. Urgency depends on `now` and the SLA plans,
    /// so every open ticket is ranked, from the open tickets' index alone (migration 0025); a
    /// page is then cut from the ranking and its rows read with `work_rows`.
    pub fn work_ranking(
        &self,
        queue: Option<&str>,
        level: Option<u8>,
        sla: &crate::core::sla::SlaPolicy,
        now: i64,
    ) -> StoreResult<Vec<WorkRank>> {
        let mut ranks = self
            .conn
            .prepare_cached(WORK_RANKING)?
            .query_map(params![queue, level], |row| {
                Ok(WorkRank {
                    number: row.get::<_, i64>(0)? as u64,
                    priority: row.get(1)?,
                    level: row.get(2)?,
                    queue: row.get(3)?,
                    assignee: row.get(4)?,
                    awaiting_since: row.get(5)?,
                    sla: sla_state(row, 6)?,
                    urgency: 0,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for rank in &mut ranks {
            let priority = rank
                .priority
                .parse()
                .unwrap_or(crate::core::ticket::Priority::Normal);
            let plan = sla.plan_for(&rank.queue, priority);
            rank.urgency =
                crate::core::sla::urgency(priority, rank.awaiting_since, &rank.sla, plan, now);
        }
        ranks.sort_by(|a, b| b.urgency.cmp(&a.urgency).then(a.number.cmp(&b.number)));
        Ok(ranks)
    }

    /// The work-list rows of `ranks` (a page of `work_ranking`), in their order.
    pub fn work_rows(&self, ranks: Vec<WorkRank>) -> StoreResult<Vec<WorkRow>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT subject, status, requester FROM tickets WHERE number = ?1")?;
        ranks
            .into_iter()
            .map(|rank| {
                let (subject, status, requester) = statement
                    .query_row([rank.number as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?;
                Ok(WorkRow {
                    number: rank.number,
                    subject,
                    status,
                    priority: rank.priority,
                    level: rank.level,
                    queue: rank.queue,
                    assignee: rank.assignee,
                    requester,
                    awaiting_since: rank.awaiting_since,
                    sla: rank.sla,
                    urgency: rank.urgency,
                })
            })
            .collect()
    }
}

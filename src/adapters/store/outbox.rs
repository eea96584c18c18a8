//! The outbox in the store: outgoing mail queued with its recipients, what is due, and each
//! attempt's outcome recorded recipient by recipient with its audit events.

use rusqlite::{params, OptionalExtension};

use super::{CapContext, MessageInsert, Reader, RenderedMail, StoreResult, WriteTx};
use crate::core::address::Mailbox;
use crate::core::caps::{cap_key, counted_as, Counted};
use crate::core::delivery::{
    unreached, Attempt, DeliveryPlan, Outcome, RecipientResult, RecipientState, RowState,
};
use crate::core::outgoing::FailureContact;
use crate::core::ticket::TicketNumber;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
    /// Recipients refused by their server or given up on, over all mail (sent mail included).
    pub unreached_recipients: u64,
}

/// A recipient not reached yet, with the attempts it has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecipient {
    pub address: String,
    pub attempts: u32,
}

/// A pending outbox row, with what the sender needs to send it and to record the outcome.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    /// The stored outgoing message.
    pub message: i64,
    pub ticket: Option<u64>,
    /// The mail's kind as stored (`relay`, `acknowledgement`, …).
    pub kind: String,
    /// The ticket's subject.
    pub topic: String,
    pub envelope_from: Option<String>,
    /// Only those still to be reached: a retry never sends to someone twice.
    pub recipients: Vec<PendingRecipient>,
    pub delivered_earlier: usize,
    pub raw: Vec<u8>,
    pub attempts: u32,
    pub created_at: i64,
    pub report_failures_to: Option<FailureContact>,
}

impl OutboxItem {
    pub fn addresses(&self) -> Vec<String> {
        self.recipients.iter().map(|r| r.address.clone()).collect()
    }

    /// This row's attempt as the core judges it: the server's answer for each pending recipient,
    /// in the order of `recipients`.
    pub fn attempt<'a>(
        &'a self,
        outcomes: Vec<Outcome>,
        give_up: bool,
        seed: &'a str,
    ) -> Attempt<'a> {
        Attempt {
            ticket: self.ticket.map(TicketNumber),
            topic: &self.topic,
            kind: &self.kind,
            report_failures_to: self.report_failures_to.as_ref(),
            results: self
                .recipients
                .iter()
                .zip(outcomes)
                .map(|(recipient, outcome)| RecipientResult {
                    address: recipient.address.clone(),
                    earlier_attempts: recipient.attempts,
                    outcome,
                })
                .collect(),
            delivered_earlier: self.delivered_earlier,
            give_up,
            seed,
        }
    }
}

/// One recipient of an outgoing mail and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecipientRow {
    pub address: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl Reader<'_> {
    pub fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        let mut counts = OutboxCounts::default();
        let mut statement = self
            .conn
            .prepare("SELECT status, count(*) FROM outbox GROUP BY status")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })?;
        for row in rows {
            let (status, count) = row?;
            match status.as_str() {
                "pending" => counts.pending = count,
                "sent" => counts.sent = count,
                _ => counts.dead = count,
            }
        }
        counts.unreached_recipients = self.conn.query_row(
            "SELECT count(*) FROM outbox_recipients WHERE status IN ('refused', 'given_up')",
            [],
            |row| row.get::<_, i64>(0),
        )? as u64;
        Ok(counts)
    }

    /// Pending outbox mail whose time has come, oldest first.
    pub fn due_outbox(&self, now: i64, limit: usize, skip: &[i64]) -> StoreResult<Vec<OutboxItem>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT o.id, o.message, m.ticket, m.kind, coalesce(t.subject, m.subject), o.envelope_from,
                    m.raw, o.attempts, o.created_at, o.notify_address, o.notify_name, o.notify_language
             FROM outbox o JOIN messages m ON m.id = o.message LEFT JOIN tickets t ON t.number = m.ticket
             WHERE o.status = 'pending' AND o.next_attempt_at <= ?1
             ORDER BY o.next_attempt_at, o.id LIMIT ?2",
        )?;
        let mut items = statement
            .query_map(params![now, (limit + skip.len()) as i64], |row| {
                let notify: Option<String> = row.get(9)?;
                let name: Option<String> = row.get(10)?;
                let language: Option<String> = row.get(11)?;
                Ok(OutboxItem {
                    id: row.get(0)?,
                    message: row.get(1)?,
                    ticket: row.get::<_, Option<i64>>(2)?.map(|n| n as u64),
                    kind: row.get(3)?,
                    topic: row.get(4)?,
                    envelope_from: row.get(5)?,
                    recipients: Vec::new(),
                    delivered_earlier: 0,
                    raw: row.get(6)?,
                    attempts: row.get::<_, i64>(7)? as u32,
                    created_at: row.get(8)?,
                    report_failures_to: notify.map(|address| FailureContact {
                        agent: Mailbox::new(name.as_deref(), &address),
                        language: language
                            .and_then(|code| code.parse().ok())
                            .unwrap_or(crate::core::language::Language::En),
                    }),
                })
            })?
            .filter(|item| item.as_ref().map_or(true, |item| !skip.contains(&item.id)))
            .take(limit)
            .collect::<Result<Vec<_>, _>>()?;
        let mut pending = self.conn.prepare_cached(
            "SELECT address, attempts FROM outbox_recipients
             WHERE outbox = ?1 AND status = 'pending' ORDER BY position",
        )?;
        let mut delivered = self.conn.prepare_cached(
            "SELECT count(*) FROM outbox_recipients WHERE outbox = ?1 AND status = 'delivered'",
        )?;
        for item in &mut items {
            item.recipients = pending
                .query_map([item.id], |row| {
                    Ok(PendingRecipient {
                        address: row.get(0)?,
                        attempts: row.get::<_, i64>(1)? as u32,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            item.delivered_earlier =
                delivered.query_row([item.id], |row| row.get::<_, i64>(0))? as usize;
        }
        Ok(items)
    }

    /// The recipients of the outbox row that sends `message`, in the mail's order.
    pub fn recipients_of(&self, message: i64) -> StoreResult<Vec<RecipientRow>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT r.address, r.status, r.attempts, r.last_error
                 FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox
                 WHERE o.message = ?1 ORDER BY r.position",
            )?
            .query_map([message], |row| {
                Ok(RecipientRow {
                    address: row.get(0)?,
                    status: row.get(1)?,
                    attempts: row.get::<_, i64>(2)? as u32,
                    last_error: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The earliest time a pending outbox mail is due, to sleep until then.
    pub fn next_outbox_due(&self) -> StoreResult<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'",
                [],
                |row| row.get(0),
            )
            .optional()?
            .flatten())
    }
}

impl WriteTx<'_> {
    /// Stores an outgoing mail as a message of its ticket and queues it for the sender, each
    /// recipient pending.
    pub(super) fn queue_outgoing(
        &self,
        rendered: &RenderedMail<'_>,
        cap: CapContext<'_>,
        now: i64,
    ) -> StoreResult<()> {
        let mail = rendered.mail;
        let hash = crate::adapters::parse::hex(&sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(&rendered.raw),
        ));
        let message = self.insert_message(&MessageInsert {
            ticket: mail.ticket.map(|t| t.0 as i64),
            direction: "out",
            visibility: "public",
            stranger: false,
            kind: mail.kind.as_str(),
            message_id: Some(&mail.message_id),
            content_hash: &hash,
            from: Some(&mail.from.address),
            to: &mail.to,
            cc: &mail.cc,
            subject: &mail.subject,
            text: &mail.body,
            raw: &rendered.raw,
            source: "guichet",
            sent_date: Some(now),
            now,
        })?;
        self.add_to_counter(super::Counter::MailsOut, mail.kind.as_str(), "queued", 1)?;
        // What the mail was rendered for: its To and Cc, less any recipient left out.
        let recipients = &rendered.recipients;
        let notify = mail.report_failures_to.as_ref();
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (message, envelope_from, recipients, status, next_attempt_at, created_at,
                                     notify_address, notify_name, notify_language)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                message,
                mail.envelope_from,
                serde_json::to_string(&recipients).unwrap_or_else(|_| "[]".into()),
                now,
                notify.map(|n| &n.agent.address),
                notify.and_then(|n| n.agent.name.as_ref()),
                notify.map(|n| n.language.code()),
            ])?;
        let outbox = self.tx.last_insert_rowid();
        // The same address in To and Cc is one recipient.
        let mut pending = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO outbox_recipients (outbox, address, position, status, updated_at)
             VALUES (?1, ?2, ?3, 'pending', ?4)",
        )?;
        for (position, address) in recipients.iter().enumerate() {
            pending.execute(params![outbox, address, position as i64, now])?;
        }
        if let Some(counted) = counted_as(mail.kind, cap.new_ticket) {
            let mut record = self.tx.prepare_cached(
                "INSERT INTO automatic_mail (address, cause, ticket, kind, message, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for address in recipients {
                let address = cap_key(address);
                let cause = match counted {
                    Counted::Reply => Some(address.as_str()),
                    Counted::NewTicketNotice => cap.cause,
                };
                record.execute(params![
                    address,
                    cause,
                    mail.ticket.map(|t| t.0 as i64),
                    mail.kind.as_str(),
                    message,
                    now
                ])?;
            }
        }
        Ok(())
    }

    /// Marks attempts as started, just before handing the mail to the server.
    pub fn mark_in_flight(&self, outbox_ids: &[i64], now: i64) -> StoreResult<()> {
        let mut statement = self
            .tx
            .prepare_cached("UPDATE outbox SET in_flight_since = ?2 WHERE id = ?1")?;
        for id in outbox_ids {
            statement.execute(params![id, now])?;
        }
        Ok(())
    }

    /// Attempts that never got a result (the process died mid-send): clears the marks and returns
    /// the ids, to be sent again.
    pub fn take_interrupted_sends(&self) -> StoreResult<Vec<i64>> {
        let ids = self
            .tx
            .prepare("SELECT id FROM outbox WHERE in_flight_since IS NOT NULL AND status = 'pending' ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        self.tx.execute(
            "UPDATE outbox SET in_flight_since = NULL WHERE in_flight_since IS NOT NULL",
            [],
        )?;
        Ok(ids)
    }

    /// Every recipient of the row not delivered yet or ever, with why: the row's `last_error`,
    /// so that a sent mail still says whom it did not reach.
    fn unreached(&self, outbox: i64) -> StoreResult<Option<String>> {
        let lines = self
            .tx
            .prepare_cached(
                "SELECT address, status, coalesce(last_error, '') FROM outbox_recipients
                 WHERE outbox = ?1 AND status <> 'delivered' ORDER BY position",
            )?
            .query_map([outbox], |row| {
                let status: String = row.get(1)?;
                let state = match status.as_str() {
                    "refused" => RecipientState::Refused,
                    "given_up" => RecipientState::GivenUp,
                    _ => RecipientState::Pending,
                };
                Ok(unreached(
                    &row.get::<_, String>(0)?,
                    state,
                    &row.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((!lines.is_empty()).then(|| lines.join("; ")))
    }

    /// Records an attempt: each recipient's outcome, the row's state, the audit events on the
    /// ticket, and the failure notice the plan asks for (queued in this same transaction).
    pub fn record_delivery(
        &self,
        item: &OutboxItem,
        plan: &DeliveryPlan,
        notice: Option<&RenderedMail<'_>>,
        now: i64,
        next_attempt_at: i64,
    ) -> StoreResult<()> {
        let mut recipient = self.tx.prepare_cached(
            "UPDATE outbox_recipients SET status = ?3, attempts = attempts + 1, last_error = ?4, updated_at = ?5
             WHERE outbox = ?1 AND address = ?2",
        )?;
        for update in &plan.recipients {
            recipient.execute(params![
                item.id,
                update.address,
                update.state.as_str(),
                update.reason,
                now
            ])?;
        }
        let (status, sent_at) = match plan.row {
            RowState::Retry => ("pending", None),
            RowState::Sent => ("sent", Some(now)),
            RowState::Dead => ("dead", None),
        };
        if status != "pending" {
            self.add_to_counter(super::Counter::MailsOut, &item.kind, status, 1)?;
        }
        self.tx.execute(
            "UPDATE outbox SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4,
                    sent_at = ?5, in_flight_since = NULL
             WHERE id = ?1",
            params![item.id, status, next_attempt_at, self.unreached(item.id)?, sent_at],
        )?;
        if let Some(ticket) = item.ticket {
            for event in &plan.events {
                self.insert_event(ticket as i64, now, event, Some(item.message))?;
            }
        }
        if let Some(notice) = notice {
            self.queue_outgoing(notice, CapContext::default(), now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;
    use crate::core::delivery::{after_attempt, Outcome};
    use crate::core::language::Language;
    use crate::core::outgoing::{OutgoingKind, OutgoingMail};
    use crate::core::plan::IntakePolicy;
    use crate::core::ticket::TicketNumber;

    fn policy() -> IntakePolicy {
        crate::core::intake::tests::policy_for("support@desk.example.test")
    }

    /// A relay from Bob to Carla, copying Dan and a ghost, queued on ticket 1.
    fn queue_relay(store: &mut Store) {
        let mut mail = OutgoingMail::from_support(
            &policy().support,
            OutgoingKind::Relay,
            TicketNumber(1),
            vec![Mailbox::new(None, "carla@example.test")],
            ("[Helpdesk #1] Scanner".into(), "Power-cycle it.".into()),
            "seed",
            Language::En,
        );
        mail.cc = vec![
            Mailbox::new(None, "dan@example.test"),
            Mailbox::new(None, "ghost@nowhere.invalid"),
            // Named twice, sent once.
            Mailbox::new(None, "carla@example.test"),
        ];
        mail.report_failures_to = Some(FailureContact {
            agent: Mailbox::new(Some("Bob Martin"), "bob@example.test"),
            language: Language::It,
        });
        let tx = store.write().unwrap();
        tx.tx
            .execute(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue, language,
                                      created_at, updated_at)
                 VALUES (1, 'Scanner', 'carla@example.test', 'open', 'normal', 1, 'general', 'en', 0, 0)",
                [],
            )
            .unwrap();
        let rendered = RenderedMail {
            mail: &mail,
            raw: b"Subject: x\r\n\r\nx\r\n".to_vec(),
            recipients: mail
                .to
                .iter()
                .chain(&mail.cc)
                .map(|m| m.address.clone())
                .collect(),
        };
        tx.queue_outgoing(&rendered, CapContext::default(), 100)
            .unwrap();
        tx.commit().unwrap();
    }

    /// Runs the core's decision on `outcomes` and records it, as the sender does.
    fn attempt(store: &mut Store, item: &OutboxItem, outcomes: Vec<Outcome>, now: i64) {
        let policy = policy();
        let seed = format!("{now}");
        let plan = after_attempt(&policy, &item.attempt(outcomes, false, &seed));
        let notice = plan.notice.as_ref().map(|mail| RenderedMail {
            mail,
            raw: b"Subject: notice\r\n\r\nx\r\n".to_vec(),
            recipients: mail.to.iter().map(|m| m.address.clone()).collect(),
        });
        let tx = store.write().unwrap();
        tx.record_delivery(item, &plan, notice.as_ref(), now, now + 30)
            .unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn a_retry_goes_only_to_recipients_not_yet_reached() {
        let mut store = Store::open_memory().unwrap();
        queue_relay(&mut store);
        let due = store.read().due_outbox(100, 10, &[]).unwrap();
        assert_eq!(due.len(), 1);
        let item = &due[0];
        assert_eq!(
            item.addresses(),
            vec![
                "carla@example.test",
                "dan@example.test",
                "ghost@nowhere.invalid"
            ]
        );
        assert_eq!(item.kind, "relay");
        assert_eq!(item.topic, "Scanner");
        let contact = item.report_failures_to.clone().unwrap();
        assert_eq!(contact.agent.address, "bob@example.test");
        assert_eq!(contact.language, Language::It);

        attempt(
            &mut store,
            item,
            vec![
                Outcome::Delivered,
                Outcome::Deferred("451 4.3.0 try later".into()),
                Outcome::Refused("554 5.7.1 Relay access denied".into()),
            ],
            200,
        );
        // The notice to Bob is queued, due now; the relay waits for its retry.
        let due = store.read().due_outbox(200, 10, &[]).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, "delivery_failure_notice");
        assert_eq!(due[0].addresses(), vec!["bob@example.test"]);
        assert!(due[0].report_failures_to.is_none());

        let due = store.read().due_outbox(230, 10, &[]).unwrap();
        let retry = due.iter().find(|i| i.kind == "relay").unwrap();
        assert_eq!(retry.addresses(), vec!["dan@example.test"]);
        assert_eq!(retry.recipients[0].attempts, 1);
        assert_eq!(retry.delivered_earlier, 1);
        attempt(&mut store, retry, vec![Outcome::Delivered], 230);

        let recipients = store.read().recipients_of(retry.message).unwrap();
        let states: Vec<(&str, &str)> = recipients
            .iter()
            .map(|r| (r.address.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(
            states,
            vec![
                ("carla@example.test", "delivered"),
                ("dan@example.test", "delivered"),
                ("ghost@nowhere.invalid", "refused")
            ]
        );
        let (status, error): (String, Option<String>) = store
            .conn
            .query_row(
                "SELECT status, last_error FROM outbox WHERE id = ?1",
                [retry.id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(status, "sent");
        assert_eq!(
            error.as_deref(),
            Some("ghost@nowhere.invalid refused: 554 5.7.1 Relay access denied"),
            "a sent mail still says whom it did not reach"
        );
        let counts = store.read().outbox_counts().unwrap();
        assert_eq!(counts.unreached_recipients, 1);
        let kinds: Vec<String> = store
            .read()
            .ticket(TicketNumber(1))
            .unwrap()
            .unwrap()
            .events
            .iter()
            .map(|e| e.kind.clone())
            .collect();
        assert_eq!(
            kinds,
            vec![
                "delivered",
                "delivery_deferred",
                "delivery_refused",
                "notice_queued",
                "delivered"
            ]
        );
    }
}

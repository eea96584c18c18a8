//! SQLite state: tickets, messages (raw bytes kept), participants, the audit trail, the outbox and
//! the quarantine. The only place that sees rusqlite types.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::core::address::Mailbox;
use crate::core::caps::{cap_key, cause_of, Counted, SentLastHour};
use crate::core::mail::{AttachmentMeta, InboundMail};
use crate::core::outgoing::OutgoingMail;
use crate::core::personal_thread::ThreadMessage;
use crate::core::plan::{
    EventDraft, HistoryEntry, IntakePlan, TicketChange, TicketUpdate, TicketView,
};
use crate::core::sla::SlaState;
use crate::core::ticket::{Status, TicketNumber};
use crate::core::visibility::Visibility;

/// Append-only: a shipped migration is never edited; a change is a new entry.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_mailbox_state.sql"),
    include_str!("migrations/0003_outbox_in_flight.sql"),
    include_str!("migrations/0004_fts_inbound_only.sql"),
    include_str!("migrations/0005_tags_fields_resolution.sql"),
    include_str!("migrations/0006_agent_state.sql"),
    include_str!("migrations/0007_sla.sql"),
    include_str!("migrations/0008_unsendable_index.sql"),
    include_str!("migrations/0009_delivery_per_recipient.sql"),
    include_str!("migrations/0010_spam_and_caps.sql"),
    include_str!("migrations/0011_fts_bounded.sql"),
    include_str!("migrations/0012_stranger_visibility.sql"),
];

/// Characters of a message's text that full-text search indexes (the triggers of migration 0008).
pub const FTS_INDEXED_CHARS: usize = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database is at schema version {found}, newer than this Guichet ({supported}): upgrade Guichet")]
    TooNew { found: usize, supported: usize },
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Read-only access to a database not yet created or upgraded (the daemon is starting).
    #[error("the database is at schema version {found} of {wanted}: it is being created or upgraded, try again")]
    NotReady { found: usize, wanted: usize },
    /// The mail cannot make or join a ticket (no sender, a vanished ticket): quarantine it.
    #[error("{0}")]
    Refused(String),
    #[error("file system: {0}")]
    Io(String),
}

impl StoreError {
    /// Worth retrying later (locked, busy, disk full, I/O): an MTA should keep the mail.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => matches!(
                error.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
                    | ErrorCode::OutOfMemory
                    | ErrorCode::ReadOnly
            ),
            StoreError::Io(_) | StoreError::NotReady { .. } => true,
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

mod outbox;
pub use outbox::{OutboxCounts, OutboxItem, PendingRecipient, RecipientRow};

pub struct Store {
    conn: Connection,
}

/// How a queued mail counts against the caps on automatic mail (see `core::caps`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CapContext<'a> {
    new_ticket: bool,
    /// The normalised sender whose mail caused the notices.
    cause: Option<&'a str>,
}

/// An outgoing mail, rendered, ready to go into the outbox.
pub struct RenderedMail<'a> {
    pub mail: &'a OutgoingMail,
    pub raw: Vec<u8>,
    /// The envelope recipients the mail was rendered for (its To and Cc, less any left out).
    pub recipients: Vec<String>,
}

/// What the ingestion of one inbound mail writes, beyond the plan.
pub struct InboundRecord<'a> {
    pub mail: &'a InboundMail,
    pub raw: &'a [u8],
    pub content_hash: &'a str,
    pub source: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketRow {
    pub number: u64,
    pub subject: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub status: String,
    pub priority: String,
    pub level: u8,
    pub queue: String,
    pub assignee: Option<String>,
    pub language: String,
    pub merged_into: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub direction: String,
    pub visibility: String,
    pub kind: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub source: String,
    pub created_at: i64,
    pub attachments: Vec<AttachmentRow>,
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AttachmentRow {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ParticipantRow {
    pub address: String,
    pub name: Option<String>,
    pub role: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub message: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketDetail {
    pub ticket: TicketRow,
    pub tags: Vec<String>,
    pub fields: std::collections::BTreeMap<String, String>,
    pub participants: Vec<ParticipantRow>,
    pub messages: Vec<MessageRow>,
    pub events: Vec<EventRow>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub received_at: i64,
    pub source: String,
    pub reason: String,
    pub size: u64,
    pub path: String,
}

/// An open ticket in the work list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkRow {
    pub number: u64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub level: u8,
    pub queue: String,
    pub assignee: Option<String>,
    pub requester: String,
    pub awaiting_since: Option<i64>,
    pub sla: SlaState,
    /// Filled by the caller: higher is more urgent.
    pub urgency: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MailboxStateRow {
    pub name: String,
    pub uid_validity: Option<u32>,
    pub last_uid: u32,
    pub connected: bool,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub backlog: u64,
    pub processed: u64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DaemonStateRow {
    pub pid: u32,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
}

/// A change to a mailbox's state row; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct MailboxUpdate<'a> {
    pub uid_validity: Option<u32>,
    pub last_uid: Option<u32>,
    pub connected: Option<bool>,
    pub success: bool,
    pub error: Option<&'a str>,
    pub backlog: Option<u64>,
    pub processed_more: u64,
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let conn = Connection::open(path)?;
        let mut store = Store::configure(conn)?;
        store.migrate()?;
        Ok(store)
    }

    /// An empty, migrated database in memory: `inspect` before anything was ingested.
    pub fn open_memory() -> StoreResult<Store> {
        let mut store = Store {
            conn: Connection::open_in_memory()?,
        };
        store.migrate()?;
        Ok(store)
    }

    /// For commands that only look: never creates or migrates.
    pub fn open_read_only(path: &Path) -> StoreResult<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let store = Store { conn };
        let version = store.schema_version()?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                found: version,
                supported: MIGRATIONS.len(),
            });
        }
        if version < MIGRATIONS.len() {
            return Err(StoreError::NotReady {
                found: version,
                wanted: MIGRATIONS.len(),
            });
        }
        Ok(store)
    }

    fn configure(conn: Connection) -> StoreResult<Store> {
        conn.busy_timeout(Duration::from_secs(10))?;
        enable_wal(&conn)?;
        // A mail is acknowledged to the MTA, or moved out of its IMAP folder, once its
        // transaction commits: that commit must survive a power cut.
        conn.pragma_update(None, "synchronous", "full")?;
        conn.pragma_update(None, "foreign_keys", "on")?;
        Ok(Store { conn })
    }

    fn schema_version(&self) -> StoreResult<usize> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok(version as usize)
    }

    fn migrate(&mut self) -> StoreResult<()> {
        let version = self.schema_version()?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                found: version,
                supported: MIGRATIONS.len(),
            });
        }
        if version == MIGRATIONS.len() {
            return Ok(());
        }
        // A migration may rebuild a table (SQLite cannot alter a constraint), which foreign keys
        // would refuse half-way: they are off while migrating and checked before the commit.
        // The pragma is a no-op inside a transaction, so it is set around it.
        let foreign_keys: bool = self
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
        self.conn.pragma_update(None, "foreign_keys", "off")?;
        let migrated = self.run_migrations();
        if foreign_keys {
            self.conn.pragma_update(None, "foreign_keys", "on")?;
        }
        migrated
    }

    fn run_migrations(&mut self) -> StoreResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)?;
        // Another process may have migrated while we waited for the lock.
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        }
        let broken: Option<String> = tx
            .prepare("PRAGMA foreign_key_check")?
            .query_map([], |row| row.get::<_, String>(0))?
            .next()
            .transpose()?;
        if let Some(table) = broken {
            return Err(StoreError::Corrupt(format!(
                "migration left a dangling reference in table {table}; nothing was changed"
            )));
        }
        tx.commit()?;
        Ok(())
    }

    /// A write transaction taken at once (`BEGIN IMMEDIATE`), so that two ingesting processes
    /// serialise instead of failing on upgrade.
    pub fn write(&mut self) -> StoreResult<WriteTx<'_>> {
        Ok(WriteTx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?,
        })
    }

    pub fn read(&self) -> Reader<'_> {
        Reader { conn: &self.conn }
    }

    /// For connections whose writes may be lost in a power cut without losing mail (the outbox
    /// sender's "sent" marks: losing one means sending again, which is at-least-once anyway).
    pub fn relax_durability(&self) -> StoreResult<()> {
        self.conn.pragma_update(None, "synchronous", "normal")?;
        Ok(())
    }
}

/// Queries shared by reads and the write transaction.
pub struct Reader<'c> {
    conn: &'c Connection,
}

pub struct WriteTx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.tx
    }
}

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
        let overall: i64 = self
            .conn
            .prepare_cached("SELECT count(DISTINCT message) FROM automatic_mail WHERE at > ?1")?
            .query_row(params![since], |row| row.get(0))?;
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
        let mut attachments = self.conn.prepare(
            "SELECT filename, content_type, size, sha256 FROM attachments WHERE message = ?1 ORDER BY id",
        )?;
        for message in &mut messages {
            message.attachments = attachments
                .query_map([message.id], |row| {
                    Ok(AttachmentRow {
                        filename: row.get(0)?,
                        content_type: row.get(1)?,
                        size: row.get::<_, i64>(2)? as u64,
                        sha256: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
        }
        let events = self
            .conn
            .prepare(
                "SELECT at, actor, kind, detail, message FROM events
             WHERE ticket = ?1 OR ticket IN (SELECT number FROM tickets WHERE merged_into = ?1)
             ORDER BY id",
            )?
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

    /// Open tickets with what the work-list order needs.
    pub fn work_list(&self, queue: Option<&str>, level: Option<u8>) -> StoreResult<Vec<WorkRow>> {
        let rows = self
            .conn
            .prepare(
                "SELECT number, subject, status, priority, level, queue, assignee, requester, awaiting_since,
                        first_response_due, next_response_due, resolution_due, sla_paused_at, sla_warned_for
                 FROM tickets
                 WHERE status NOT IN ('resolved', 'closed') AND merged_into IS NULL
                   AND (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR level = ?2)",
            )?
            .query_map(params![queue, level], |row| {
                Ok(WorkRow {
                    number: row.get::<_, i64>(0)? as u64,
                    subject: row.get(1)?,
                    status: row.get(2)?,
                    priority: row.get(3)?,
                    level: row.get(4)?,
                    queue: row.get(5)?,
                    assignee: row.get(6)?,
                    requester: row.get(7)?,
                    awaiting_since: row.get(8)?,
                    sla: sla_state(row, 9)?,
                    urgency: 0,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

impl<'c> WriteTx<'c> {
    /// Starts a savepoint: what follows can be undone alone.
    pub fn savepoint(&mut self) -> StoreResult<()> {
        self.tx.execute_batch("SAVEPOINT mail")?;
        Ok(())
    }

    pub fn release_savepoint(&mut self) -> StoreResult<()> {
        self.tx.execute_batch("RELEASE mail")?;
        Ok(())
    }

    pub fn rollback_savepoint(&mut self) -> StoreResult<()> {
        self.tx.execute_batch("ROLLBACK TO mail; RELEASE mail")?;
        Ok(())
    }

    pub fn read(&self) -> Reader<'_> {
        Reader { conn: &self.tx }
    }

    pub fn commit(self) -> StoreResult<()> {
        self.tx.commit()?;
        Ok(())
    }

    pub fn quarantined(&self, content_hash: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT id FROM quarantine WHERE content_hash = ?1")?
            .query_row([content_hash], |row| row.get(0))
            .optional()?)
    }

    pub fn ticket_view(&self, number: TicketNumber) -> StoreResult<Option<TicketView>> {
        let n = number.0 as i64;
        let row = self
            .tx
            .prepare_cached(
                "SELECT status, priority, level, queue, assignee, subject, language, requester, requester_name, merged_into,
                        created_at, first_response_due, next_response_due, resolution_due, sla_paused_at,
                        sla_warned_for, awaiting_since
                 FROM tickets WHERE number = ?1",
            )?
            .query_row([n], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u8>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<i64>>(9)?,
                    (
                        row.get::<_, i64>(10)?,
                        sla_state(row, 11)?,
                        row.get::<_, Option<i64>>(16)?,
                    ),
                ))
            })
            .optional()?;
        let Some((
            status,
            priority,
            level,
            queue,
            assignee,
            subject,
            language,
            requester,
            requester_name,
            merged,
            (created_at, sla, awaiting_since),
        )) = row
        else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("ticket #{number}: {e}"));
        let mut view = TicketView::new(number, Mailbox::new(requester_name.as_deref(), &requester));
        view.status = status
            .parse()
            .map_err(|e: crate::core::ticket::UnknownWord| corrupt(e.to_string()))?;
        view.priority = priority
            .parse()
            .map_err(|e: crate::core::ticket::UnknownWord| corrupt(e.to_string()))?;
        view.level = crate::core::ticket::Level::new(level)
            .ok_or_else(|| corrupt(format!("level {level}")))?;
        view.queue = queue;
        view.assignee = assignee;
        view.subject = subject;
        view.language = language
            .parse()
            .unwrap_or(crate::core::language::Language::En);
        view.merged_into = merged.map(|m| TicketNumber(m as u64));
        view.created_at = created_at;
        view.sla = sla;
        view.awaiting_since = awaiting_since;
        let participants = self
            .tx
            .prepare_cached("SELECT address, name, role FROM participants WHERE ticket = ?1 ORDER BY added_at, address")?
            .query_map([n], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, String>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        view.participants = participants
            .iter()
            .map(|(address, _, _)| address.clone())
            .collect();
        view.cc = participants
            .iter()
            .filter(|(_, _, role)| role == "cc")
            .map(|(address, name, _)| Mailbox::new(name.as_deref(), address))
            .collect();
        view.tags = self
            .tx
            .prepare_cached("SELECT tag FROM ticket_tags WHERE ticket = ?1 ORDER BY tag")?
            .query_map([n], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        view.fields = self
            .tx
            .prepare_cached("SELECT name, value FROM ticket_fields WHERE ticket = ?1")?
            .query_map([n], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let messages = self
            .tx
            .prepare_cached(
                "SELECT created_at, from_addr, visibility, text, message_id, direction, stranger,
                        to_addrs, cc_addrs, id FROM messages
                 WHERE ticket = ?1 ORDER BY id",
            )?
            .query_map([n], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, bool>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, i64>(9)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut attachments_of = self.tx.prepare_cached(
            "SELECT filename, content_type, size, sha256 FROM attachments WHERE message = ?1 ORDER BY id",
        )?;
        for (at, from, visibility, text, message_id, direction, stranger, to, cc, id) in messages {
            let visibility = stored_visibility(&visibility, stranger);
            if let Some(message_id) = message_id {
                let listed = |json: Option<String>| -> Vec<String> {
                    json.and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default()
                };
                let mut recipients = listed(to);
                recipients.extend(listed(cc));
                view.thread.push(ThreadMessage {
                    message_id,
                    from: from.clone().unwrap_or_default(),
                    recipients,
                    visibility,
                });
            }
            if direction == "in" {
                let attachments = attachments_of
                    .query_map([id], |row| {
                        Ok(AttachmentMeta {
                            filename: row.get(0)?,
                            content_type: row.get(1)?,
                            size: row.get::<_, i64>(2)?.max(0) as u64,
                            sha256: row.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                view.history.push(HistoryEntry {
                    at,
                    from: from.unwrap_or_default(),
                    visibility,
                    text,
                    attachments,
                });
            }
        }
        Ok(Some(view))
    }

    pub fn next_ticket_number(&self, first: u64) -> StoreResult<TicketNumber> {
        let max: Option<i64> = self
            .tx
            .prepare_cached("SELECT max(number) FROM tickets")?
            .query_row([], |row| row.get(0))?;
        Ok(TicketNumber(
            max.map_or(first, |max| (max as u64 + 1).max(first)),
        ))
    }

    pub fn insert_quarantine(
        &self,
        now: i64,
        source: &str,
        reason: &str,
        size: usize,
        content_hash: &str,
        path: &str,
    ) -> StoreResult<i64> {
        self.tx.execute(
            "INSERT INTO quarantine (received_at, source, reason, size, content_hash, path)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now, source, reason, size as i64, content_hash, path],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Carries out an intake plan: the ticket change, the inbound mail, participants, events and
    /// the outgoing mail, all inside this transaction. Returns the inbound message's row id.
    pub fn apply_intake(
        &self,
        plan: &IntakePlan,
        inbound: &InboundRecord<'_>,
        outgoing: &[RenderedMail<'_>],
    ) -> StoreResult<i64> {
        let now = inbound.now;
        let number = plan.ticket.0 as i64;
        let cause = cause_of(plan);
        match &plan.change {
            TicketChange::Create(ticket) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO tickets (number, subject, requester, requester_name, status, priority,
                                              level, queue, language, created_at, updated_at, assignee,
                                              first_response_due, next_response_due, resolution_due,
                                              awaiting_since)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?10)",
                    )?
                    .execute(params![
                        number,
                        ticket.subject,
                        ticket.requester.address,
                        ticket.requester.name,
                        ticket.status.as_str(),
                        ticket.priority.as_str(),
                        ticket.level.get(),
                        ticket.queue,
                        ticket.language.code(),
                        now,
                        ticket.assignee,
                        ticket.sla.first_response_due,
                        ticket.sla.next_response_due,
                        ticket.sla.resolution_due
                    ])?;
                if let Some(assignee) = &ticket.assignee {
                    self.note_assignment(assignee)?;
                }
                for tag in &ticket.tags {
                    self.apply_update(number, now, &TicketUpdate::AddTag(tag.clone()))?;
                }
                for (name, value) in &ticket.fields {
                    self.apply_update(
                        number,
                        now,
                        &TicketUpdate::Field(name.clone(), value.clone()),
                    )?;
                }
            }
            TicketChange::Append { updates } => {
                self.tx
                    .prepare_cached("UPDATE tickets SET updated_at = ?2 WHERE number = ?1")?
                    .execute(params![number, now])?;
                for update in updates
                    .iter()
                    .filter(|u| !matches!(u, TicketUpdate::MergeInto(_)))
                {
                    self.apply_update(number, now, update)?;
                }
            }
        }
        let mail = inbound.mail;
        let message = self.insert_message(&MessageInsert {
            ticket: Some(number),
            direction: "in",
            visibility: match plan.visibility {
                Visibility::Public => "public",
                Visibility::Internal | Visibility::Stranger => "internal",
            },
            stranger: plan.visibility == Visibility::Stranger,
            kind: "mail",
            message_id: mail.message_id.as_deref(),
            content_hash: inbound.content_hash,
            from: mail.from.as_ref().map(|m| m.address.as_str()),
            to: &mail.to,
            cc: &mail.cc,
            subject: &mail.subject,
            text: &plan.stored_text,
            raw: inbound.raw,
            source: inbound.source,
            sent_date: mail.date,
            now,
        })?;
        let mut insert_attachment = self.tx.prepare_cached(
            "INSERT INTO attachments (message, filename, content_type, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for attachment in &mail.attachments {
            insert_attachment.execute(params![
                message,
                attachment.filename,
                attachment.content_type,
                attachment.size as i64,
                attachment.sha256
            ])?;
        }
        let mut insert_participant = self.tx.prepare_cached(
            "INSERT INTO participants (ticket, address, name, role, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (ticket, address) DO NOTHING",
        )?;
        for (mailbox, role) in &plan.new_participants {
            insert_participant.execute(params![
                number,
                mailbox.address,
                mailbox.name,
                role.as_str(),
                now
            ])?;
        }
        for event in &plan.events {
            self.insert_event(number, now, event, Some(message))?;
        }
        let indexed_cut = (plan.stored_text.len() > FTS_INDEXED_CHARS)
            .then(|| plan.stored_text.chars().count())
            .filter(|chars| *chars > FTS_INDEXED_CHARS)
            .map(|chars| {
                format!("text of {chars} characters: only the first {FTS_INDEXED_CHARS} are indexed for search")
            });
        for cut in mail.cuts.iter().chain(&indexed_cut) {
            let event = EventDraft {
                kind: crate::core::plan::EventKind::IntakeCut,
                actor: "guichet".into(),
                detail: cut.clone(),
            };
            self.insert_event(number, now, &event, Some(message))?;
        }
        for rendered in outgoing {
            self.queue_outgoing(
                rendered,
                CapContext {
                    new_ticket: matches!(plan.change, TicketChange::Create(_)),
                    cause: cause.as_deref(),
                },
                now,
            )?;
        }
        for (agent, away) in &plan.agents_away {
            self.set_away(agent, *away)?;
        }
        // A merge goes last: everything above landed on this ticket and now moves with it.
        if let TicketChange::Append { updates } = &plan.change {
            for update in updates
                .iter()
                .filter(|u| matches!(u, TicketUpdate::MergeInto(_)))
            {
                self.apply_update(number, now, update)?;
            }
        }
        Ok(message)
    }

    /// Carries out what the SLA clock decided for one ticket.
    pub fn apply_clock(
        &self,
        ticket: TicketNumber,
        now: i64,
        plan: &crate::core::escalation::ClockPlan,
        outgoing: &[RenderedMail<'_>],
    ) -> StoreResult<()> {
        let number = ticket.0 as i64;
        for update in &plan.updates {
            self.apply_update(number, now, update)?;
        }
        for event in &plan.events {
            self.insert_event(number, now, event, None)?;
        }
        for rendered in outgoing {
            self.queue_outgoing(rendered, CapContext::default(), now)?;
        }
        Ok(())
    }

    fn note_assignment(&self, agent: &str) -> StoreResult<()> {
        // A sequence, not a time: several tickets can be assigned within one second.
        self.tx
            .prepare_cached(
                "INSERT INTO agent_state (name, last_assigned)
                 VALUES (?1, (SELECT coalesce(max(last_assigned), 0) + 1 FROM agent_state))
                 ON CONFLICT (name) DO UPDATE SET last_assigned = excluded.last_assigned",
            )?
            .execute(params![agent])?;
        Ok(())
    }

    fn set_away(&self, agent: &str, away: bool) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO agent_state (name, away) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET away = ?2",
            )?
            .execute(params![agent, away])?;
        Ok(())
    }

    fn apply_update(&self, number: i64, now: i64, update: &TicketUpdate) -> StoreResult<()> {
        let set = |column: &str, value: &dyn rusqlite::ToSql| -> StoreResult<()> {
            self.tx
                .prepare_cached(&format!(
                    "UPDATE tickets SET {column} = ?2 WHERE number = ?1"
                ))?
                .execute(params![number, value])?;
            Ok(())
        };
        match update {
            TicketUpdate::Status(status) => set("status", &status.as_str())?,
            TicketUpdate::Priority(priority) => set("priority", &priority.as_str())?,
            TicketUpdate::Level(level) => set("level", &level.get())?,
            TicketUpdate::Queue(queue) => set("queue", queue)?,
            TicketUpdate::Assignee(assignee) => {
                set("assignee", assignee)?;
                if let Some(name) = assignee {
                    self.note_assignment(name)?;
                }
            }
            TicketUpdate::Resolution(text) => set("resolution", text)?,
            TicketUpdate::AddParticipant(mailbox, role) => {
                // `#cc` of someone who came with a merged ticket copies them from now on.
                self.tx
                    .prepare_cached(
                        "INSERT INTO participants (ticket, address, name, role, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (ticket, address) DO UPDATE SET role = excluded.role
                         WHERE participants.role = 'merged'",
                    )?
                    .execute(params![number, mailbox.address, mailbox.name, role.as_str(), now])?;
            }
            TicketUpdate::RemoveParticipant(address) => {
                self.tx
                    .prepare_cached("DELETE FROM participants WHERE ticket = ?1 AND address = ?2 AND role != 'requester'")?
                    .execute(params![number, address])?;
            }
            TicketUpdate::AddTag(tag) => {
                self.tx
                    .prepare_cached("INSERT INTO ticket_tags (ticket, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                    .execute(params![number, tag])?;
            }
            TicketUpdate::RemoveTag(tag) => {
                self.tx
                    .prepare_cached("DELETE FROM ticket_tags WHERE ticket = ?1 AND tag = ?2")?
                    .execute(params![number, tag])?;
            }
            TicketUpdate::Field(name, value) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO ticket_fields (ticket, name, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (ticket, name) DO UPDATE SET value = ?3",
                    )?
                    .execute(params![number, name, value])?;
            }
            TicketUpdate::Sla(state) => {
                self.tx
                    .prepare_cached(
                        "UPDATE tickets SET first_response_due = ?2, next_response_due = ?3, resolution_due = ?4,
                             sla_paused_at = ?5, sla_warned_for = ?6 WHERE number = ?1",
                    )?
                    .execute(params![
                        number,
                        state.first_response_due,
                        state.next_response_due,
                        state.resolution_due,
                        state.paused_at,
                        state.warned_for
                    ])?;
            }
            TicketUpdate::AwaitingSince(since) => set("awaiting_since", since)?,
            TicketUpdate::MergeInto(into) => {
                let into = into.0 as i64;
                // The target keeps every mail and participant; this number leads there forever.
                // This ticket's people join as `merged`: their replies are a participant's, but
                // they are not copied on the target's correspondence, which is another
                // requester's problem (an agent adds them with #cc).
                self.tx.execute(
                    "UPDATE messages SET ticket = ?2 WHERE ticket = ?1",
                    params![number, into],
                )?;
                self.tx.execute(
                    "INSERT INTO participants (ticket, address, name, role, added_at)
                     SELECT ?2, address, name, 'merged', added_at
                     FROM participants WHERE ticket = ?1 ON CONFLICT (ticket, address) DO NOTHING",
                    params![number, into],
                )?;
                self.tx.execute(
                    "INSERT INTO ticket_tags (ticket, tag) SELECT ?2, tag FROM ticket_tags WHERE ticket = ?1
                     ON CONFLICT DO NOTHING",
                    params![number, into],
                )?;
                self.tx.execute(
                    "UPDATE tickets SET merged_into = ?2, status = 'closed', updated_at = ?3 WHERE number = ?1",
                    params![number, into, now],
                )?;
                self.tx.execute(
                    "UPDATE tickets SET updated_at = ?2 WHERE number = ?1",
                    params![into, now],
                )?;
                self.insert_event(
                    into,
                    now,
                    &EventDraft {
                        kind: crate::core::plan::EventKind::CommandApplied,
                        actor: "guichet".into(),
                        detail: format!("ticket #{number} merged into this one"),
                    },
                    None,
                )?;
            }
        }
        Ok(())
    }

    fn insert_event(
        &self,
        ticket: i64,
        now: i64,
        event: &EventDraft,
        message: Option<i64>,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO events (ticket, at, actor, kind, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![ticket, now, event.actor, event.kind.as_str(), event.detail, message])?;
        Ok(())
    }

    fn insert_message(&self, m: &MessageInsert<'_>) -> StoreResult<i64> {
        let addresses = |list: &[Mailbox]| {
            serde_json::to_string(&list.iter().map(|m| m.address.as_str()).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into())
        };
        self.tx
            .prepare_cached(
                "INSERT INTO messages (ticket, direction, visibility, kind, message_id, content_hash, from_addr,
                                       to_addrs, cc_addrs, subject, text, raw, source, sent_date, created_at,
                                       stranger)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                m.ticket,
                m.direction,
                m.visibility,
                m.kind,
                m.message_id,
                m.content_hash,
                m.from,
                addresses(m.to),
                addresses(m.cc),
                m.subject,
                m.text,
                m.raw,
                m.source,
                m.sent_date,
                m.now,
                m.stranger
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    pub fn update_mailbox(
        &self,
        name: &str,
        now: i64,
        update: &MailboxUpdate<'_>,
    ) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO mailbox_state (name, updated_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, now],
        )?;
        self.tx.execute(
            "UPDATE mailbox_state SET
                 uid_validity = coalesce(?3, uid_validity),
                 last_uid = coalesce(?4, last_uid),
                 connected = coalesce(?5, connected),
                 last_success_at = CASE WHEN ?6 THEN ?2 ELSE last_success_at END,
                 last_error = CASE WHEN ?6 THEN NULL WHEN ?7 IS NOT NULL THEN ?7 ELSE last_error END,
                 last_error_at = CASE WHEN ?7 IS NOT NULL THEN ?2 ELSE last_error_at END,
                 backlog = coalesce(?8, backlog),
                 processed = processed + ?9,
                 updated_at = ?2
             WHERE name = ?1",
            params![
                name,
                now,
                update.uid_validity.map(i64::from),
                update.last_uid.map(i64::from),
                update.connected,
                update.success,
                update.error,
                update.backlog.map(|b| b as i64),
                update.processed_more as i64
            ],
        )?;
        Ok(())
    }

    pub fn daemon_heartbeat(
        &self,
        pid: u32,
        started_at: i64,
        now: i64,
        stopped: bool,
    ) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO daemon_state (id, pid, started_at, heartbeat_at, stopped_at) VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, started_at = ?2, heartbeat_at = ?3, stopped_at = ?4",
            params![pid, started_at, now, stopped.then_some(now)],
        )?;
        Ok(())
    }
}

struct MessageInsert<'a> {
    ticket: Option<i64>,
    direction: &'a str,
    visibility: &'a str,
    kind: &'a str,
    message_id: Option<&'a str>,
    content_hash: &'a str,
    from: Option<&'a str>,
    to: &'a [Mailbox],
    cc: &'a [Mailbox],
    subject: &'a str,
    text: &'a str,
    raw: &'a [u8],
    source: &'a str,
    sent_date: Option<i64>,
    now: i64,
    stranger: bool,
}

/// A message's visibility from its two columns (see migration 0010).
fn stored_visibility(visibility: &str, stranger: bool) -> Visibility {
    match (visibility, stranger) {
        ("public", _) => Visibility::Public,
        (_, true) => Visibility::Stranger,
        _ => Visibility::Internal,
    }
}

/// Switching a new database to WAL answers "busy" at once, without the busy timeout, when
/// another process opens it at the same moment (the first deliveries of a new installation):
/// retry for as long as the busy timeout would have waited.
fn enable_wal(conn: &Connection) -> StoreResult<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mode: rusqlite::Result<String> =
            conn.pragma_query_value(None, "journal_mode", |row| row.get(0));
        if mode.as_deref().is_ok_and(|m| m.eq_ignore_ascii_case("wal")) {
            return Ok(());
        }
        match conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get::<_, String>(0))
        {
            Ok(_) => return Ok(()),
            Err(error) => {
                let busy = matches!(&error, rusqlite::Error::SqliteFailure(e, _)
                    if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked));
                if !busy || std::time::Instant::now() > deadline {
                    return Err(error.into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The five deadline columns, in their usual order, from column `first` on.
fn sla_state(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<SlaState> {
    Ok(SlaState {
        first_response_due: row.get(first)?,
        next_response_due: row.get(first + 1)?,
        resolution_due: row.get(first + 2)?,
        paused_at: row.get(first + 3)?,
        warned_for: row.get(first + 4)?,
    })
}

fn ticket_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        number: row.get::<_, i64>(0)? as u64,
        subject: row.get(1)?,
        requester: row.get(2)?,
        requester_name: row.get(3)?,
        status: row.get(4)?,
        priority: row.get(5)?,
        level: row.get(6)?,
        queue: row.get(7)?,
        assignee: row.get(8)?,
        language: row.get(9)?,
        merged_into: row.get::<_, Option<i64>>(10)?.map(|n| n as u64),
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

fn resolve_ticket(conn: &Connection, number: TicketNumber) -> StoreResult<Option<TicketNumber>> {
    let mut current = number;
    // A merge chain is short; the bound only guards against a corrupt cycle.
    for _ in 0..32 {
        let merged: Option<Option<i64>> = conn
            .prepare_cached("SELECT merged_into FROM tickets WHERE number = ?1")?
            .query_row([current.0 as i64], |row| row.get(0))
            .optional()?;
        match merged {
            None => return Ok(None),
            Some(None) => return Ok(Some(current)),
            Some(Some(next)) => current = TicketNumber(next as u64),
        }
    }
    Err(StoreError::Corrupt(format!(
        "merge chain from #{number} does not end"
    )))
}

fn ticket_for_message_id(conn: &Connection, message_id: &str) -> StoreResult<Option<TicketNumber>> {
    let ticket: Option<Option<i64>> = conn
        .prepare_cached("SELECT ticket FROM messages WHERE message_id = ?1 AND ticket IS NOT NULL ORDER BY id LIMIT 1")?
        .query_row([message_id], |row| row.get(0))
        .optional()?;
    match ticket.flatten() {
        Some(n) => resolve_ticket(conn, TicketNumber(n as u64)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as 0008 left it, with tickets other tables point at, survives the rebuild of
    /// `tickets` in 0009; the old per-address counts carry over, normalised.
    #[test]
    fn the_spam_migration_keeps_tickets_and_what_points_at_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "foreign_keys", "on").unwrap();
            let tx = conn.transaction().unwrap();
            for migration in &MIGRATIONS[..8] {
                tx.execute_batch(migration).unwrap();
            }
            tx.pragma_update(None, "user_version", 8).unwrap();
            tx.execute_batch(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                     language, created_at, updated_at, resolution, first_response_due)
                 VALUES (1, 'Printer', 'carla@example.test', 'open', 'high', 2, 'hardware', 'fr',
                     10, 20, NULL, 99);
                 INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                     language, merged_into, created_at, updated_at)
                 VALUES (2, 'Printer again', 'carla@example.test', 'closed', 'normal', 1,
                     'general', 'en', 1, 11, 21);
                 INSERT INTO events (ticket, at, actor, kind, detail) VALUES (1, 10, 'x', 'created', '');
                 INSERT INTO ticket_tags (ticket, tag) VALUES (1, 'printer');
                 INSERT INTO auto_replies (address, at) VALUES ('X+7@Example.test', 100);
                 INSERT INTO auto_replies (address, at) VALUES ('x@example.test', 100);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
        let foreign_keys: bool = store
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert!(foreign_keys, "foreign keys are on again after migrating");
        let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = store
            .conn
            .prepare("SELECT number, status, merged_into, first_response_due FROM tickets ORDER BY number")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, "open".to_string(), None, Some(99)),
                (2, "closed".to_string(), Some(1), None)
            ]
        );
        store
            .conn
            .execute("UPDATE tickets SET status = 'spam' WHERE number = 1", [])
            .unwrap();
        assert!(store
            .conn
            .execute("UPDATE tickets SET status = 'eaten' WHERE number = 1", [])
            .is_err());
        assert!(
            store
                .conn
                .execute("INSERT INTO ticket_tags (ticket, tag) VALUES (7, 'x')", [])
                .is_err(),
            "references to tickets are enforced again"
        );
        assert_eq!(
            store
                .read()
                .auto_replies_since("x+3@EXAMPLE.test", 0)
                .unwrap(),
            2
        );
    }
}

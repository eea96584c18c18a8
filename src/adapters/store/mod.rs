//! SQLite state: tickets, messages (raw bytes kept), participants, the audit trail, the outbox and
//! the quarantine. The only place that sees rusqlite types.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

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
    include_str!("migrations/0013_knowledge.sql"),
    include_str!("migrations/0014_ticket_changes.sql"),
    include_str!("migrations/0015_digests_sent.sql"),
    include_str!("migrations/0016_web_sessions.sql"),
    include_str!("migrations/0017_privacy.sql"),
    include_str!("migrations/0018_counters.sql"),
    include_str!("migrations/0019_report_indexes.sql"),
    include_str!("migrations/0020_web_requests.sql"),
    include_str!("migrations/0021_api_webhooks.sql"),
    include_str!("migrations/0022_text_index_at_commit.sql"),
    include_str!("migrations/0023_term_counts.sql"),
    include_str!("migrations/0024_checks_as_comparisons.sql"),
    include_str!("migrations/0025_open_tickets_index.sql"),
    include_str!("migrations/0026_article_postings.sql"),
];

/// Prepared statements a connection keeps. One mail's intake runs about 60 distinct
/// statements; with rusqlite's default of 16 each was prepared again for every mail (a quarter
/// of intake's instructions, bench/README.md "Intake").
const STATEMENT_CACHE: usize = 256;

/// How much of the database a read-only connection maps into memory.
const READ_MMAP_BYTES: i64 = 1 << 30;

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

mod api;
mod counters;
mod knowledge;
mod knowledge_mail;
mod knowledge_search;
mod maintenance;
mod outbox;
mod privacy;
mod reads;
mod reports;
mod requester_links;
mod rows;
mod upkeep;
mod web;
mod web_form;
mod writes;

pub use api::{ApiClient, TicketQuery, WebhookCursor, WebhookEvent};
pub use counters::{Counter, CounterRow, MetricsRows, OpenTickets};
pub use knowledge::{ArticleLink, ArticleVersion};
pub use knowledge_mail::SolvedByKnowledge;
pub use knowledge_search::{indexed_terms, ArticleSearch, RequestMatches, SimilarTicket};
pub use maintenance::{ReferencedFiles, StoreCounts};
pub use outbox::{OutboxCounts, OutboxItem, PendingRecipient, RecipientRow};
pub use privacy::{Erasure, PersonMail};
pub use rows::*;
pub use web_form::Submission;

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

/// A cached statement keeps the plan it was prepared with. SQLite otherwise plans again
/// whenever a parameter it looked at while planning is bound anew, and it looks at every
/// `LIMIT ?`: the knowledge-base searches were prepared afresh for each mail (5% of a new
/// mail's instructions at a million tickets). The store has no statistics tables and no `LIKE ?`,
/// the other users of bound values, so the plans stay what they were.
fn plan_each_statement_once(conn: &Connection) -> StoreResult<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> StoreResult<Store> {
        keep_statement_journals_in_memory();
        let conn = Connection::open(path)?;
        let mut store = Store::configure(conn)?;
        store.migrate()?;
        Ok(store)
    }

    /// An empty, migrated database in memory: `inspect` before anything was ingested.
    pub fn open_memory() -> StoreResult<Store> {
        let conn = Connection::open_in_memory()?;
        plan_each_statement_once(&conn)?;
        let mut store = Store { conn };
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
        plan_each_statement_once(&conn)?;
        // Reports and lists read tens of thousands of rows in one go: pages mapped from the
        // operating system's cache instead of copied in by a read() each (a third of a
        // one-month report's time at a million tickets, bench/report_scale.rs).
        conn.pragma_update(None, "mmap_size", READ_MMAP_BYTES)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
        plan_each_statement_once(&conn)?;
        enable_wal(&conn)?;
        // A mail is acknowledged to the MTA, or moved out of its IMAP folder, once its
        // transaction commits: that commit must survive a power cut.
        conn.pragma_update(None, "synchronous", "full")?;
        conn.pragma_update(None, "foreign_keys", "on")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Store { conn })
    }

    /// How many migrations opening the store at `path` for writing would run (all of them for
    /// a store not made yet), read without changing anything.
    pub fn migrations_pending(path: &Path) -> StoreResult<usize> {
        if !path.exists() {
            return Ok(MIGRATIONS.len());
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok(MIGRATIONS.len().saturating_sub(version as usize))
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
        let mut rows_written = false;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)?;
            rows_written |= may_write_rows(migration);
        }
        // A migration may edit a table's definition in sqlite_schema (0024), which SQLite does
        // not count as a schema change: other connections reload theirs on a new version.
        let schema_version: i64 =
            tx.pragma_query_value(None, "schema_version", |row| row.get(0))?;
        tx.pragma_update(None, "schema_version", schema_version + 1)?;
        // Reading every reference of a million-ticket store takes 36 s, past systemd's start-up
        // timeout on a larger one: done when a migration may have written rows.
        let broken: Option<String> = if rows_written {
            tx.prepare("PRAGMA foreign_key_check")?
                .query_map([], |row| row.get::<_, String>(0))?
                .next()
                .transpose()?
        } else {
            None
        };
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
            first_unindexed: std::cell::Cell::new(None),
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

/// Each mail of a batch is written in a savepoint, and SQLite journals every page the mail
/// changes (about 40) so that the savepoint can be rolled back. Past 64 KiB, its default, that
/// journal goes to a temporary file: 40 page writes a mail to a file nobody reads unless a mail
/// fails. Up to `STATEMENT_JOURNAL_IN_MEMORY` a savepoint's journal now stays in memory.
/// SQLite takes this setting only before its first connection; later calls change nothing.
fn keep_statement_journals_in_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_STMTJRNL_SPILL takes one int. sqlite3_config is not thread-safe
        // against connections being opened; `Once` runs it before this process opens any (the
        // call fails harmlessly with SQLITE_MISUSE if something else opened one first).
        let code = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                STATEMENT_JOURNAL_IN_MEMORY,
            )
        };
        if code != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                code,
                "SQLite was initialised already: statement journals spill at 64 KiB"
            );
        }
    });
}

const STATEMENT_JOURNAL_IN_MEMORY: std::os::raw::c_int = 8 << 20;

/// Queries shared by reads and the write transaction.
pub struct Reader<'c> {
    conn: &'c Connection,
}

pub struct WriteTx<'c> {
    tx: rusqlite::Transaction<'c>,
    /// The lowest id of an inbound message this transaction stored: from there on, inbound
    /// messages enter the full-text index at commit (migration 0022). Rows a savepoint rolled
    /// back are simply not there any more.
    first_unindexed: std::cell::Cell<Option<i64>>,
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.tx
    }
}

/// A message row as the writers insert it.
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

impl<'a> MessageInsert<'a> {
    /// An inbound mail as received: its headers and raw bytes from `record`, `text` as stored.
    fn inbound(
        record: &InboundRecord<'a>,
        ticket: Option<i64>,
        (visibility, stranger): (&'a str, bool),
        kind: &'a str,
        text: &'a str,
        now: i64,
    ) -> MessageInsert<'a> {
        let mail = record.mail;
        MessageInsert {
            ticket,
            direction: "in",
            visibility,
            kind,
            message_id: mail.message_id.as_deref(),
            content_hash: record.content_hash,
            from: mail.from.as_ref().map(|m| m.address.as_str()),
            to: &mail.to,
            cc: &mail.cc,
            subject: &mail.subject,
            text,
            raw: record.raw,
            source: record.source,
            sent_date: mail.date,
            now,
            stranger,
        }
    }
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

/// Whether a migration may write rows, and so leave a reference dangling while foreign keys are
/// off: any statement that inserts, deletes, replaces, drops or renames a table, adds a column
/// that references one (its default fills every row), or updates a table other than
/// `sqlite_schema` (0024 edits only definitions there). Comments are left out; words in trigger
/// bodies count: a needless check is only slow.
fn may_write_rows(migration: &str) -> bool {
    // Compiled once: a new store runs every migration, and compiling these for each was 60% of
    // creating one.
    static WRITES: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)\b(INSERT|DELETE|REPLACE\s+INTO|DROP\s+TABLE|RENAME|ADD\s[^;]*\bREFERENCES)\b|\bUPDATE\s+(\w+)",
        )
        .expect("a valid pattern")
    });
    static COMMENTS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"--[^\n]*").expect("a valid pattern"));
    let statements = COMMENTS.replace_all(migration, "");
    let mut found = WRITES.captures_iter(&statements);
    found.any(|write| {
        write
            .get(2)
            .is_none_or(|table| !table.as_str().eq_ignore_ascii_case("sqlite_schema"))
    })
}

#[cfg(test)]
const TICKET_SEVEN: &str = "INSERT INTO tickets (number, subject, requester, status, priority,
        level, queue, language, created_at, updated_at)
    VALUES (7, 'Printer', 'carla@example.test', 'open', 'normal', 1, 'general', 'en', 10, 20)";

#[cfg(test)]
impl Store {
    /// An in-memory store holding ticket #7 (carla@example.test, open, general), for the tests of
    /// what points at a ticket.
    pub(super) fn with_one_ticket() -> (Store, TicketNumber) {
        let store = Store::open_memory().unwrap();
        store.conn.execute_batch(TICKET_SEVEN).unwrap();
        (store, TicketNumber(7))
    }

    /// The first column of every row `sql` returns, as text.
    pub(super) fn texts(&self, sql: &str) -> Vec<String> {
        self.conn
            .prepare(sql)
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A database file as a Guichet that knew only the first `version` migrations left it,
    /// holding what `rows` inserts (foreign keys on): for the tests of a migration.
    pub(super) fn older_database(path: &Path, version: usize, rows: &str) {
        let mut conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "foreign_keys", "on").unwrap();
        let tx = conn.transaction().unwrap();
        for migration in &MIGRATIONS[..version] {
            tx.execute_batch(migration).unwrap();
        }
        tx.pragma_update(None, "user_version", version as i64)
            .unwrap();
        tx.execute_batch(rows).unwrap();
        tx.commit().unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_list_is_ranked_from_the_open_tickets_index_and_only_a_page_reads_rows() {
        let store = Store::open_memory().unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                     language, created_at, updated_at, assignee, merged_into)
                 VALUES (1, 'Low', 'a@example.test', 'open', 'low', 1, 'general', 'en', 1, 1, NULL, NULL),
                        (2, 'Urgent', 'b@example.test', 'new', 'urgent', 2, 'it', 'en', 2, 2, 'bob', NULL),
                        (3, 'Done', 'c@example.test', 'resolved', 'urgent', 1, 'it', 'en', 3, 3, NULL, NULL),
                        (4, 'High', 'd@example.test', 'waiting', 'high', 1, 'it', 'en', 4, 4, NULL, NULL),
                        (5, 'Merged', 'e@example.test', 'closed', 'urgent', 1, 'it', 'en', 5, 5, NULL, 4);",
            )
            .unwrap();
        // Ranking reads no ticket row: a column added to it must be added to the index.
        let plan: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", reads::WORK_RANKING))
            .unwrap()
            .query_map(rusqlite::params![None::<String>, None::<u8>], |row| {
                row.get(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING COVERING INDEX tickets_open")),
            "{plan:?}"
        );
        let reader = store.read();
        let sla = crate::core::sla::SlaPolicy::default();
        let ranks = reader.work_ranking(None, None, &sla, 100).unwrap();
        let order: Vec<u64> = ranks.iter().map(|rank| rank.number).collect();
        assert_eq!(
            order,
            [2, 4, 1],
            "urgent, high, low; resolved and merged left out"
        );
        assert_eq!(ranks[0].assignee.as_deref(), Some("bob"));
        let in_it: Vec<u64> = reader
            .work_ranking(Some("it"), Some(1), &sla, 100)
            .unwrap()
            .iter()
            .map(|rank| rank.number)
            .collect();
        assert_eq!(in_it, [4]);
        let rows = reader.work_rows(ranks[1..].to_vec()).unwrap();
        let shown: Vec<(u64, &str, &str, &str, i64)> = rows
            .iter()
            .map(|row| {
                (
                    row.number,
                    row.subject.as_str(),
                    row.status.as_str(),
                    row.requester.as_str(),
                    row.urgency,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (4, "High", "waiting", "d@example.test", ranks[1].urgency),
                (1, "Low", "open", "a@example.test", ranks[2].urgency)
            ]
        );
    }

    /// A database as 0008 left it, with tickets other tables point at, survives the rebuild of
    /// `tickets` in 0009; the old per-address counts carry over, normalised.
    #[test]
    fn the_spam_migration_keeps_tickets_and_what_points_at_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.sqlite3");
        Store::older_database(
            &path,
            8,
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
        );
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

    #[test]
    fn pending_migrations_are_counted_without_running_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite3");
        assert_eq!(Store::migrations_pending(&path).unwrap(), MIGRATIONS.len());
        assert!(!path.exists(), "nothing made by counting");
        Store::older_database(&path, 20, "");
        assert_eq!(
            Store::migrations_pending(&path).unwrap(),
            MIGRATIONS.len() - 20,
            "counting migrated nothing"
        );
        drop(Store::open(&path).unwrap());
        assert_eq!(Store::migrations_pending(&path).unwrap(), 0);
    }

    /// Only a migration that edits definitions alone skips the check of every reference.
    #[test]
    fn migrations_that_write_rows_have_their_references_checked() {
        let checked: Vec<usize> = MIGRATIONS
            .iter()
            .enumerate()
            .filter(|(_, sql)| !may_write_rows(sql))
            .map(|(index, _)| index + 1)
            .collect();
        // 0024 edits CHECK constraints in sqlite_schema; the others that skip it add indexes,
        // triggers or empty tables only.
        assert!(checked.contains(&24), "{checked:?}");
        for rebuilt_or_filled in [9, 10, 12, 14, 17, 21, 23] {
            assert!(!checked.contains(&rebuilt_or_filled), "{checked:?}");
        }
        assert!(may_write_rows("update tickets set status = 'open'"));
        assert!(may_write_rows("ALTER TABLE a RENAME TO b"));
        assert!(may_write_rows(
            "ALTER TABLE a ADD COLUMN t INTEGER DEFAULT 7 REFERENCES tickets(number);"
        ));
        assert!(!may_write_rows(
            "UPDATE sqlite_schema SET sql = 'x'; CREATE INDEX i ON t(c);"
        ));
    }

    /// A cached statement bound with a new LIMIT runs on the plan it was prepared with.
    #[test]
    fn a_cached_statement_is_not_planned_again_for_a_new_limit() {
        let (store, _) = Store::with_one_ticket();
        store
            .conn
            .execute_batch(
                "INSERT INTO kb_ticket_fts (rowid, question, resolution)
                 VALUES (7, 'en_printer en_jam', 'en_open en_tray')",
            )
            .unwrap();
        // As the knowledge-base searches ask: a virtual table's rows ranked, a few taken.
        let sql = "SELECT rowid FROM kb_ticket_fts WHERE kb_ticket_fts MATCH ?1
                   ORDER BY rank LIMIT ?2";
        for limit in [1, 2, 5] {
            let mut statement = store.conn.prepare_cached(sql).unwrap();
            let numbers: Vec<i64> = statement
                .query_map(rusqlite::params!["en_jam", limit], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(numbers, [7]);
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "LIMIT {limit}"
            );
        }
    }

    /// Temporary b-trees a statement opens when it runs (SQLite builds one for an IN list of
    /// more than two constants, each time).
    fn temporary_btrees(conn: &Connection, sql: &str) -> usize {
        conn.prepare(&format!("EXPLAIN {sql}"))
            .unwrap()
            .query_map([], |row| row.get::<_, String>(1))
            .unwrap()
            .filter(|op| op.as_ref().unwrap() == "OpenEphemeral")
            .count()
    }

    /// 0024 turns the CHECK lists into comparisons: for the connection that migrates, for one
    /// that had the store open before, and with the same values refused.
    #[test]
    fn checks_compare_without_building_a_table_and_still_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.sqlite3");
        Store::older_database(&path, 23, "");
        let earlier = Connection::open(&path).unwrap();
        let change =
            "INSERT INTO ticket_changes (ticket, at, field, value) VALUES (7, 1, 'status', 'new')";
        assert_eq!(
            temporary_btrees(&earlier, change),
            1,
            "the list as 0014 wrote it"
        );
        let store = Store::open(&path).unwrap();
        store.conn.execute_batch(TICKET_SEVEN).unwrap();
        let writes = [
            change,
            "UPDATE tickets SET status = 'resolved', priority = 'high' WHERE number = 7",
            "UPDATE outbox SET status = 'sent' WHERE id = 1",
            "UPDATE outbox_recipients SET status = 'delivered' WHERE outbox = 1 AND address = 'a'",
            "UPDATE kb_articles SET state = 'published' WHERE id = 1",
            "INSERT INTO kb_links (article, ticket, relation, at) VALUES (1, 7, 'solved', 0)",
        ];
        // A connection notices a new schema version at its next read (EXPLAIN reads nothing).
        let tickets: i64 = earlier
            .query_row("SELECT count(*) FROM tickets", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tickets, 1);
        for sql in writes {
            assert_eq!(temporary_btrees(&store.conn, sql), 0, "{sql}");
            assert_eq!(
                temporary_btrees(&earlier, sql),
                0,
                "{sql}, connection opened earlier"
            );
        }
        let definitions =
            store.texts("SELECT sql FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL");
        let lists = regex::Regex::new(r"CHECK \(\w+ IN \([^()]*,[^()]*,").unwrap();
        for definition in &definitions {
            assert!(!lists.is_match(definition), "{definition}");
        }
        store.conn.execute_batch(change).unwrap();
        for refused in [
            "INSERT INTO ticket_changes (ticket, at, field, value) VALUES (7, 1, 'colour', 'red')",
            "UPDATE tickets SET status = 'eaten' WHERE number = 7",
            "UPDATE tickets SET priority = 'whenever' WHERE number = 7",
        ] {
            let error = store.conn.execute_batch(refused).unwrap_err().to_string();
            assert!(
                error.contains("CHECK constraint failed"),
                "{refused}: {error}"
            );
        }
        let integrity: String = store
            .conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

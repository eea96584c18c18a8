//! The JSON API's clients and the webhooks' queue (migration 0021).

use rusqlite::{params, OptionalExtension};

use super::{ticket_row, Reader, StoreResult, TicketRow, WriteTx};

/// A client of the API, as `guichet api-client` made it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiClient {
    pub name: String,
    /// The agent whose permissions its writes have; `None`: read only.
    pub agent: Option<String>,
    /// The queues it sees and acts on; empty: every queue.
    pub queues: Vec<String>,
    pub can_write: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl ApiClient {
    pub fn sees(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|q| q.eq_ignore_ascii_case(queue))
    }
}

/// Which tickets a list asks for: a page of numbers after `after`, in order.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery<'a> {
    /// Empty: every queue.
    pub queues: &'a [String],
    pub status: Option<&'a str>,
    pub queue: Option<&'a str>,
    /// Words searched in subjects and texts (SQLite FTS5 syntax, each word quoted).
    pub search: Option<&'a str>,
    pub after: u64,
    pub limit: usize,
}

/// One queued webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: i64,
    pub event: String,
    pub ticket: u64,
    pub at: i64,
    pub detail: String,
}

/// Where one webhook's deliveries stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookCursor {
    pub delivered_through: i64,
    pub failures: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

const CLIENT_COLUMNS: &str = "name, agent, queues, can_write, created_at, revoked_at";

fn client_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiClient> {
    let queues: String = row.get(2)?;
    Ok(ApiClient {
        name: row.get(0)?,
        agent: row.get(1)?,
        queues: serde_json::from_str(&queues).unwrap_or_default(),
        can_write: row.get(3)?,
        created_at: row.get(4)?,
        revoked_at: row.get(5)?,
    })
}

/// `"word" "word"`: what a person typed, as FTS5 terms that cannot be read as its operators.
fn fts_terms(search: &str) -> String {
    search
        .split_whitespace()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Reader<'_> {
    /// A ticket's own row, without its history.
    pub fn ticket_row(
        &self,
        number: crate::core::ticket::TicketNumber,
    ) -> StoreResult<Option<TicketRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT number, subject, requester, requester_name, status, priority, level, queue,
                        assignee, language, merged_into, created_at, updated_at
                 FROM tickets WHERE number = ?1",
            )?
            .query_row([number.0 as i64], ticket_row)
            .optional()?)
    }

    /// The live client whose token has this hash.
    pub fn api_client_by_token(&self, token_hash: &str) -> StoreResult<Option<ApiClient>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {CLIENT_COLUMNS} FROM api_clients WHERE token_hash = ?1 AND revoked_at IS NULL"
            ))?
            .query_row([token_hash], client_row)
            .optional()?)
    }

    pub fn api_clients(&self) -> StoreResult<Vec<ApiClient>> {
        Ok(self
            .conn
            .prepare(&format!(
                "SELECT {CLIENT_COLUMNS} FROM api_clients ORDER BY name"
            ))?
            .query_map([], client_row)?
            .collect::<Result<_, _>>()?)
    }

    /// A page of tickets, by number, from the primary key (and the full-text index when
    /// searching): never the whole table at once.
    pub fn ticket_page(&self, query: &TicketQuery<'_>) -> StoreResult<Vec<TicketRow>> {
        let queues = serde_json::to_string(query.queues).unwrap_or_else(|_| "[]".into());
        let search = query
            .search
            .map(fts_terms)
            .filter(|terms| !terms.is_empty());
        let sql =
            "SELECT number, subject, requester, requester_name, status, priority, level, queue,
                          assignee, language, merged_into, created_at, updated_at
                   FROM tickets
                   WHERE number > ?1
                     AND (?2 = '[]' OR lower(queue) IN (SELECT lower(value) FROM json_each(?2)))
                     AND (?3 IS NULL OR status = ?3)
                     AND (?4 IS NULL OR lower(queue) = lower(?4))
                     AND (?5 IS NULL OR number IN (
                           SELECT m.ticket FROM messages_fts f JOIN messages m ON m.id = f.rowid
                            WHERE messages_fts MATCH ?5))
                   ORDER BY number LIMIT ?6";
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_map(
                params![
                    query.after as i64,
                    queues,
                    query.status,
                    query.queue,
                    search,
                    query.limit as i64
                ],
                ticket_row,
            )?
            .collect::<Result<_, _>>()?)
    }

    /// The (kind, detail) of the events of the inbound mail with this Message-ID, in order.
    pub fn inbound_events(&self, message_id: &str) -> StoreResult<Vec<(String, String)>> {
        let Some(id) = self
            .conn
            .prepare_cached("SELECT id FROM messages WHERE message_id = ?1 AND direction = 'in'")?
            .query_row([message_id], |row| row.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(Vec::new());
        };
        let events = self
            .conn
            .prepare_cached("SELECT kind, detail FROM events WHERE message = ?1 ORDER BY id")?
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(events)
    }

    pub fn webhook_cursor(&self, webhook: &str) -> StoreResult<Option<WebhookCursor>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT delivered_through, failures, next_attempt_at, last_error
                   FROM webhook_cursors WHERE webhook = ?1",
            )?
            .query_row([webhook], |row| {
                Ok(WebhookCursor {
                    delivered_through: row.get(0)?,
                    failures: row.get(1)?,
                    next_attempt_at: row.get(2)?,
                    last_error: row.get(3)?,
                })
            })
            .optional()?)
    }

    /// The first queued event after `after` among `events`.
    pub fn next_webhook_event(
        &self,
        after: i64,
        events: &[String],
    ) -> StoreResult<Option<WebhookEvent>> {
        let wanted = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, event, ticket, at, detail FROM webhook_events
                  WHERE id > ?1 AND event IN (SELECT value FROM json_each(?2))
                  ORDER BY id LIMIT 1",
            )?
            .query_row(params![after, wanted], |row| {
                Ok(WebhookEvent {
                    id: row.get(0)?,
                    event: row.get(1)?,
                    ticket: row.get::<_, i64>(2)? as u64,
                    at: row.get(3)?,
                    detail: row.get(4)?,
                })
            })
            .optional()?)
    }
}

impl WriteTx<'_> {
    /// Makes a client, or gives a revoked one's name to a new one. `false`: a live client
    /// has this name.
    pub fn create_api_client(&self, client: &ApiClient, token_hash: &str) -> StoreResult<bool> {
        let changed = self
            .tx
            .prepare_cached(&format!(
                "INSERT INTO api_clients ({CLIENT_COLUMNS}, token_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)
                 ON CONFLICT (name) DO UPDATE SET agent = ?2, queues = ?3, can_write = ?4,
                     created_at = ?5, revoked_at = NULL, token_hash = ?6
                  WHERE revoked_at IS NOT NULL"
            ))?
            .execute(params![
                client.name,
                client.agent,
                serde_json::to_string(&client.queues).unwrap_or_else(|_| "[]".into()),
                client.can_write,
                client.created_at,
                token_hash
            ])?;
        Ok(changed == 1)
    }

    /// `false`: no live client has this name.
    pub fn revoke_api_client(&self, name: &str, now: i64) -> StoreResult<bool> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE api_clients SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![name, now])?
            == 1)
    }

    /// A webhook seen for the first time starts after the events already queued: it gets what
    /// happens from now on, not the history.
    pub fn start_webhook(&self, webhook: &str) -> StoreResult<WebhookCursor> {
        self.tx
            .prepare_cached(
                "INSERT INTO webhook_cursors (webhook, delivered_through)
                 VALUES (?1, (SELECT coalesce(max(id), 0) FROM webhook_events))
                 ON CONFLICT (webhook) DO NOTHING",
            )?
            .execute([webhook])?;
        Ok(self
            .read()
            .webhook_cursor(webhook)?
            .expect("the cursor was just written"))
    }

    pub fn webhook_delivered(&self, webhook: &str, through: i64) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "UPDATE webhook_cursors SET delivered_through = max(delivered_through, ?2),
                     failures = 0, next_attempt_at = 0, last_error = NULL
                  WHERE webhook = ?1",
            )?
            .execute(params![webhook, through])?;
        Ok(())
    }

    pub fn webhook_failed(
        &self,
        webhook: &str,
        failures: u32,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "UPDATE webhook_cursors SET failures = ?2, next_attempt_at = ?3, last_error = ?4
                  WHERE webhook = ?1",
            )?
            .execute(params![webhook, failures, next_attempt_at, error])?;
        Ok(())
    }

    /// Forgets events every configured webhook has, and cursors of webhooks no longer
    /// configured; with none configured, events older than `keep_from`.
    pub fn prune_webhook_events(&self, webhooks: &[String], keep_from: i64) -> StoreResult<()> {
        let names = serde_json::to_string(webhooks).unwrap_or_else(|_| "[]".into());
        self.tx
            .prepare_cached(
                "DELETE FROM webhook_cursors WHERE webhook NOT IN (SELECT value FROM json_each(?1))",
            )?
            .execute([&names])?;
        if webhooks.is_empty() {
            self.tx
                .prepare_cached("DELETE FROM webhook_events WHERE at < ?1")?
                .execute([keep_from])?;
        } else {
            self.tx
                .prepare_cached(
                    "DELETE FROM webhook_events
                      WHERE id <= (SELECT min(delivered_through) FROM webhook_cursors)",
                )?
                .execute([])?;
        }
        Ok(())
    }
}

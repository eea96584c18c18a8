//! A person's data and retention: what `export-person` reads, what `forget` and the retention
//! task erase. Erased text reads `(erased)` (`core::personal_data::ERASED`); events keep their
//! time and kind (migration 0017 allows nothing else to change).
//!
//! Files are the caller's: these functions return the attachment hashes no row references any
//! more, for the caller to delete once the transaction committed.

use rusqlite::params;

use super::*;
use crate::core::personal_data::{ticket_erasure, Redaction, TicketErasure, ERASED};
use crate::core::retention::RetainedTicket;

/// A mail a person sent or was sent, as `export-person` writes it.
#[derive(Debug, Clone)]
pub struct PersonMail {
    pub id: i64,
    pub ticket: Option<u64>,
    pub from: Option<String>,
    pub created_at: i64,
    pub raw: Vec<u8>,
    pub attachments: Vec<AttachmentRow>,
}

/// What `forget` changed, without saying whose data it was.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    pub tickets_whole: Vec<u64>,
    pub tickets_in_part: Vec<u64>,
    pub messages_erased: u64,
    pub messages_redacted: u64,
    pub events_erased: u64,
    pub quarantined_erased: u64,
    /// Attachment hashes no row references any more: their files go after the commit.
    pub unreferenced: Vec<String>,
}

/// `SELECT … WHERE` clause: the message was sent by or to `?1` (lowercase).
const SENT_BY_OR_TO: &str = "(lower(m.from_addr) = ?1
     OR EXISTS (SELECT 1 FROM json_each(m.to_addrs) WHERE lower(value) = ?1)
     OR EXISTS (SELECT 1 FROM json_each(m.cc_addrs) WHERE lower(value) = ?1))";

impl Reader<'_> {
    /// The names the store holds for an address (as participant or requester).
    pub fn person_names(&self, address: &str) -> StoreResult<Vec<String>> {
        let mut names: Vec<String> = self
            .conn
            .prepare(
                "SELECT name FROM participants WHERE lower(address) = ?1 AND name IS NOT NULL
                 UNION SELECT requester_name FROM tickets
                       WHERE lower(requester) = ?1 AND requester_name IS NOT NULL",
            )?
            .query_map([address], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        names.retain(|n: &String| !n.trim().is_empty());
        Ok(names)
    }

    /// Tickets a person asked, took part in, or sent or was sent mail on.
    pub fn person_tickets(&self, address: &str) -> StoreResult<Vec<TicketNumber>> {
        let sql = format!(
            "SELECT number FROM tickets WHERE lower(requester) = ?1
             UNION SELECT ticket FROM participants WHERE lower(address) = ?1
             UNION SELECT m.ticket FROM messages m WHERE m.ticket IS NOT NULL AND {SENT_BY_OR_TO}
             ORDER BY 1"
        );
        let numbers = self
            .conn
            .prepare(&sql)?
            .query_map([address], |row| row.get::<_, i64>(0))?
            .map(|n| n.map(|n| TicketNumber(n as u64)))
            .collect::<Result<_, _>>()?;
        Ok(numbers)
    }

    /// Every mail a person sent or was sent, oldest first, with its raw bytes and attachments.
    pub fn person_mails(&self, address: &str) -> StoreResult<Vec<PersonMail>> {
        let sql = format!(
            "SELECT m.id, m.ticket, m.from_addr, m.created_at, m.raw FROM messages m
             WHERE {SENT_BY_OR_TO} ORDER BY m.id"
        );
        let mut mails: Vec<PersonMail> = self
            .conn
            .prepare(&sql)?
            .query_map([address], |row| {
                Ok(PersonMail {
                    id: row.get(0)?,
                    ticket: row.get::<_, Option<i64>>(1)?.map(|n| n as u64),
                    from: row.get(2)?,
                    created_at: row.get(3)?,
                    raw: row.get(4)?,
                    attachments: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        for mail in &mut mails {
            mail.attachments = self.message_attachments(mail.id)?;
        }
        Ok(mails)
    }

    /// Done tickets not yet purged whole (`only` that one): what retention looks at.
    pub fn retention_candidates(
        &self,
        only: Option<TicketNumber>,
    ) -> StoreResult<Vec<RetainedTicket>> {
        let rows = self
            .conn
            .prepare(
                "SELECT t.number, t.status, t.updated_at,
                        EXISTS (SELECT 1 FROM messages m WHERE m.ticket = t.number
                                AND (length(m.raw) > 0
                                     OR EXISTS (SELECT 1 FROM attachments a WHERE a.message = m.id))
                                AND m.id NOT IN (SELECT message FROM outbox WHERE status = 'pending'))
                 FROM tickets t
                 WHERE t.status IN ('resolved', 'closed') AND t.purged_at IS NULL
                   AND (?1 IS NULL OR t.number = ?1)
                 ORDER BY t.number",
            )?
            .query_map([only.map(|n| n.0 as i64)], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, bool>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(number, status, updated_at, holds_raw)| {
                Ok(RetainedTicket {
                    number: TicketNumber(number as u64),
                    status: status.parse().map_err(|_| {
                        StoreError::Corrupt(format!("ticket #{number}: status {status}"))
                    })?,
                    updated_at,
                    holds_raw,
                    purged: false,
                })
            })
            .collect()
    }
}

impl WriteTx<'_> {
    /// Raw mail and attachments of a ticket go; its text, metadata and events stay.
    pub fn purge_raw(&self, number: TicketNumber, now: i64, days: u32) -> StoreResult<Vec<String>> {
        let n = number.0 as i64;
        let hashes = self.drop_attachments(
            "SELECT id FROM messages WHERE ticket = ?1
               AND id NOT IN (SELECT message FROM outbox WHERE status = 'pending')",
            n,
        )?;
        let purged = self
            .tx
            // A mail still waiting in the outbox keeps its bytes until it is sent or given up.
            .prepare_cached(
                "UPDATE messages SET raw = x'' WHERE ticket = ?1 AND length(raw) > 0
                   AND id NOT IN (SELECT message FROM outbox WHERE status = 'pending')",
            )?
            .execute([n])?;
        self.system_event(
            Some(n),
            now,
            "retention_purged",
            &format!(
                "raw mail ({purged} messages) and {} attachment files purged, done for {days} days",
                hashes.len()
            ),
        )?;
        self.unreferenced(hashes)
    }

    /// A ticket's content goes (see `erase_ticket`); its number and events stay.
    pub fn purge_ticket(
        &self,
        number: TicketNumber,
        now: i64,
        days: u32,
    ) -> StoreResult<Vec<String>> {
        let hashes = self.erase_ticket(number)?;
        self.tx
            .prepare_cached("UPDATE tickets SET purged_at = ?2 WHERE number = ?1")?
            .execute(params![number.0 as i64, now])?;
        self.system_event(
            Some(number.0 as i64),
            now,
            "retention_purged",
            &format!("whole ticket purged, done for {days} days"),
        )?;
        self.unreferenced(hashes)
    }

    /// Erases a person: see the README's "Personal data". `address` is lowercase;
    /// `quarantined` are the content hashes of quarantined mail that names them (the caller read
    /// the files).
    pub fn forget(&self, address: &str, quarantined: &[String], now: i64) -> StoreResult<Erasure> {
        let erased_events = |tx: &Self| -> StoreResult<u64> {
            let n: i64 = tx.tx.query_row(
                "SELECT count(*) FROM events WHERE actor = ?1 OR detail = ?1",
                [ERASED],
                |row| row.get(0),
            )?;
            Ok(n as u64)
        };
        let erased_before = erased_events(self)?;
        let names = self.read().person_names(address)?;
        let redaction = Redaction::new(address, &names);
        let mut erasure = Erasure::default();
        let mut hashes = Vec::new();
        for number in self.read().person_tickets(address)? {
            let n = number.0 as i64;
            let requester: String = self.tx.query_row(
                "SELECT requester FROM tickets WHERE number = ?1",
                [n],
                |row| row.get(0),
            )?;
            let others: i64 = self.tx.query_row(
                "SELECT count(*) FROM participants WHERE ticket = ?1 AND lower(address) <> ?2",
                params![n, address],
                |row| row.get(0),
            )?;
            let how = ticket_erasure(requester.eq_ignore_ascii_case(address), others as usize);
            match how {
                TicketErasure::Whole => {
                    erasure.messages_erased += self.count_messages(n)?;
                    hashes.extend(self.erase_ticket(number)?);
                    erasure.tickets_whole.push(number.0);
                }
                TicketErasure::TheirPart => {
                    // Their mail, Guichet's mail to them, and what Guichet sent because of
                    // their mail (written in the same transaction, hence at the same instant).
                    // Others' mail that only named them as a recipient stays, redacted below.
                    let sql = format!(
                        "SELECT m.id FROM messages m WHERE m.ticket = ?2 AND (lower(m.from_addr) = ?1
                           OR (m.direction = 'out' AND ({SENT_BY_OR_TO} OR m.created_at IN
                               (SELECT created_at FROM messages WHERE ticket = ?2 AND direction = 'in'
                                AND lower(from_addr) = ?1))))"
                    );
                    let ids: Vec<i64> = self
                        .tx
                        .prepare(&sql)?
                        .query_map(params![address, n], |row| row.get(0))?
                        .collect::<Result<_, _>>()?;
                    for id in &ids {
                        hashes.extend(self.erase_message(*id)?);
                    }
                    erasure.messages_erased += ids.len() as u64;
                    self.tx.execute(
                        "UPDATE tickets SET requester = ?3, requester_name = NULL
                         WHERE number = ?1 AND lower(requester) = ?2",
                        params![n, address, ERASED],
                    )?;
                    erasure.tickets_in_part.push(number.0);
                }
            }
            self.tx.execute(
                "DELETE FROM participants WHERE ticket = ?1 AND lower(address) = ?2",
                params![n, address],
            )?;
            self.system_event(
                Some(n),
                now,
                "person_erased",
                match how {
                    TicketErasure::Whole => "a person's personal data erased: the whole ticket",
                    TicketErasure::TheirPart => {
                        "a person's personal data erased: their mail and identity"
                    }
                },
            )?;
        }
        // Mail outside tickets (about the knowledge base).
        let sql = format!(
            "SELECT m.id FROM messages m WHERE m.ticket IS NULL
               AND (lower(m.from_addr) = ?1 OR (m.direction = 'out' AND {SENT_BY_OR_TO}))"
        );
        let ids: Vec<i64> = self
            .tx
            .prepare(&sql)?
            .query_map([address], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for id in &ids {
            hashes.extend(self.erase_message(*id)?);
        }
        erasure.messages_erased += ids.len() as u64;
        // Requests sent from the form in their name, confirmed or not, and their files.
        let submitted: Vec<String> = self
            .tx
            .prepare(
                "SELECT json_extract(value, '$[3]') FROM web_submissions, json_each(attachments)
                  WHERE address = ?1",
            )?
            .query_map([address], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        self.tx
            .execute("DELETE FROM web_submissions WHERE address = ?1", [address])?;
        hashes.extend(submitted);
        erasure.messages_redacted = self.redact_everywhere(&redaction, address)?;
        self.erase_events(&redaction)?;
        erasure.events_erased = erased_events(self)? - erased_before;
        for hash in quarantined {
            self.tx
                .execute("DELETE FROM quarantine WHERE content_hash = ?1", [hash])?;
        }
        erasure.quarantined_erased = quarantined.len() as u64;
        let touched: Vec<u64> = erasure
            .tickets_whole
            .iter()
            .chain(&erasure.tickets_in_part)
            .copied()
            .collect();
        self.reindex_knowledge(&touched)?;
        self.system_event(
            None,
            now,
            "person_erased",
            &format!(
                "a person's personal data erased: {} tickets whole, {} in part, {} messages, \
                 {} quarantined mails",
                erasure.tickets_whole.len(),
                erasure.tickets_in_part.len(),
                erasure.messages_erased,
                quarantined.len()
            ),
        )?;
        // Deleted index entries stay in FTS5 segments until they merge: merge them now.
        self.tx.execute_batch(
            "INSERT INTO messages_fts(messages_fts) VALUES ('optimize');
             INSERT INTO kb_fts(kb_fts) VALUES ('optimize');
             INSERT INTO kb_ticket_fts(kb_ticket_fts) VALUES ('optimize');
             DELETE FROM kb_ticket_terms;
             INSERT INTO kb_ticket_terms (term, doc) SELECT term, doc FROM kb_ticket_fts_terms;
             DELETE FROM kb_article_terms;
             INSERT INTO kb_article_terms (term, doc) SELECT term, doc FROM kb_fts_terms;",
        )?;
        erasure.unreferenced = self.unreferenced(hashes)?;
        Ok(erasure)
    }

    /// Everything a ticket holds about people goes: its messages (text, raw, addresses,
    /// attachments), subject, requester, resolution, fields and participants; its events read
    /// `(erased)`. Returns the attachment hashes its rows referenced.
    fn erase_ticket(&self, number: TicketNumber) -> StoreResult<Vec<String>> {
        let n = number.0 as i64;
        let ids: Vec<i64> = self
            .tx
            .prepare("SELECT id FROM messages WHERE ticket = ?1")?
            .query_map([n], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut hashes = Vec::new();
        for id in ids {
            hashes.extend(self.erase_message(id)?);
        }
        self.tx.execute(
            "UPDATE tickets SET subject = ?2, requester = ?2, requester_name = NULL, resolution = NULL
             WHERE number = ?1",
            params![n, ERASED],
        )?;
        self.tx
            .execute("DELETE FROM ticket_fields WHERE ticket = ?1", [n])?;
        self.tx
            .execute("DELETE FROM participants WHERE ticket = ?1", [n])?;
        self.tx.execute(
            "UPDATE events SET actor = ?2, detail = ?2
             WHERE ticket = ?1 AND (actor <> ?2 OR detail <> ?2)",
            params![n, ERASED],
        )?;
        self.tx
            .execute("DELETE FROM automatic_mail WHERE ticket = ?1", [n])?;
        self.reindex_knowledge(&[number.0])?;
        Ok(hashes)
    }

    /// A message's content and addresses go, with its attachments' rows, its outbox recipients
    /// and the details of its events; a mail not yet sent never will be.
    fn erase_message(&self, id: i64) -> StoreResult<Vec<String>> {
        let hashes = self.drop_attachments("SELECT ?1", id)?;
        self.tx.execute(
            "UPDATE messages SET subject = ?2, text = ?2, raw = x'', from_addr = NULL,
                 to_addrs = '[]', cc_addrs = '[]'
             WHERE id = ?1",
            params![id, ERASED],
        )?;
        self.tx.execute(
            "UPDATE events SET detail = ?2 WHERE message = ?1 AND detail <> ?2",
            params![id, ERASED],
        )?;
        self.tx.execute(
            "DELETE FROM outbox_recipients WHERE outbox IN (SELECT id FROM outbox WHERE message = ?1)",
            [id],
        )?;
        self.tx.execute(
            "UPDATE outbox SET recipients = '[]', last_error = NULL, notify_address = NULL,
                 notify_name = NULL,
                 status = CASE WHEN status = 'pending' THEN 'dead' ELSE status END
             WHERE message = ?1",
            [id],
        )?;
        self.tx
            .execute("DELETE FROM automatic_mail WHERE message = ?1", [id])?;
        Ok(hashes)
    }

    /// The address and names cut out of every text column that may quote them.
    fn redact_everywhere(&self, redaction: &Redaction, address: &str) -> StoreResult<u64> {
        let mut redacted = 0;
        for needle in needles(redaction, address) {
            let ids: Vec<i64> = self
                .tx
                .prepare(
                    "SELECT id FROM messages WHERE instr(lower(subject), lower(?1)) > 0
                        OR instr(lower(text), lower(?1)) > 0 OR instr(lower(CAST(raw AS TEXT)), lower(?1)) > 0
                        OR instr(lower(to_addrs), lower(?1)) > 0 OR instr(lower(cc_addrs), lower(?1)) > 0
                        OR instr(lower(from_addr), lower(?1)) > 0",
                )?
                .query_map([&needle], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                let (subject, text, raw, to, cc, from): (
                    String,
                    String,
                    Vec<u8>,
                    String,
                    String,
                    Option<String>,
                ) = self.tx.query_row(
                    "SELECT subject, text, raw, to_addrs, cc_addrs, from_addr FROM messages WHERE id = ?1",
                    [id],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    },
                )?;
                self.tx.execute(
                    "UPDATE messages SET subject = ?2, text = ?3, raw = ?4, to_addrs = ?5,
                         cc_addrs = ?6, from_addr = ?7 WHERE id = ?1",
                    params![
                        id,
                        redaction.text(&subject),
                        redaction.text(&text),
                        redaction.bytes(&raw),
                        redaction.text(&to),
                        redaction.text(&cc),
                        from.map(|f| redaction.text(&f))
                    ],
                )?;
                redacted += 1;
            }
            // Smaller tables: rewrite every row that mentions the person.
            for (table, key, column) in [
                ("tickets", "number", "subject"),
                ("tickets", "number", "requester_name"),
                ("tickets", "number", "resolution"),
                ("participants", "rowid", "name"),
                ("ticket_fields", "rowid", "value"),
                ("outbox", "id", "recipients"),
                ("outbox", "id", "last_error"),
                ("outbox_recipients", "rowid", "last_error"),
                ("mailbox_state", "name", "last_error"),
            ] {
                // WITHOUT ROWID tables are keyed by their primary key instead.
                let key = match table {
                    "participants" => "ticket || ' ' || address",
                    "ticket_fields" => "ticket || ' ' || name",
                    "outbox_recipients" => "outbox || ' ' || address",
                    _ => key,
                };
                let rows: Vec<(String, String)> = self
                    .tx
                    .prepare(&format!(
                        "SELECT CAST({key} AS TEXT), {column} FROM {table}
                         WHERE instr(lower({column}), lower(?1)) > 0"
                    ))?
                    .query_map([&needle], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                for (row_key, value) in rows {
                    self.tx.execute(
                        &format!("UPDATE {table} SET {column} = ?2 WHERE CAST({key} AS TEXT) = ?1"),
                        params![row_key, redaction.text(&value)],
                    )?;
                }
            }
            self.tx.execute(
                "DELETE FROM outbox_recipients WHERE instr(lower(address), lower(?1)) > 0",
                [&needle],
            )?;
            self.tx.execute(
                "DELETE FROM automatic_mail WHERE instr(lower(address), lower(?1)) > 0
                    OR instr(lower(coalesce(cause, '')), lower(?1)) > 0",
                [&needle],
            )?;
        }
        self.tx.execute(
            "UPDATE tickets SET requester = ?2 WHERE instr(lower(requester), lower(?1)) > 0",
            params![address, ERASED],
        )?;
        Ok(redacted)
    }

    /// Events whose actor or detail names the person read `(erased)`.
    fn erase_events(&self, redaction: &Redaction) -> StoreResult<()> {
        for needle in needles(redaction, "") {
            self.tx.execute(
                "UPDATE events SET actor = CASE WHEN instr(lower(actor), lower(?1)) > 0 THEN ?2 ELSE actor END,
                                   detail = CASE WHEN instr(lower(detail), lower(?1)) > 0 THEN ?2 ELSE detail END
                 WHERE instr(lower(actor), lower(?1)) > 0 OR instr(lower(detail), lower(?1)) > 0",
                params![needle, ERASED],
            )?;
        }
        Ok(())
    }

    /// The attachment rows of the messages `select` (one `?1` parameter) names go; returns
    /// their hashes.
    fn drop_attachments(&self, select: &str, param: i64) -> StoreResult<Vec<String>> {
        let hashes: Vec<String> = self
            .tx
            .prepare(&format!(
                "SELECT sha256 FROM attachments WHERE message IN ({select})"
            ))?
            .query_map([param], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        self.tx.execute(
            &format!("DELETE FROM attachments WHERE message IN ({select})"),
            [param],
        )?;
        Ok(hashes)
    }

    /// Those of `hashes` no attachment row references any more.
    fn unreferenced(&self, mut hashes: Vec<String>) -> StoreResult<Vec<String>> {
        hashes.sort();
        hashes.dedup();
        let mut referenced = self.tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?1)
                     OR EXISTS (SELECT 1 FROM web_submissions, json_each(attachments)
                                 WHERE json_extract(value, '$[3]') = ?1)",
        )?;
        let mut gone = Vec::new();
        for hash in hashes {
            if !referenced.query_row([&hash], |row| row.get::<_, bool>(0))? {
                gone.push(hash);
            }
        }
        Ok(gone)
    }

    fn count_messages(&self, ticket: i64) -> StoreResult<u64> {
        let count: i64 = self.tx.query_row(
            "SELECT count(*) FROM messages WHERE ticket = ?1",
            [ticket],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// The knowledge indexes hold tickets' questions: re-read from what is left.
    fn reindex_knowledge(&self, tickets: &[u64]) -> StoreResult<()> {
        for &number in tickets {
            self.index_resolved_ticket(TicketNumber(number))?;
            let articles: Vec<i64> = self
                .tx
                .prepare_cached("SELECT DISTINCT article FROM kb_links WHERE ticket = ?1")?
                .query_map([number as i64], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for article in articles {
                self.reindex_article(crate::core::knowledge::ArticleId(article as u64))?;
            }
        }
        Ok(())
    }

    fn system_event(
        &self,
        ticket: Option<i64>,
        now: i64,
        kind: &str,
        detail: &str,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO events (ticket, at, actor, kind, detail) VALUES (?1, ?2, 'guichet', ?3, ?4)",
            )?
            .execute(params![ticket, now, kind, detail])?;
        Ok(())
    }
}

/// The lowercase strings to look for: the address (when given) and the names.
fn needles(redaction: &Redaction, address: &str) -> Vec<String> {
    let mut needles: Vec<String> = redaction
        .needles()
        .iter()
        .map(|n| n.to_lowercase())
        .collect();
    if !address.is_empty() && !needles.iter().any(|n| n == address) {
        needles.push(address.to_string());
    }
    needles
}

impl Store {
    /// Freed pages are overwritten: erased data does not linger in the file.
    pub fn secure_delete(&self) -> StoreResult<()> {
        self.conn.pragma_update(None, "secure_delete", "on")?;
        Ok(())
    }

    /// Rewrites the database without its free pages.
    pub fn vacuum(&self) -> StoreResult<()> {
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }

    /// Moves the WAL into the database and empties it, when no reader holds it; erased data
    /// then leaves the WAL file too. Returns whether it could.
    pub fn checkpoint(&self) -> StoreResult<bool> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        Ok(busy == 0)
    }
}

//! One inbound mail, start to end: size check, parse, dedupe, thread, decide, render, store, all
//! in one transaction. `guichet ingest` and every mail source go through `Pipeline::ingest`.
//!
//! **Invariant:** a mail is never dropped. It makes or joins a ticket, is recognised as a duplicate
//! of a stored mail, or is kept raw in the quarantine with its reason. When none of these can be
//! written now, `ingest` returns `IngestError::Temporary` and the caller must keep the mail.

use std::path::PathBuf;
use std::sync::Arc;

use crate::adapters::blobs::BlobStore;
use crate::adapters::parse::{content_hash, parse_mail};
use crate::adapters::render::render;
use crate::adapters::store::{InboundRecord, Reader, RenderedMail, Store, StoreError, WriteTx};
use crate::config::Config;
use crate::core::intake::{decide_intake, IntakeInput, IntakePlan, TicketChange, Visibility};
use crate::core::loops::AutoReplyVerdict;
use crate::core::mail::InboundMail;
use crate::core::subject::TagFormat;
use crate::core::threading::{decide_thread, ThreadClues, ThreadDecision};
use crate::core::ticket::TicketNumber;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IngestOutcome {
    Created {
        ticket: TicketNumber,
        acknowledged: bool,
    },
    Appended {
        ticket: TicketNumber,
        visibility: Visibility,
    },
    Duplicate {
        ticket: Option<TicketNumber>,
    },
    Quarantined {
        id: i64,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Nothing was written; try again later (an MTA keeps the mail: exit 75).
    #[error("cannot store the mail now, try again later: {0}")]
    Temporary(String),
}

impl From<StoreError> for IngestError {
    fn from(error: StoreError) -> IngestError {
        IngestError::Temporary(error.to_string())
    }
}

impl From<std::io::Error> for IngestError {
    fn from(error: std::io::Error) -> IngestError {
        IngestError::Temporary(format!("file system: {error}"))
    }
}

/// Where a mail came from: a name for the record, and the queue its new tickets open in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub queue: Option<String>,
}

impl Source {
    pub fn named(name: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            queue: None,
        }
    }
}

pub struct Pipeline {
    config: Arc<Config>,
    store: Store,
    attachments: BlobStore,
    quarantine: BlobStore,
}

/// Seconds since the epoch from the system clock: only mail sources and the CLI call this.
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn attachments_dir(config: &Config) -> PathBuf {
    config.state_dir.join("attachments")
}

impl Pipeline {
    pub fn open(config: Arc<Config>) -> Result<Pipeline, IngestError> {
        std::fs::create_dir_all(&config.state_dir)?;
        Ok(Pipeline {
            store: Store::open(&config.database_path())?,
            attachments: BlobStore::new(attachments_dir(&config)),
            quarantine: BlobStore::new(config.state_dir.join("quarantine")),
            config,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Stores one mail from `source` (recorded with the mail), opening any new ticket in the
    /// source's queue when it names one. Durable once it returns `Ok`.
    pub fn ingest(
        &mut self,
        raw: &[u8],
        source: &Source,
        now: i64,
    ) -> Result<IngestOutcome, IngestError> {
        let mut outcomes = self.ingest_batch(&[raw], source, now)?;
        Ok(outcomes.pop().expect("one outcome per mail"))
    }

    /// Stores mails in one transaction (one disk flush for the lot), each in its own savepoint:
    /// a mail the store refuses is quarantined without undoing the others. Either every mail has
    /// its outcome and the whole batch is durable, or nothing was stored (`Temporary`).
    pub fn ingest_batch(
        &mut self,
        mails: &[&[u8]],
        source: &Source,
        now: i64,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        let mut outcomes = Vec::with_capacity(mails.len());
        let mut tx = self.store.write()?;
        for raw in mails {
            let prepared = prepare(&self.config, &self.attachments, raw)?;
            tx.savepoint()?;
            let outcome = match &prepared {
                Prepared::Mail { mail, hash } => {
                    store_mail(&self.config, &tx, raw, mail, hash, source, now)
                }
                Prepared::Reject { hash, reason } => {
                    store_quarantine(&self.quarantine, &tx, raw, hash, &source.name, reason, now)
                }
            };
            let outcome = match outcome {
                Ok(outcome) => {
                    tx.release_savepoint()?;
                    outcome
                }
                Err(error) if error.is_temporary() => return Err(error.into()),
                Err(error) => {
                    // A mail the store cannot take (a bug, a constraint) must not block the rest.
                    tx.rollback_savepoint()?;
                    let reason = match &error {
                        StoreError::Refused(reason) => reason.clone(),
                        other => format!("the store refused it: {other}"),
                    };
                    let hash = match &prepared {
                        Prepared::Mail { hash, .. } | Prepared::Reject { hash, .. } => hash.clone(),
                    };
                    store_quarantine(
                        &self.quarantine,
                        &tx,
                        raw,
                        &hash,
                        &source.name,
                        &reason,
                        now,
                    )?
                }
            };
            outcomes.push(outcome);
        }
        tx.commit()?;
        for outcome in &outcomes {
            if let IngestOutcome::Quarantined { id, reason } = outcome {
                tracing::warn!(source = %source.name, id, reason, "mail quarantined");
            }
        }
        Ok(outcomes)
    }

    /// Quarantines a mail with the caller's reason, in a transaction of its own: for a mail that
    /// `ingest` could not store however often it was tried, while the store took other writes.
    pub fn quarantine_raw(
        &mut self,
        raw: &[u8],
        source: &Source,
        reason: &str,
        now: i64,
    ) -> Result<IngestOutcome, IngestError> {
        let tx = self.store.write()?;
        let outcome = store_quarantine(
            &self.quarantine,
            &tx,
            raw,
            &content_hash(raw),
            &source.name,
            reason,
            now,
        )?;
        tx.commit()?;
        if let IngestOutcome::Quarantined { id, reason } = &outcome {
            tracing::warn!(source = %source.name, id, reason, "mail quarantined");
        }
        Ok(outcome)
    }
}

/// A mail read and checked, its attachments written: ready for the transaction.
enum Prepared {
    Mail {
        mail: Box<InboundMail>,
        hash: String,
    },
    Reject {
        hash: String,
        reason: String,
    },
}

fn prepare(config: &Config, attachments: &BlobStore, raw: &[u8]) -> Result<Prepared, IngestError> {
    if raw.len() as u64 > config.max_message_bytes {
        return Ok(Prepared::Reject {
            hash: content_hash(raw),
            reason: format!(
                "message is {} bytes, over general.max_message_bytes ({})",
                raw.len(),
                config.max_message_bytes
            ),
        });
    }
    let parsed = match parse_mail(raw) {
        Ok(parsed) => parsed,
        Err(rejection) => {
            return Ok(Prepared::Reject {
                hash: content_hash(raw),
                reason: rejection.to_string(),
            })
        }
    };
    for (meta, bytes) in parsed.attachments() {
        // Derived data (the raw mail is in the database): no flush needed.
        attachments.put(&meta.sha256, "", bytes, false)?;
    }
    // The parser's copy of the mail goes before the store takes its own.
    let (mail, hash) = parsed.into_mail();
    Ok(Prepared::Mail {
        mail: Box::new(mail),
        hash,
    })
}

fn store_mail(
    config: &Config,
    tx: &WriteTx<'_>,
    raw: &[u8],
    mail: &InboundMail,
    content_hash: &str,
    source: &Source,
    now: i64,
) -> Result<IngestOutcome, StoreError> {
    let policy = &config.intake;
    if let Some(ticket) = tx
        .read()
        .duplicate_of(mail.message_id.as_deref(), content_hash)?
    {
        return Ok(IngestOutcome::Duplicate { ticket });
    }
    let thread = decide_thread(&thread_clues(&tx.read(), mail, &policy.tags)?);
    let view = match &thread {
        ThreadDecision::Existing { ticket, .. } => tx.ticket_view(*ticket)?,
        ThreadDecision::New { .. } => None,
    };
    // Agents' loads, only for a new ticket in a queue that assigns automatically.
    let queue = source.queue.as_deref().unwrap_or(&policy.default_queue);
    let assigns = policy
        .directory
        .queue(queue)
        .is_some_and(|q| q.assignment != crate::core::people::Assignment::None);
    let workloads = if view.is_none() && assigns {
        tx.read().workloads()?
    } else {
        Vec::new()
    };
    // Tickets the mail's commands name (#merge N), as they stand after any earlier merge.
    let mut others = Vec::new();
    if view.is_some() {
        for named in crate::core::followup::named_tickets(mail, policy) {
            if let Some(resolved) = tx.read().resolve_ticket(named)? {
                if let Some(mut other) = tx.ticket_view(resolved)? {
                    other.requested_as = Some(named);
                    others.push(other);
                }
            }
        }
    }
    let requester = crate::core::intake::requester_of(mail);
    let auto_replies_last_hour = match &requester {
        Some(mailbox) => tx.read().auto_replies_since(&mailbox.address, now - 3600)?,
        None => 0,
    };
    let input = IntakeInput {
        mail,
        thread: &thread,
        ticket: view.as_ref(),
        next_number: tx.next_ticket_number(config.first_ticket_number)?,
        auto_replies_last_hour,
        now,
        id_seed: &content_hash[..20],
        queue: source.queue.as_deref(),
        others: &others,
        workloads: &workloads,
    };
    let plan = match decide_intake(policy, &input) {
        Ok(plan) => plan,
        Err(reason) => {
            return Err(StoreError::Refused(reason.to_string()));
        }
    };
    let mut rendered = Vec::with_capacity(plan.outgoing.len());
    for outgoing in &plan.outgoing {
        match render(outgoing, now) {
            Ok(raw) => rendered.push(RenderedMail {
                mail: outgoing,
                raw,
            }),
            Err(error) => {
                tracing::warn!(ticket = %outgoing.ticket, %error, "outgoing mail not queued")
            }
        }
    }
    let record = InboundRecord {
        mail,
        raw,
        content_hash,
        source: &source.name,
        now,
    };
    tx.apply_intake(&plan, &record, &rendered)?;
    tracing::info!(
        source = %source.name,
        message_id = mail.message_id.as_deref().unwrap_or("-"),
        from = mail.from.as_ref().map_or("-", |m| m.address.as_str()),
        ticket = %plan.ticket,
        decision = %thread,
        auto_reply = ?plan.auto_reply,
        "mail stored"
    );
    Ok(outcome_of(&plan, !rendered.is_empty()))
}

fn store_quarantine(
    quarantine: &BlobStore,
    tx: &WriteTx<'_>,
    raw: &[u8],
    hash: &str,
    source: &str,
    reason: &str,
    now: i64,
) -> Result<IngestOutcome, StoreError> {
    // The raw file is the only copy of a quarantined mail: flushed before the row commits.
    let path = quarantine
        .put(hash, ".eml", raw, true)
        .map_err(|e| StoreError::Io(e.to_string()))?;
    let id = match tx.quarantined(hash)? {
        Some(id) => id,
        None => tx.insert_quarantine(
            now,
            source,
            reason,
            raw.len(),
            hash,
            &path.to_string_lossy(),
        )?,
    };
    Ok(IngestOutcome::Quarantined {
        id,
        reason: reason.to_string(),
    })
}

fn outcome_of(plan: &IntakePlan, queued_mail: bool) -> IngestOutcome {
    match plan.change {
        TicketChange::Create(_) => IngestOutcome::Created {
            ticket: plan.ticket,
            acknowledged: queued_mail && matches!(plan.auto_reply, AutoReplyVerdict::Allowed),
        },
        TicketChange::Append { .. } => IngestOutcome::Appended {
            ticket: plan.ticket,
            visibility: plan.visibility,
        },
    }
}

/// What the store knows about a mail's tag and answered Message-IDs.
pub fn thread_clues(
    reader: &Reader<'_>,
    mail: &InboundMail,
    tags: &TagFormat,
) -> Result<ThreadClues, StoreError> {
    let tag = match tags.find(&mail.subject) {
        Some(tagged) => Some((tagged, reader.resolve_ticket(tagged)?)),
        None => None,
    };
    let answered = mail.answered_message_ids();
    let mut header_match = None;
    for id in &answered {
        if let Some(ticket) = reader.ticket_for_message_id(id)? {
            header_match = Some((id.to_string(), ticket));
            break;
        }
    }
    Ok(ThreadClues {
        tag,
        answered_ids: answered.len(),
        header_match,
    })
}

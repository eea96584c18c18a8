//! One task per watched mailbox: connect, drain the folder through the pipeline in batches, file
//! each mail away once its ticket change has committed, then wait (IDLE, or a poll interval), and
//! reconnect with capped, jittered backoff on any failure.
//!
//! **Invariant:** a mail is flagged and moved out of the watched folder only after
//! `Pipeline::ingest` has committed it (or quarantined it). If Guichet dies in between, the next
//! round fetches it again and the store's Message-ID/content dedupe makes that a no-op.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::adapters::imap::{FolderStatus, ImapError, MailboxConnector, MailboxSession};
use crate::adapters::store::MailboxUpdate;
use crate::config::MailboxConfig;
use crate::pipeline::{system_now, IngestError, IngestOutcome, Pipeline, Source};

pub type SharedPipeline = Arc<std::sync::Mutex<Pipeline>>;

fn lock(pipeline: &SharedPipeline) -> std::sync::MutexGuard<'_, Pipeline> {
    // A panic while storing poisons the lock; the store itself rolled back, so carry on.
    pipeline
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A batch also stops growing at this many bytes, so large mails never pile up in memory.
pub const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// IDLE is re-issued before the 29 minutes after which servers may drop it (RFC 2177).
pub const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

pub struct MailboxTask<C: MailboxConnector> {
    pub config: MailboxConfig,
    pub connector: C,
    /// Shared with the blocking thread that stores one batch while the next is fetched.
    pub pipeline: SharedPipeline,
    /// Poked after each batch so acknowledgements leave at once.
    pub wake_outbox: Arc<Notify>,
}

/// Why a round ended early.
#[derive(Debug)]
enum RoundError {
    Imap(ImapError),
    /// The store could not take a mail now; the mail stays in the folder for the next round.
    Store(String),
}

impl std::fmt::Display for RoundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoundError::Imap(e) => write!(f, "{e}"),
            RoundError::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl From<ImapError> for RoundError {
    fn from(error: ImapError) -> RoundError {
        RoundError::Imap(error)
    }
}

/// Delay before reconnection attempt `failures` (1-based): doubling from 1 s, capped at 60 s,
/// plus up to a quarter more so that many mailboxes do not retry in step.
pub fn backoff(failures: u32, jitter_source: u64) -> Duration {
    let base = BACKOFF_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(10))
        .min(BACKOFF_MAX);
    let quarter = base.as_millis() as u64 / 4;
    base + Duration::from_millis(if quarter == 0 {
        0
    } else {
        jitter_source % quarter
    })
}

fn jitter_source() -> u64 {
    // Sub-second clock noise is enough to spread retries; no randomness crate needed.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 * 2654435761)
}

/// Splits a folder listing into fetch batches bounded by count and bytes (a single mail larger
/// than the byte bound is a batch of its own).
pub fn batches(listing: &[(u32, u64)], max_count: usize, max_bytes: u64) -> Vec<Vec<u32>> {
    let mut batches = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &(uid, size) in listing {
        if !current.is_empty() && (current.len() >= max_count || bytes + size > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

impl<C: MailboxConnector> MailboxTask<C> {
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let name = self.config.name.clone();
        let mut failures = 0u32;
        let mut last_error: Option<String> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            match self.round(&mut stop, &mut failures, &mut last_error).await {
                Ok(()) => break,
                Err(error) => {
                    let text = error.to_string();
                    self.record(&MailboxUpdate {
                        connected: Some(false),
                        error: Some(&text),
                        ..MailboxUpdate::default()
                    });
                    failures += 1;
                    let delay = backoff(failures, jitter_source());
                    // The same failure again is not news: log it once, then only at debug.
                    if last_error.as_deref() == Some(text.as_str()) {
                        tracing::debug!(mailbox = %name, error = %text, retry_in_ms = delay.as_millis() as u64, "mailbox still failing");
                    } else {
                        tracing::warn!(mailbox = %name, error = %text, retry_in_ms = delay.as_millis() as u64, "mailbox failed; retrying");
                        last_error = Some(text);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        self.record(&MailboxUpdate {
            connected: Some(false),
            ..MailboxUpdate::default()
        });
        tracing::info!(mailbox = %name, "mailbox stopped");
    }

    async fn round(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        failures: &mut u32,
        last_error: &mut Option<String>,
    ) -> Result<(), RoundError> {
        let mut session = self.connector.connect().await?;
        if last_error.take().is_some() {
            tracing::info!(mailbox = %self.config.name, after_failures = *failures, "mailbox reconnected");
        } else {
            tracing::info!(mailbox = %self.config.name, "mailbox connected");
        }
        *failures = 0;
        self.record(&MailboxUpdate {
            connected: Some(true),
            ..MailboxUpdate::default()
        });
        let result = self.serve(&mut session, stop).await;
        session.logout().await;
        result
    }

    async fn serve(
        &mut self,
        session: &mut C::Session,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RoundError> {
        session.ensure_folder(&self.config.processed_folder).await?;
        session
            .ensure_folder(&self.config.quarantine_folder)
            .await?;
        loop {
            let status = session.select(&self.config.folder).await?;
            self.check_uid_validity(status);
            self.drain(session, status, stop).await?;
            self.record(&MailboxUpdate {
                success: true,
                backlog: Some(0),
                ..MailboxUpdate::default()
            });
            if *stop.borrow() {
                return Ok(());
            }
            let wait = if self.config.imap.idle {
                Duration::from_secs(self.config.full_check_interval_secs).min(IDLE_RENEW)
            } else {
                Duration::from_secs(self.config.poll_interval_secs)
            };
            session.wait_for_news(wait, stop).await?;
            if *stop.borrow() {
                return Ok(());
            }
        }
    }

    fn check_uid_validity(&mut self, status: FolderStatus) {
        let known = lock(&self.pipeline)
            .store()
            .read()
            .mailbox_state(&self.config.name)
            .ok()
            .flatten()
            .and_then(|state| state.uid_validity);
        if let Some(known) = known.filter(|known| *known != status.uid_validity) {
            tracing::warn!(
                mailbox = %self.config.name,
                old = known,
                new = status.uid_validity,
                "UIDVALIDITY changed: rescanning the whole folder; mail already stored is recognised, not ticketed twice"
            );
        }
        if known != Some(status.uid_validity) {
            self.record(&MailboxUpdate {
                uid_validity: Some(status.uid_validity),
                last_uid: Some(0),
                ..MailboxUpdate::default()
            });
        }
    }

    async fn drain(
        &mut self,
        session: &mut C::Session,
        status: FolderStatus,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RoundError> {
        if status.exists == 0 {
            return Ok(());
        }
        let listing = session.list().await?;
        let mut backlog = listing.len() as u64;
        self.record(&MailboxUpdate {
            backlog: Some(backlog),
            ..MailboxUpdate::default()
        });
        let source = Source {
            name: format!("imap:{}", self.config.name),
            queue: self.config.queue.clone(),
        };
        let mut pending = batches(&listing, self.config.batch_size, BATCH_BYTES).into_iter();
        let mut fetched = match pending.next() {
            Some(batch) if !*stop.borrow() => Some(session.fetch(&batch).await?),
            _ => None,
        };
        while let Some(mails) = fetched.take() {
            // One transaction for the batch, on a blocking thread, while the next batch is
            // fetched. Nothing is moved before its own batch has committed.
            let pipeline = self.pipeline.clone();
            let batch_source = source.clone();
            let storing = tokio::task::spawn_blocking(move || {
                let raws: Vec<&[u8]> = mails.iter().map(|(_, raw)| raw.as_slice()).collect();
                let result = lock(&pipeline).ingest_batch(&raws, &batch_source, system_now());
                (mails, result)
            });
            let next = if *stop.borrow() { None } else { pending.next() };
            let prefetch = async {
                match &next {
                    Some(batch) => Some(session.fetch(batch).await),
                    None => None,
                }
            };
            let (stored_batch, prefetched) = tokio::join!(storing, prefetch);
            let (mails, result) =
                stored_batch.map_err(|e| RoundError::Store(format!("intake thread: {e}")))?;
            let outcomes = match result {
                Ok(outcomes) => outcomes,
                Err(IngestError::Temporary(error)) => return Err(RoundError::Store(error)),
            };
            let mut stored = Vec::with_capacity(mails.len());
            let mut quarantined = Vec::new();
            for ((uid, _), outcome) in mails.iter().zip(&outcomes) {
                match outcome {
                    IngestOutcome::Quarantined { .. } => quarantined.push(*uid),
                    _ => stored.push(*uid),
                }
            }
            session
                .file_away(&stored, &self.config.processed_folder)
                .await?;
            session
                .file_away(&quarantined, &self.config.quarantine_folder)
                .await?;
            let done = (stored.len() + quarantined.len()) as u64;
            backlog = backlog.saturating_sub(done);
            self.record(&MailboxUpdate {
                last_uid: stored.iter().chain(&quarantined).max().copied(),
                backlog: Some(backlog),
                processed_more: done,
                ..MailboxUpdate::default()
            });
            self.wake_outbox.notify_one();
            fetched = prefetched.transpose()?;
        }
        Ok(())
    }

    /// Status bookkeeping is best effort: a failure to record it never stops intake.
    fn record(&mut self, update: &MailboxUpdate<'_>) {
        let name = self.config.name.clone();
        let result = lock(&self.pipeline).store_mut().write().and_then(|tx| {
            tx.update_mailbox(&name, system_now(), update)?;
            tx.commit()
        });
        if let Err(error) = result {
            tracing::debug!(mailbox = %name, %error, "mailbox state not recorded");
        }
    }
}

#[cfg(test)]
mod tests;

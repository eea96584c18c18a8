//! One task per watched mailbox: connect, drain the folder through the pipeline in batches, file
//! each mail away once its ticket change has committed, then wait (IDLE, or a poll interval), and
//! reconnect with capped, jittered backoff on any failure.
//!
//! **Invariant:** a mail is flagged and moved out of the watched folder only after
//! `Pipeline::ingest` has committed it (or quarantined it). If Guichet dies in between, the next
//! round fetches it again and the store's Message-ID/content dedupe makes that a no-op.
//!
//! **No mail left behind.** After each batch the folder is selected again: its EXISTS is the
//! backlog `guichet status` shows, and a UIDNEXT past the last listed UID means mail arrived
//! while the batch was stored, which joins the drain before the task goes back to IDLE. The wait
//! itself ends at a deadline fixed when it starts (the full check, or IDLE's renewal): server
//! keepalives do not move it.
//!
//! **One mail never stops a mailbox.** A batch the store refuses (or whose intake thread panics)
//! is retried mail by mail; a mail that fails alone `ATTEMPTS_ALONE` times while the store takes
//! other writes is quarantined with its reason.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::adapters::imap::{FolderStatus, IdleEvent, ImapError, MailboxConnector, MailboxSession};
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
/// A mail that fails this many times alone, while the store takes other writes, is quarantined.
pub const ATTEMPTS_ALONE: u32 = 3;
/// The pause before a mail's second attempt alone (doubled before the third).
const RETRY_ALONE_PAUSE: Duration = Duration::from_secs(1);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

pub struct MailboxTask<C: MailboxConnector> {
    pub config: MailboxConfig,
    pub connector: C,
    /// Shared with the blocking thread that stores one batch while the next is fetched.
    pub pipeline: SharedPipeline,
    /// Poked after each batch so acknowledgements leave at once.
    pub wake_outbox: Arc<Notify>,
    /// Where each stored batch's time from fetched to committed goes (`/metrics`).
    pub latency: crate::metrics::IntakeLatency,
}

/// Why a round ended early.
#[derive(Debug)]
enum RoundError {
    Imap(ImapError),
    /// The store could not take a mail now; the mail stays in the folder for the next round.
    Store(String),
}

/// How a round ended without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoundEnd {
    Stopped,
    /// The login's access token nears its end: log in again with a fresh one.
    Reauthenticate,
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The server said the folder changed.
    Changed,
    /// The full check (or IDLE's renewal) is due.
    Deadline,
    Stop,
}

impl Wake {
    fn as_str(self) -> &'static str {
        match self {
            Wake::Changed => "changed",
            Wake::Deadline => "deadline",
            Wake::Stop => "stop",
        }
    }
}

/// Tests mark a mail with this header to make the intake thread panic on it.
#[cfg(test)]
const PANIC_MARKER: &[u8] = b"X-Poller-Test: panic in intake";

fn panic_text(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return format!("intake thread: {error}");
    }
    let payload = error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    format!("intake panicked: {text}")
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

/// A batch whose transaction has committed: the UIDs to move out of the folder.
struct Committed {
    stored: Vec<u32>,
    quarantined: Vec<u32>,
}

impl Committed {
    fn of(outcomes: &[(u32, IngestOutcome)]) -> Committed {
        let (mut stored, mut quarantined) = (Vec::with_capacity(outcomes.len()), Vec::new());
        for (uid, outcome) in outcomes {
            match outcome {
                IngestOutcome::Quarantined { .. } => quarantined.push(*uid),
                _ => stored.push(*uid),
            }
        }
        Committed {
            stored,
            quarantined,
        }
    }

    /// Stored mails to the processed folder, quarantined ones to the quarantine folder.
    async fn file_away<S: MailboxSession>(
        &self,
        session: &mut S,
        (processed, quarantine): &(String, String),
    ) -> Result<(), ImapError> {
        session.file_away(&self.stored, processed).await?;
        session.file_away(&self.quarantined, quarantine).await
    }

    fn len(&self) -> usize {
        self.stored.len() + self.quarantined.len()
    }

    fn update(&self) -> MailboxUpdate<'static> {
        MailboxUpdate {
            last_uid: self.stored.iter().chain(&self.quarantined).max().copied(),
            processed_more: self.len() as u64,
            ..MailboxUpdate::default()
        }
    }
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
        let mut failures = 0u32;
        let mut last_error: Option<String> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            match self.round(&mut stop, &mut failures, &mut last_error).await {
                Ok(RoundEnd::Stopped) => break,
                Ok(RoundEnd::Reauthenticate) => {
                    tracing::debug!("logging in again before the access token expires");
                }
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
                        tracing::debug!(error = %text, retry_in_ms = delay.as_millis() as u64, "mailbox still failing");
                    } else {
                        tracing::warn!(error = %text, retry_in_ms = delay.as_millis() as u64, "mailbox failed; retrying");
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
        tracing::info!("mailbox stopped");
    }

    async fn round(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        failures: &mut u32,
        last_error: &mut Option<String>,
    ) -> Result<RoundEnd, RoundError> {
        let mut session = self.connector.connect().await?;
        if last_error.take().is_some() {
            tracing::info!(after_failures = *failures, "mailbox reconnected");
        } else {
            tracing::info!("mailbox connected");
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
    ) -> Result<RoundEnd, RoundError> {
        session.ensure_folder(&self.config.processed_folder).await?;
        session
            .ensure_folder(&self.config.quarantine_folder)
            .await?;
        loop {
            self.check(session, stop).await?;
            if *stop.borrow() {
                return Ok(RoundEnd::Stopped);
            }
            let wake = self.wait(session, stop).await?;
            tracing::debug!(wake = wake.as_str(), "mailbox woke");
            if wake == Wake::Stop || *stop.borrow() {
                return Ok(RoundEnd::Stopped);
            }
            if session
                .reauthenticate_at()
                .is_some_and(|at| Instant::now() >= at)
            {
                // Mail that arrived meanwhile is found by the next round's full check.
                return Ok(RoundEnd::Reauthenticate);
            }
        }
    }

    /// Waits until the server says the folder changed, or until a deadline fixed now: whatever
    /// else the server sends meanwhile (keepalives) neither ends nor extends the wait.
    async fn wait(
        &mut self,
        session: &mut C::Session,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Wake, RoundError> {
        let reauthenticate_at = session.reauthenticate_at();
        let bounded = |until: Instant| reauthenticate_at.map_or(until, |at| until.min(at));
        if !session.can_idle() {
            let until =
                bounded(Instant::now() + Duration::from_secs(self.config.poll_interval_secs));
            return Ok(tokio::select! {
                _ = tokio::time::sleep_until(until) => Wake::Deadline,
                _ = stop.changed() => Wake::Stop,
            });
        }
        // Each wake runs a full check, so the next one is due one interval from now; IDLE itself
        // is re-issued before servers may drop it.
        let until = bounded(
            Instant::now()
                + Duration::from_secs(self.config.full_check_interval_secs).min(IDLE_RENEW),
        );
        session.idle_start().await?;
        let wake = loop {
            tokio::select! {
                event = session.idle_next() => match event? {
                    IdleEvent::Changed => break Wake::Changed,
                    IdleEvent::Chatter => {}
                },
                _ = tokio::time::sleep_until(until) => break Wake::Deadline,
                _ = stop.changed() => break Wake::Stop,
            }
        };
        session.idle_done().await?;
        Ok(wake)
    }

    /// A full check: everything in the folder, and whatever arrives while it is being stored.
    async fn check(
        &mut self,
        session: &mut C::Session,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RoundError> {
        let status = session.select(&self.config.folder).await?;
        self.check_uid_validity(status);
        self.record(&MailboxUpdate {
            backlog: Some(status.exists.into()),
            ..MailboxUpdate::default()
        });
        if status.exists > 0 {
            let listing = session.list_from(1).await?;
            self.drain(session, status, listing, stop).await?;
        }
        self.record(&MailboxUpdate {
            success: true,
            ..MailboxUpdate::default()
        });
        Ok(())
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

    fn source(&self) -> Source {
        Source {
            name: format!("imap:{}", self.config.name),
            queue: self.config.queue.clone(),
            vouched_sender: None,
            given_fields: Default::default(),
        }
    }

    async fn drain(
        &mut self,
        session: &mut C::Session,
        status: FolderStatus,
        listing: Vec<(u32, u64)>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RoundError> {
        let mut highest_listed = listing.last().map_or(0, |(uid, _)| *uid);
        let mut pending: VecDeque<Vec<u32>> =
            batches(&listing, self.config.batch_size, BATCH_BYTES).into();
        let mut fetched = match pending.pop_front() {
            Some(batch) if !*stop.borrow() => Some(session.fetch(&batch).await?),
            _ => None,
        };
        let folders = (
            self.config.processed_folder.clone(),
            self.config.quarantine_folder.clone(),
        );
        // A batch is moved out of the folder while the next one is stored: nothing is moved
        // before its own batch has committed, and the session's moves (a third of a backlog's
        // time when they came between two batches) no longer hold up the store.
        let mut to_file: Option<Committed> = None;
        loop {
            while let Some(mails) = fetched.take() {
                // The batch is stored on a blocking thread while the one before is filed away and
                // the next one fetched.
                let next = if *stop.borrow() {
                    None
                } else {
                    pending.pop_front()
                };
                let session_work = async {
                    let filed = match &to_file {
                        Some(committed) => committed.file_away(session, &folders).await,
                        None => Ok(()),
                    };
                    let prefetched = match (&filed, &next) {
                        (Ok(()), Some(batch)) => Some(session.fetch(batch).await),
                        _ => None,
                    };
                    (filed, prefetched)
                };
                let (outcomes, (filed, prefetched)) =
                    tokio::join!(self.store(mails, stop), session_work);
                if let Some(committed) = to_file.take() {
                    filed?;
                    self.record(&committed.update());
                }
                let committed = Committed::of(&outcomes?);
                self.wake_outbox.notify_one();
                to_file = Some(committed);
                let mut fetched_next = prefetched.transpose()?;

                if !*stop.borrow() {
                    let unmoved = to_file.as_ref().map_or(0, Committed::len);
                    let arrived = self
                        .arrivals(session, status.uid_validity, highest_listed, unmoved)
                        .await?;
                    self.queue_arrivals(
                        &arrived,
                        &mut highest_listed,
                        &mut pending,
                        "mail arrived during the batch",
                    );
                }
                if fetched_next.is_none() && !*stop.borrow() {
                    if let Some(batch) = pending.pop_front() {
                        fetched_next = Some(session.fetch(&batch).await?);
                    }
                }
                fetched = fetched_next;
            }
            // The last batch is moved, then the folder checked once more: mail that arrived during
            // the move is announced in its response, which no IDLE would repeat.
            let Some(committed) = to_file.take() else {
                break;
            };
            committed.file_away(session, &folders).await?;
            self.record(&committed.update());
            if *stop.borrow() {
                break;
            }
            let arrived = self
                .arrivals(session, status.uid_validity, highest_listed, 0)
                .await?;
            self.queue_arrivals(
                &arrived,
                &mut highest_listed,
                &mut pending,
                "mail arrived while the last batch moved",
            );
            match pending.pop_front() {
                Some(batch) => fetched = Some(session.fetch(&batch).await?),
                None => break,
            }
        }
        Ok(())
    }

    /// Queues the mail `arrivals` listed, in batches after those pending; the listing now ends at
    /// its last UID.
    fn queue_arrivals(
        &self,
        arrived: &[(u32, u64)],
        highest_listed: &mut u32,
        pending: &mut VecDeque<Vec<u32>>,
        when: &str,
    ) {
        if let Some((last, _)) = arrived.last() {
            tracing::debug!(arrived = arrived.len(), "{when}");
            *highest_listed = *last;
            pending.extend(batches(arrived, self.config.batch_size, BATCH_BYTES));
        }
    }

    /// The check after each batch: selects the folder again (its EXISTS, less the `unmoved`
    /// mails already stored and about to be moved, is the backlog) and, when UIDNEXT says mail
    /// arrived since `highest_listed`, lists it.
    async fn arrivals(
        &mut self,
        session: &mut C::Session,
        uid_validity: u32,
        highest_listed: u32,
        unmoved: usize,
    ) -> Result<Vec<(u32, u64)>, RoundError> {
        let now = session.select(&self.config.folder).await?;
        if now.uid_validity != uid_validity {
            // The UIDs in hand mean nothing now: a new round rescans the folder.
            return Err(RoundError::Imap(ImapError::Protocol(
                "UIDVALIDITY changed during a check".into(),
            )));
        }
        self.record(&MailboxUpdate {
            backlog: Some(u64::from(now.exists).saturating_sub(unmoved as u64)),
            ..MailboxUpdate::default()
        });
        let first_new = highest_listed.saturating_add(1);
        if now.exists == 0 || now.uid_next.is_some_and(|next| next <= first_new) {
            return Ok(Vec::new());
        }
        Ok(session.list_from(first_new).await?)
    }

    /// Stores a batch in one transaction; if that fails, mail by mail, so that a mail the store
    /// cannot take only holds up itself. Mails without an outcome (a stop came during the
    /// retries) stay in the folder.
    async fn store(
        &mut self,
        mails: Vec<(u32, Vec<u8>)>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<(u32, IngestOutcome)>, RoundError> {
        let fetched = std::time::Instant::now();
        let mails = Arc::new(mails);
        let reason = match self.intake(&mails, 0..mails.len()).await {
            Ok(outcomes) => {
                self.latency.observe(outcomes.len(), fetched.elapsed());
                return Ok(mails.iter().map(|(uid, _)| *uid).zip(outcomes).collect());
            }
            Err(reason) => reason,
        };
        tracing::warn!(mails = mails.len(), %reason, "a batch could not be stored; storing its mails one by one");
        let mut outcomes = Vec::with_capacity(mails.len());
        let mut failing: Vec<(usize, String)> =
            (0..mails.len()).map(|i| (i, reason.clone())).collect();
        // A batch of one was that mail alone: its first attempt is spent.
        let mut attempts = u32::from(mails.len() == 1);
        if attempts == 1 && !self.store_takes_writes() {
            return Err(RoundError::Store(reason));
        }
        // Each pass tries every mail still failing once, so the pauses cost a batch seconds, not
        // each of its mails.
        while attempts < ATTEMPTS_ALONE {
            if attempts > 0 {
                if *stop.borrow() {
                    return Ok(outcomes);
                }
                tokio::time::sleep(RETRY_ALONE_PAUSE * attempts).await;
            }
            attempts += 1;
            let mut still_failing = Vec::new();
            for (index, _) in failing {
                let uid = mails[index].0;
                match self.intake(&mails, index..index + 1).await {
                    Ok(mut alone) => match alone.pop() {
                        Some(outcome) => outcomes.push((uid, outcome)),
                        None => still_failing.push((index, "the store gave no outcome".into())),
                    },
                    Err(reason) => {
                        tracing::warn!(uid, attempt = attempts, %reason, "a mail could not be stored alone");
                        still_failing.push((index, reason));
                    }
                }
            }
            failing = still_failing;
            if failing.is_empty() {
                return Ok(outcomes);
            }
            if !self.store_takes_writes() {
                // Not these mails' fault: keep them, and every other, for the next round.
                return Err(RoundError::Store(failing.swap_remove(0).1));
            }
        }
        for (index, reason) in failing {
            let reason = format!("could not be stored in {ATTEMPTS_ALONE} attempts: {reason}");
            let outcome = self.quarantine(&mails, index, reason).await?;
            outcomes.push((mails[index].0, outcome));
        }
        self.latency.observe(outcomes.len(), fetched.elapsed());
        Ok(outcomes)
    }

    /// Runs `Pipeline::ingest_batch` on `mails[range]` on a blocking thread; a panic there is an
    /// error like any other.
    async fn intake(
        &self,
        mails: &Arc<Vec<(u32, Vec<u8>)>>,
        range: Range<usize>,
    ) -> Result<Vec<IngestOutcome>, String> {
        let pipeline = self.pipeline.clone();
        let source = self.source();
        let mails = mails.clone();
        let span = tracing::Span::current();
        let stored = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let raws: Vec<&[u8]> = mails[range].iter().map(|(_, raw)| raw.as_slice()).collect();
            #[cfg(test)]
            if raws
                .iter()
                .any(|raw| raw.windows(PANIC_MARKER.len()).any(|w| w == PANIC_MARKER))
            {
                panic!("a test mail marked to panic");
            }
            lock(&pipeline).ingest_batch(&raws, &source, system_now())
        })
        .await;
        match stored {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(IngestError::Temporary(reason))) => Err(reason),
            Err(join) => Err(panic_text(join)),
        }
    }

    async fn quarantine(
        &self,
        mails: &Arc<Vec<(u32, Vec<u8>)>>,
        index: usize,
        reason: String,
    ) -> Result<IngestOutcome, RoundError> {
        let pipeline = self.pipeline.clone();
        let source = self.source();
        let mails = mails.clone();
        let span = tracing::Span::current();
        let quarantined = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            lock(&pipeline).quarantine_raw(&mails[index].1, &source, &reason, system_now())
        })
        .await;
        match quarantined {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(IngestError::Temporary(reason))) => Err(RoundError::Store(reason)),
            Err(join) => Err(RoundError::Store(panic_text(join))),
        }
    }

    /// Whether the store commits a small write now: the test that tells one mail's failure
    /// from a store that fails for every mail (a full disk, a locked database).
    fn store_takes_writes(&mut self) -> bool {
        let name = self.config.name.clone();
        lock(&self.pipeline)
            .store_mut()
            .write()
            .and_then(|tx| {
                tx.update_mailbox(&name, system_now(), &MailboxUpdate::default())?;
                tx.commit()
            })
            .is_ok()
    }

    /// Status bookkeeping is best effort: a failure to record it never stops intake.
    fn record(&mut self, update: &MailboxUpdate<'_>) {
        let name = self.config.name.clone();
        let result = lock(&self.pipeline).store_mut().write().and_then(|tx| {
            tx.update_mailbox(&name, system_now(), update)?;
            tx.commit()
        });
        if let Err(error) = result {
            tracing::debug!(%error, "mailbox state not recorded");
        }
    }
}

#[cfg(test)]
mod tests;

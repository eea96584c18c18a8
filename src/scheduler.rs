//! The SLA clock in the daemon: every `check_interval_secs`, each open ticket's deadlines are
//! checked; warnings and escalations are written with their notices in one transaction.
//!
//! **Invariant:** a ticket's new deadlines and the notices they cause commit together, so a
//! restart never sends the same warning or escalation twice, and a daemon that was down sends
//! one escalation per ticket, not one per missed check.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::adapters::blobs::BlobStore;
use crate::adapters::render::{render_all, AttachmentFiles};
use crate::adapters::store::{Store, StoreError};
use crate::core::escalation::on_clock;
use crate::core::plan::IntakePolicy;
use crate::core::retention::{self, Purge, RetentionPolicy};
use crate::core::ticket::TicketNumber;
use crate::pipeline::system_now;

pub struct Scheduler {
    pub database: PathBuf,
    /// The attachment store: escalation notices carry the ticket's files.
    pub attachments: BlobStore,
    pub policy: IntakePolicy,
    pub wake_outbox: Arc<Notify>,
}

impl Scheduler {
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let mut store = Store::open(&self.database)?;
        let interval = Duration::from_secs(self.policy.sla.check_interval_secs);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            match tick(&mut store, &self.policy, &self.attachments, system_now()) {
                Ok(0) => {}
                Ok(mails) => {
                    tracing::info!(mails, "SLA notices queued");
                    self.wake_outbox.notify_one();
                }
                Err(error) if error.is_temporary() => tracing::warn!(%error, "SLA check postponed"),
                Err(error) => return Err(error),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// One pass over the open tickets; returns how many mails were queued.
pub fn tick(
    store: &mut Store,
    policy: &IntakePolicy,
    files: &dyn AttachmentFiles,
    now: i64,
) -> Result<usize, StoreError> {
    let tx = store.write()?;
    let mut mails = 0;
    for number in tx.read().sla_candidates()? {
        let Some(view) = tx.ticket_view(number)? else {
            continue;
        };
        let Some(mut plan) = on_clock(policy, &view, now, &format!("sla{now}")) else {
            continue;
        };
        let outgoing = std::mem::take(&mut plan.outgoing);
        let (rendered, render_events) = render_all(&outgoing, files, now);
        plan.events.extend(render_events);
        mails += rendered.len();
        for event in &plan.events {
            tracing::info!(ticket = %number, kind = event.kind.as_str(), detail = %event.detail, "SLA");
        }
        tx.apply_clock(number, now, &plan, &rendered)?;
    }
    tx.commit()?;
    Ok(mails)
}

/// The digest clock in the daemon: every `interval`, each `[[report]]` that owes a period (see
/// `core::report::digest::due`) is computed from the store and queued with its record.
///
/// **Invariant:** a digest period is recorded in `digests_sent` in the transaction that queues
/// its mail, under a unique key: a restart never sends it twice, and downtime sends the latest
/// missed period once.
pub struct Digests {
    pub database: PathBuf,
    pub config: Arc<crate::config::Config>,
    pub interval: Duration,
    pub wake_outbox: Arc<Notify>,
}

impl Digests {
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let mut store = Store::open(&self.database)?;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            match digest_tick(&mut store, &self.config, system_now()) {
                Ok(0) => {}
                Ok(mails) => {
                    tracing::info!(mails, "digests queued");
                    self.wake_outbox.notify_one();
                }
                Err(error) if error.is_temporary() => {
                    tracing::warn!(%error, "digest check postponed")
                }
                Err(error) => return Err(error),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Queues every digest due at `now`, each in its own transaction; returns how many were queued.
pub fn digest_tick(
    store: &mut Store,
    config: &crate::config::Config,
    now: i64,
) -> Result<usize, StoreError> {
    use crate::core::report::digest::{digest_mail, due, in_scope};
    use crate::core::report::{report, Dimension, ReportInput};
    let mut queued = 0;
    for digest in &config.reports {
        let tx = store.write()?;
        let last = tx.read().last_digest(&digest.name)?;
        let Some(period) = due(&digest.schedule, last, now) else {
            continue;
        };
        let mut tickets = in_scope(digest, period, tx.read().report_histories(period)?);
        crate::core::report::name_answers(&mut tickets, &config.intake.directory);
        let by = digest.by.clone().unwrap_or(Dimension::Queue);
        let figures = report(&ReportInput {
            period,
            by: &by,
            sla: &config.intake.sla,
            tickets: &tickets,
        });
        let mail = digest_mail(
            digest,
            &figures,
            &config.intake.support,
            config.intake.tags.prefix(),
            &config.intake.templates,
        );
        let outgoing = [mail];
        let (rendered, _) = render_all(&outgoing, &crate::adapters::render::NoAttachmentFiles, now);
        let Some(rendered) = rendered.first() else {
            tracing::error!(report = %digest.name, "digest not rendered, not sent");
            continue;
        };
        tx.record_digest(&digest.name, period, now, rendered)?;
        tx.commit()?;
        tracing::info!(report = %digest.name, from = period.from, to = period.to, "digest queued");
        queued += 1;
    }
    Ok(queued)
}

/// The retention clock in the daemon: every `policy.interval_secs`, done tickets past the
/// `[retention]` limits lose their raw mail and files, or their whole content.
///
/// **Invariant:** each ticket's purge and its `retention_purged` event commit together; files go
/// only after that commit, so a crash leaves orphan files (`guichet check` lists them), never a
/// row whose file is gone.
/// The store's hourly upkeep: the full-text indexes merged (`Store::merge_text_indexes`), the
/// caps' records past two hours deleted (`Store::prune_automatic_mail`).
pub struct Upkeep {
    pub database: PathBuf,
    pub interval: Duration,
}

impl Upkeep {
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let mut store = Some(Store::open(&self.database)?);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let mut taken = store.take().expect("the store");
            let (back, merged) = tokio::task::spawn_blocking(move || {
                let merged = taken
                    .prune_automatic_mail(system_now())
                    .and_then(|_| taken.merge_text_indexes());
                (taken, merged)
            })
            .await
            .map_err(|e| StoreError::Refused(format!("index upkeep: {e}")))?;
            store = Some(back);
            match merged {
                Ok(steps) => tracing::debug!(steps, "full-text indexes merged"),
                Err(error) if error.is_temporary() => {
                    tracing::warn!(%error, "index upkeep postponed")
                }
                Err(error) => return Err(error),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

pub struct Retention {
    pub database: PathBuf,
    pub attachments: BlobStore,
    pub policy: RetentionPolicy,
}

impl Retention {
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let mut store = Store::open(&self.database)?;
        let interval = Duration::from_secs(self.policy.interval_secs);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            match retention_tick(&mut store, &self.policy, &self.attachments, system_now()) {
                Ok(purged) if purged.is_empty() => {}
                Ok(purged) => tracing::info!(tickets = purged.len(), "retention purged"),
                Err(error) if error.is_temporary() => {
                    tracing::warn!(%error, "retention postponed")
                }
                Err(error) => return Err(error),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Purges, each ticket in its own transaction, what `policy` says is due at `now`; returns the
/// tickets purged and how.
pub fn retention_tick(
    store: &mut Store,
    policy: &RetentionPolicy,
    attachments: &BlobStore,
    now: i64,
) -> Result<Vec<(TicketNumber, Purge)>, StoreError> {
    let mut purged = Vec::new();
    if !policy.is_active() {
        return Ok(purged);
    }
    let due: Vec<TicketNumber> = store
        .read()
        .retention_candidates(None)?
        .into_iter()
        .filter(|ticket| retention::decide(policy, ticket, now).is_some())
        .map(|ticket| ticket.number)
        .collect();
    for number in due {
        let tx = store.write()?;
        // Decided again inside the transaction: a mail may have reopened the ticket meanwhile.
        let Some(ticket) = tx.read().retention_candidates(Some(number))?.pop() else {
            continue;
        };
        let Some(purge) = retention::decide(policy, &ticket, now) else {
            continue;
        };
        let unreferenced = match purge {
            Purge::Raw => tx.purge_raw(ticket.number, now, policy.raw_after_days.unwrap_or(0))?,
            Purge::Whole => {
                tx.purge_ticket(ticket.number, now, policy.tickets_after_days.unwrap_or(0))?
            }
        };
        tx.commit()?;
        for hash in unreferenced {
            if let Err(error) = attachments.remove(&hash, "") {
                tracing::warn!(%error, sha256 = %hash, "purged attachment file not removed");
            }
        }
        tracing::info!(ticket = %ticket.number, purged = purge.as_str(), "retention");
        purged.push((ticket.number, purge));
    }
    Ok(purged)
}

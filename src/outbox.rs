//! The sender task: delivers the outbox through a `MailTransport`, in parallel up to the
//! connection count, recipient by recipient, with exponential backoff on temporary failures.
//!
//! **Invariant:** a recipient is marked delivered only after the server accepted the mail for
//! it, and each result is committed the moment it arrives. A retry goes only to recipients not
//! yet delivered; a row is sent once every recipient is final (delivered, refused or given up).
//! A crash in the instant between the server's 250 and that commit sends the mail again on
//! restart (at least once, never lost); such attempts are marked in flight beforehand so that
//! the restart names them in the log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::sync::{watch, Notify};

use crate::adapters::render::{render, NoAttachmentFiles};
use crate::adapters::smtp::MailTransport;
use crate::adapters::store::{OutboxItem, RenderedMail, Store, StoreError};
use crate::config::{Config, OutboxConfig};
use crate::core::delivery::{after_attempt, Outcome, RowState};
use crate::core::plan::IntakePolicy;
use crate::pipeline::system_now;

pub struct Sender<T> {
    pub database: PathBuf,
    pub transport: T,
    pub connections: usize,
    /// The daemon's config, reloaded: each round reads `[outbox]` and the intake policy (for the
    /// notice that tells an agent whom their answer did not reach) from the latest.
    pub configs: watch::Receiver<Arc<Config>>,
    /// Poked by in-process intake so that new mail goes out without waiting for the poll.
    pub wake: Arc<Notify>,
}

/// When to try again after `attempts` failures: doubling from the initial delay, capped, with a
/// per-mail spread so that a burst of failures does not retry in lockstep.
pub fn retry_delay(config: &OutboxConfig, attempts: u32, outbox_id: i64) -> i64 {
    let exponent = attempts.saturating_sub(1).min(20);
    let base = config
        .retry_initial_secs
        .saturating_mul(1 << exponent)
        .min(config.retry_max_secs);
    let spread = (base / 10).max(1);
    (base + (outbox_id.unsigned_abs() % spread)) as i64
}

impl<T: MailTransport> Sender<T> {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), StoreError> {
        let mut store = Store::open(&self.database)?;
        store.relax_durability()?;
        let interrupted = take_interrupted(&mut store)?;
        if !interrupted.is_empty() {
            tracing::warn!(
                outbox = %interrupted.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
                "these mails were being sent when Guichet stopped: sending them again (a recipient may get one twice)"
            );
        }
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let config = self.configs.borrow().clone();
            let now = system_now();
            let due = store.read().due_outbox(now, 64, &[])?;
            if due.is_empty() {
                let next_due = store.read().next_outbox_due()?;
                let poll = Duration::from_millis(config.outbox.poll_interval_ms);
                let wait = next_due.map_or(poll, |at| {
                    Duration::from_secs((at - now).max(0) as u64).min(poll)
                });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let ids: Vec<i64> = due.iter().map(|item| item.id).collect();
            mark_in_flight(&mut store, &ids, now)?;
            // The batch in hand is finished even when shutdown is asked for meanwhile: each
            // step of an attempt is bounded by the SMTP timeout. Each result is committed as it
            // arrives.
            let mut results = stream::iter(due)
                .map(|item| async {
                    let outcomes = self
                        .transport
                        .send(item.envelope_from.as_deref(), &item.addresses(), &item.raw)
                        .await;
                    (item, outcomes)
                })
                .buffer_unordered(self.connections.max(1));
            while let Some((item, outcomes)) = results.next().await {
                // A failure notice it queues is due at once: the next round picks it up.
                let now = system_now();
                record(
                    &mut store,
                    &config.outbox,
                    &config.intake,
                    &item,
                    outcomes,
                    now,
                )?;
            }
        }
    }
}

// Transactions stay in plain functions: a rusqlite transaction must not live across an await.
fn take_interrupted(store: &mut Store) -> Result<Vec<i64>, StoreError> {
    let tx = store.write()?;
    let ids = tx.take_interrupted_sends()?;
    tx.commit()?;
    Ok(ids)
}

fn mark_in_flight(store: &mut Store, ids: &[i64], now: i64) -> Result<(), StoreError> {
    let tx = store.write()?;
    tx.mark_in_flight(ids, now)?;
    tx.commit()
}

/// Commits one attempt's outcome: per recipient, for the row, in the audit trail, and the
/// failure notice the core asks for.
fn record(
    store: &mut Store,
    config: &OutboxConfig,
    policy: &IntakePolicy,
    item: &OutboxItem,
    outcomes: Vec<Outcome>,
    now: i64,
) -> Result<(), StoreError> {
    let seed = format!("o{}a{}", item.id, item.attempts + 1);
    let attempt = item.attempt(
        outcomes,
        now - item.created_at > config.give_up_after_secs,
        &seed,
    );
    let plan = after_attempt(policy, &attempt);
    let notice = plan
        .notice
        .as_ref()
        .and_then(|mail| match render(mail, now, &NoAttachmentFiles) {
            Ok(rendered) => Some(RenderedMail {
                mail,
                raw: rendered.raw,
                recipients: rendered.recipients,
            }),
            Err(error) => {
                tracing::error!(outbox = item.id, ticket = item.ticket, %error, "delivery failure notice not queued");
                None
            }
        });
    let next_attempt_at = now + retry_delay(config, item.attempts + 1, item.id);
    let tx = store.write()?;
    tx.record_delivery(item, &plan, notice.as_ref(), now, next_attempt_at)?;
    tx.commit()?;
    for event in &plan.events {
        tracing::info!(outbox = item.id, ticket = item.ticket, kind = event.kind.as_str(), detail = %event.detail, "delivery");
    }
    match (plan.row, &plan.summary) {
        (RowState::Sent, None) => {
            tracing::info!(outbox = item.id, ticket = item.ticket, to = %item.addresses().join(","), "mail sent")
        }
        (RowState::Sent, Some(problems)) => {
            tracing::warn!(outbox = item.id, ticket = item.ticket, %problems, "mail sent, but not to everyone")
        }
        (RowState::Dead, problems) => {
            tracing::error!(
                outbox = item.id,
                ticket = item.ticket,
                problems = problems.as_deref(),
                "mail reached no one, not retried"
            )
        }
        (RowState::Retry, problems) => {
            tracing::warn!(
                outbox = item.id,
                ticket = item.ticket,
                problems = problems.as_deref(),
                retry_in_secs = next_attempt_at - now,
                "mail not sent to everyone yet"
            )
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_and_cap() {
        let config = OutboxConfig {
            poll_interval_ms: 1000,
            retry_initial_secs: 30,
            retry_max_secs: 3600,
            give_up_after_secs: 3600 * 72,
        };
        let delays: Vec<i64> = (1..=10)
            .map(|attempt| retry_delay(&config, attempt, 0))
            .collect();
        assert_eq!(
            delays,
            vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
        for id in 0..100 {
            let delay = retry_delay(&config, 1, id);
            assert!((30..33).contains(&delay), "{delay}");
        }
    }
}

//! Delivers the queued ticket events (migration 0021) to each `[[webhook]]`: one POST per
//! event, in order, signed (`core::webhooks::signature`); the webhook's cursor moves on only
//! when the receiver answers 2xx, so a receiver that was down gets every event once it is back,
//! retried with backoff, and none twice (unless it answered an error after taking one).

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::adapters::store::{Store, StoreError, WebhookEvent};
use crate::config::Webhook;
use crate::core::ticket::TicketNumber;
use crate::core::webhooks::{retry_after, signature, EventBody, TicketFacts, SIGNATURE_HEADER};
use crate::pipeline::system_now;

/// How long a receiver has to answer one event.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Events sent to one webhook in one pass, before the others get their turn.
const EVENTS_PER_PASS: usize = 100;
/// With no webhook configured, queued events are kept this long (a webhook added later starts
/// from the events queued after it).
const KEEP_UNSENT_SECS: i64 = 7 * 86_400;
/// How often delivered events are forgotten.
const PRUNE_EVERY_SECS: i64 = 60;

pub struct Webhooks {
    pub database: PathBuf,
    pub webhooks: Vec<Webhook>,
    pub interval: Duration,
}

impl Webhooks {
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StoreError> {
        let Webhooks {
            database,
            webhooks,
            interval,
        } = self;
        let mut store = Some(Store::open(&database)?);
        let mut last_prune: Option<i64> = None;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let (webhooks_, mut taken) = (webhooks.clone(), store.take().expect("the store"));
            let now = system_now();
            let prune = last_prune.is_none_or(|at| now - at >= PRUNE_EVERY_SECS);
            if prune {
                last_prune = Some(now);
            }
            let (back, result) = tokio::task::spawn_blocking(move || {
                let result = deliver_pass(&mut taken, &webhooks_, now, prune);
                (taken, result)
            })
            .await
            .map_err(|e| StoreError::Refused(format!("webhook pass: {e}")))?;
            store = Some(back);
            match result {
                Ok(()) => {}
                Err(error) if error.is_temporary() => {
                    tracing::warn!(%error, "webhooks postponed")
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

/// One pass over every webhook whose turn it is; then, when `prune`, the queue pruned.
pub fn deliver_pass(
    store: &mut Store,
    webhooks: &[Webhook],
    now: i64,
    prune: bool,
) -> Result<(), StoreError> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(POST_TIMEOUT))
        .build()
        .into();
    for webhook in webhooks {
        let cursor = match store.read().webhook_cursor(&webhook.name)? {
            Some(cursor) => cursor,
            None => {
                let tx = store.write()?;
                let cursor = tx.start_webhook(&webhook.name)?;
                tx.commit()?;
                cursor
            }
        };
        if now < cursor.next_attempt_at {
            continue;
        }
        let mut through = cursor.delivered_through;
        for _ in 0..EVENTS_PER_PASS {
            let Some(event) = store.read().next_webhook_event(through, &webhook.events)? else {
                break;
            };
            let body = body_of(store, &event)?;
            match post(&agent, webhook, &event, &body) {
                Ok(()) => {
                    let tx = store.write()?;
                    tx.webhook_delivered(&webhook.name, event.id)?;
                    tx.commit()?;
                    through = event.id;
                }
                Err(error) => {
                    let failures = cursor.failures.saturating_add(1);
                    tracing::warn!(webhook = %webhook.name, event = event.id, failures, %error, "webhook not delivered");
                    let tx = store.write()?;
                    tx.webhook_failed(
                        &webhook.name,
                        failures,
                        now + retry_after(failures),
                        &error,
                    )?;
                    tx.commit()?;
                    break;
                }
            }
        }
    }
    if !prune {
        return Ok(());
    }
    let names: Vec<String> = webhooks.iter().map(|w| w.name.clone()).collect();
    let tx = store.write()?;
    tx.prune_webhook_events(&names, now - KEEP_UNSENT_SECS)?;
    tx.commit()
}

/// The JSON a receiver gets for `event`, with its ticket as it stands now.
fn body_of(store: &Store, event: &WebhookEvent) -> Result<Vec<u8>, StoreError> {
    let ticket = store
        .read()
        .ticket_row(TicketNumber(event.ticket))?
        .ok_or_else(|| StoreError::Refused(format!("no ticket #{}", event.ticket)))?;
    let body = EventBody {
        id: event.id,
        event: event.event.clone(),
        at: crate::core::webhooks::rfc3339(event.at),
        detail: event.detail.clone(),
        ticket: TicketFacts {
            number: ticket.number,
            subject: ticket.subject,
            status: ticket.status,
            priority: ticket.priority,
            level: ticket.level,
            queue: ticket.queue,
            assignee: ticket.assignee,
            requester: ticket.requester,
        },
    };
    Ok(serde_json::to_vec(&body).expect("an event serialises"))
}

fn post(
    agent: &ureq::Agent,
    webhook: &Webhook,
    event: &WebhookEvent,
    body: &[u8],
) -> Result<(), String> {
    let response = agent
        .post(&webhook.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("Guichet/", env!("CARGO_PKG_VERSION")))
        .header("X-Guichet-Event", &event.event)
        .header("X-Guichet-Delivery", &event.id.to_string())
        .header(
            SIGNATURE_HEADER,
            &signature(webhook.secret.expose().as_bytes(), body),
        )
        .send(body)
        .map_err(|e| format!("{}: {e}", webhook.url))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("{}: HTTP {status}", webhook.url))
    }
}

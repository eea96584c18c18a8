//! `/metrics`: what the service is doing, in the Prometheus (OpenMetrics) text format.
//!
//! A scrape reads the store (`Reader::metrics_rows`: running totals kept in the transactions
//! that do what they count, and gauges over small indexed sets) and adds the one figure the
//! store cannot hold, the intake latency histogram this process observes. `encode` turns them
//! into the page and does no I/O; `server` is the HTTP listener `guichet run` starts.

use std::fmt::Write as _;

use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::adapters::store::{Counter as StoreCounter, MetricsRows};

pub mod server;

/// Upper bounds, in seconds, of the intake latency buckets: from a quick commit to a store that
/// is stuck behind a lock.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Seconds from a mail in Guichet's hands (fetched from its mailbox) to its outcome committed.
/// Shared by the mailbox tasks that observe it and the page that shows it; it starts empty at
/// each start of the daemon, as a histogram of this process.
#[derive(Clone, Debug)]
pub struct IntakeLatency(Histogram);

impl Default for IntakeLatency {
    fn default() -> IntakeLatency {
        IntakeLatency(Histogram::new(LATENCY_BUCKETS))
    }
}

impl IntakeLatency {
    /// One observation per mail of a batch: each waited as long as the batch.
    pub fn observe(&self, mails: usize, elapsed: std::time::Duration) {
        for _ in 0..mails {
            self.0.observe(elapsed.as_secs_f64());
        }
    }
}

/// A label value written with the text format's escapes (`\\`, `\"`, `\n`), which
/// `prometheus-client` leaves to the caller: queue and mailbox names are the operator's text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct LabelText(String);

impl EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

type Labels = Vec<(&'static str, LabelText)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (*k, LabelText(v.to_string())))
        .collect()
}

/// The page: every metric the README's "Metrics" lists, from `rows` read at `now`, for the
/// configured `mailboxes` (a mailbox no longer configured is not shown).
pub fn encode(rows: &MetricsRows, mailboxes: &[String], latency: &IntakeLatency) -> String {
    let mut registry = Registry::with_prefix("guichet");
    let counter = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, Counter>::default();
        registry.register(name, help, family.clone());
        family
    };
    let gauge = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, Gauge>::default();
        registry.register(name, help, family.clone());
        family
    };

    let mails_in = counter(
        &mut registry,
        "mails_in",
        "Mails taken in, by source (imap, pipe, file) and outcome (new_ticket, follow_up, duplicate, quarantined, spam, knowledge)",
    );
    let mails_out = counter(
        &mut registry,
        "mails_out",
        "Outgoing mails by kind and result: queued, then sent (someone got it) or dead (no one did)",
    );
    let sla_alarms = counter(
        &mut registry,
        "sla_alarms",
        "Service-level warnings (sla_warning) and breaches escalated (sla_breach)",
    );
    let knowledge = counter(
        &mut registry,
        "knowledge_answers",
        "Knowledge-base articles suggested in an acknowledgement, sent with #answer, or confirmed with #solved",
    );
    for row in &rows.counters {
        let (family, pairs) = match row.counter {
            StoreCounter::MailsIn => (
                &mails_in,
                labels([("source", &row.label), ("outcome", &row.sublabel)]),
            ),
            StoreCounter::MailsOut => (
                &mails_out,
                labels([("kind", &row.label), ("result", &row.sublabel)]),
            ),
            StoreCounter::SlaAlarms => (&sla_alarms, labels([("kind", &row.label)])),
            StoreCounter::KnowledgeAnswers => (&knowledge, labels([("how", &row.label)])),
        };
        family.get_or_create(&pairs).inc_by(row.total);
    }

    let outbox = gauge(
        &mut registry,
        "outbox_mails",
        "Outgoing mails by state: pending (not tried yet), retrying (tried, due again), dead (reached no one)",
    );
    let dead: u64 = rows
        .counters
        .iter()
        .filter(|row| row.counter == StoreCounter::MailsOut && row.sublabel == "dead")
        .map(|row| row.total)
        .sum();
    for (state, count) in [
        ("pending", rows.outbox_pending),
        ("retrying", rows.outbox_retrying),
        ("dead", dead),
    ] {
        outbox
            .get_or_create(&labels([("state", state)]))
            .set(count as i64);
    }
    let quarantined = Gauge::<i64>::default();
    quarantined.set(rows.quarantined as i64);
    registry.register("quarantined_mails", "Mails in the quarantine", quarantined);

    let connected = gauge(
        &mut registry,
        "mailbox_connected",
        "1 while the mailbox task holds a working IMAP connection",
    );
    let last_success = gauge(
        &mut registry,
        "mailbox_last_success_timestamp_seconds",
        "When the mailbox was last checked without error (Unix time; absent before the first)",
    );
    let backlog = gauge(
        &mut registry,
        "mailbox_backlog",
        "Mails in the watched folder at the last check",
    );
    for name in mailboxes {
        let state = rows.mailboxes.iter().find(|state| &state.name == name);
        let pairs = labels([("mailbox", name)]);
        connected
            .get_or_create(&pairs)
            .set(i64::from(state.is_some_and(|s| s.connected)));
        backlog
            .get_or_create(&pairs)
            .set(state.map_or(0, |s| s.backlog as i64));
        if let Some(at) = state.and_then(|s| s.last_success_at) {
            last_success.get_or_create(&pairs).set(at);
        }
    }

    registry.register(
        "intake_latency_seconds",
        "Seconds from a mail fetched from its mailbox to its outcome committed (this process, since it started)",
        latency.0.clone(),
    );

    let open = gauge(
        &mut registry,
        "open_tickets",
        "Tickets not resolved, closed or merged, by queue, level and status",
    );
    let overdue = gauge(
        &mut registry,
        "sla_overdue_tickets",
        "Open tickets with a service-level deadline past and their clock running, by queue and level",
    );
    for group in &rows.open_tickets {
        let level = group.level.to_string();
        open.get_or_create(&labels([
            ("queue", &group.queue),
            ("level", &level),
            ("status", &group.status),
        ]))
        .set(group.count as i64);
        overdue
            .get_or_create(&labels([("queue", &group.queue), ("level", &level)]))
            .inc_by(group.overdue as i64);
    }

    let mut page = String::new();
    encode_text(&mut page, &registry).expect("writing to a String cannot fail");
    page
}

#[cfg(test)]
mod tests;

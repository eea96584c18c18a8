use std::time::Duration;

use super::*;
use crate::adapters::store::{CounterRow, MailboxStateRow, OpenTickets};

fn row(counter: StoreCounter, label: &str, sublabel: &str, total: u64) -> CounterRow {
    CounterRow {
        counter,
        label: label.into(),
        sublabel: sublabel.into(),
        total,
    }
}

fn rows() -> MetricsRows {
    MetricsRows {
        counters: vec![
            row(StoreCounter::MailsIn, "imap", "new_ticket", 3),
            row(StoreCounter::MailsIn, "pipe", "duplicate", 1),
            row(StoreCounter::MailsOut, "acknowledgement", "queued", 3),
            row(StoreCounter::MailsOut, "acknowledgement", "sent", 2),
            row(StoreCounter::MailsOut, "relay", "dead", 1),
            row(StoreCounter::MailsOut, "digest", "dead", 1),
            row(StoreCounter::SlaAlarms, "sla_breach", "", 4),
            row(StoreCounter::KnowledgeAnswers, "solved", "", 5),
        ],
        outbox_pending: 1,
        outbox_retrying: 2,
        quarantined: 7,
        open_tickets: vec![
            OpenTickets {
                queue: "general".into(),
                level: 1,
                status: "open".into(),
                count: 2,
                overdue: 1,
            },
            OpenTickets {
                queue: "general".into(),
                level: 1,
                status: "new".into(),
                count: 3,
                overdue: 2,
            },
        ],
        mailboxes: vec![
            MailboxStateRow {
                name: "support".into(),
                connected: true,
                last_success_at: Some(1_700_000_000),
                backlog: 12,
                ..Default::default()
            },
            MailboxStateRow {
                name: "retired".into(),
                connected: true,
                ..Default::default()
            },
        ],
    }
}

fn lines(page: &str) -> Vec<&str> {
    page.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn every_figure_appears_with_its_labels() {
    let latency = IntakeLatency::default();
    latency.observe(2, Duration::from_millis(30));
    let page = encode(&rows(), &["support".into(), "sales".into()], &latency);
    let samples = lines(&page);
    for expected in [
        r#"guichet_mails_in_total{source="imap",outcome="new_ticket"} 3"#,
        r#"guichet_mails_in_total{source="pipe",outcome="duplicate"} 1"#,
        r#"guichet_mails_out_total{kind="acknowledgement",result="sent"} 2"#,
        r#"guichet_sla_alarms_total{kind="sla_breach"} 4"#,
        r#"guichet_knowledge_answers_total{how="solved"} 5"#,
        r#"guichet_outbox_mails{state="pending"} 1"#,
        r#"guichet_outbox_mails{state="retrying"} 2"#,
        r#"guichet_outbox_mails{state="dead"} 2"#,
        "guichet_quarantined_mails 7",
        r#"guichet_mailbox_connected{mailbox="support"} 1"#,
        r#"guichet_mailbox_connected{mailbox="sales"} 0"#,
        r#"guichet_mailbox_backlog{mailbox="support"} 12"#,
        r#"guichet_mailbox_last_success_timestamp_seconds{mailbox="support"} 1700000000"#,
        r#"guichet_open_tickets{queue="general",level="1",status="open"} 2"#,
        r#"guichet_sla_overdue_tickets{queue="general",level="1"} 3"#,
        "guichet_intake_latency_seconds_count 2",
        r#"guichet_intake_latency_seconds_bucket{le="0.025"} 0"#,
        r#"guichet_intake_latency_seconds_bucket{le="0.05"} 2"#,
    ] {
        assert!(
            samples.contains(&expected),
            "{expected} missing from:\n{page}"
        );
    }
    // A mailbox that is no longer configured is not shown; one never checked has no timestamp.
    assert!(!page.contains("retired"), "{page}");
    assert!(!page.contains(r#"last_success_timestamp_seconds{mailbox="sales"}"#));
    assert!(page.ends_with("# EOF\n"), "{page}");
}

#[test]
fn an_empty_store_still_shows_the_gauges() {
    let page = encode(&MetricsRows::default(), &[], &IntakeLatency::default());
    let samples = lines(&page);
    assert!(samples.contains(&"guichet_quarantined_mails 0"), "{page}");
    assert!(samples.contains(&r#"guichet_outbox_mails{state="dead"} 0"#));
    assert!(samples.contains(&"guichet_intake_latency_seconds_count 0"));
}

#[test]
fn label_values_are_escaped() {
    let mut rows = MetricsRows::default();
    rows.open_tickets.push(OpenTickets {
        queue: "a \"quoted\" queue\\".into(),
        level: 2,
        status: "open".into(),
        count: 1,
        overdue: 0,
    });
    let page = encode(&rows, &[], &IntakeLatency::default());
    assert!(page.contains(r#"queue="a \"quoted\" queue\\""#), "{page}");
}

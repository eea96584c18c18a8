//! The intake pipeline against a real SQLite store: what lands in the store for the cases the
//! core decides (storm cap, strangers, reopening, quarantine, attachments).

use std::path::Path;

use guichet::config::Config;
use guichet::core::ticket::TicketNumber;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};

fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n{extra}",
        dir.join("state")
    );
    Config::parse(Path::new("test.toml"), &text, &|_| None).unwrap()
}

fn mail(from: &str, subject: &str, id: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@desk.example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra_headers}\r\nbody of {id}\r\n"
    )
    .into_bytes()
}

#[test]
fn a_sender_gets_at_most_the_hourly_cap_of_acknowledgements() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "[loop_protection]\nmax_auto_replies_per_hour = 3\n",
    );
    let mut pipeline = Pipeline::open(std::sync::Arc::new(config)).unwrap();
    let now = 1_700_000_000;
    let acknowledged: Vec<bool> = (0..5)
        .map(|i| {
            match pipeline
                .ingest(
                    &mail(
                        "robot@example.test",
                        &format!("alert {i}"),
                        &format!("a{i}@x"),
                        "",
                    ),
                    &Source::named("t"),
                    now + i,
                )
                .unwrap()
            {
                IngestOutcome::Created { acknowledged, .. } => acknowledged,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(acknowledged, [true, true, true, false, false]);
    let detail = pipeline
        .store()
        .read()
        .ticket(TicketNumber(5))
        .unwrap()
        .unwrap();
    let event = detail
        .events
        .iter()
        .find(|e| e.kind == "auto_reply_suppressed")
        .unwrap();
    assert!(
        event
            .detail
            .contains("3 automatic replies sent to this address in the last hour"),
        "{}",
        event.detail
    );
    // An hour later the sender is answered again.
    match pipeline
        .ingest(
            &mail("robot@example.test", "later", "a9@x", ""),
            &Source::named("t"),
            now + 3700,
        )
        .unwrap()
    {
        IngestOutcome::Created { acknowledged, .. } => assert!(acknowledged),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stranger_cannot_join_or_reopen_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let mut pipeline = Pipeline::open(std::sync::Arc::new(config)).unwrap();
    pipeline
        .ingest(
            &mail("alice@example.test", "Printer", "p1@x", ""),
            &Source::named("t"),
            1,
        )
        .unwrap();
    resolve(dir.path(), 1);
    let outcome = pipeline
        .ingest(
            &mail(
                "mallory@evil.example",
                "Re: [Helpdesk #1] Printer",
                "p2@x",
                "",
            ),
            &Source::named("t"),
            2,
        )
        .unwrap();
    assert_eq!(
        outcome,
        IngestOutcome::Appended {
            ticket: TicketNumber(1),
            visibility: guichet::core::intake::Visibility::Stranger
        }
    );
    let detail = pipeline
        .store()
        .read()
        .ticket(TicketNumber(1))
        .unwrap()
        .unwrap();
    assert_eq!(
        detail.ticket.status, "resolved",
        "a stranger does not reopen"
    );
    assert_eq!(detail.participants.len(), 1, "{:?}", detail.participants);
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind == "stranger_note" && e.actor == "mallory@evil.example"));
    let stored = detail.messages.last().unwrap();
    assert_eq!(
        (stored.from.as_deref(), stored.visibility.as_str()),
        (Some("mallory@evil.example"), "stranger"),
        "stored as a stranger's mail, not a participant's"
    );

    // The requester's own reply reopens it.
    pipeline
        .ingest(
            &mail(
                "Alice <ALICE@example.test>",
                "RE: [Helpdesk #1] Printer",
                "p3@x",
                "",
            ),
            &Source::named("t"),
            3,
        )
        .unwrap();
    let detail = pipeline
        .store()
        .read()
        .ticket(TicketNumber(1))
        .unwrap()
        .unwrap();
    assert_eq!(detail.ticket.status, "open");
    assert!(detail.events.iter().any(|e| e.kind == "reopened"));
}

fn resolve(dir: &Path, number: i64) {
    let db = rusqlite::Connection::open(dir.join("state/guichet.sqlite3")).unwrap();
    db.execute(
        "UPDATE tickets SET status = 'resolved' WHERE number = ?1",
        [number],
    )
    .unwrap();
}

#[test]
fn oversize_mail_is_quarantined_raw() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "max_message_bytes = 200\n");
    let mut pipeline = Pipeline::open(std::sync::Arc::new(config)).unwrap();
    let big = mail(
        "alice@example.test",
        "Huge",
        "big@x",
        &format!("X-Padding: {}\r\n", "y".repeat(300)),
    );
    let IngestOutcome::Quarantined { reason, .. } =
        pipeline.ingest(&big, &Source::named("t"), 1).unwrap()
    else {
        panic!("not quarantined")
    };
    assert!(
        reason.contains("over general.max_message_bytes (200)"),
        "{reason}"
    );
    let rows = pipeline.store().read().list_quarantine().unwrap();
    assert_eq!(
        std::fs::read(&rows[0].path).unwrap(),
        big,
        "the raw bytes are kept as they came"
    );
    assert!(pipeline
        .store()
        .read()
        .list_tickets(None)
        .unwrap()
        .is_empty());
}

#[test]
fn attachments_are_kept_by_content_hash() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let mut pipeline = Pipeline::open(std::sync::Arc::new(config)).unwrap();
    let raw =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail/attachment.eml"))
            .unwrap();
    pipeline.ingest(&raw, &Source::named("t"), 1).unwrap();
    let detail = pipeline
        .store()
        .read()
        .ticket(TicketNumber(1))
        .unwrap()
        .unwrap();
    let attachments = &detail.messages[0].attachments;
    assert_eq!(attachments.len(), 2);
    for attachment in attachments {
        let (fan, rest) = attachment.sha256.split_at(2);
        let path = dir.path().join("state/attachments").join(fan).join(rest);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            attachment.size,
            "{}",
            attachment.filename
        );
    }
}

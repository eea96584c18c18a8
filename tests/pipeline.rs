//! The intake pipeline against a real SQLite store: what lands in the store for the cases the
//! core decides (storm cap, strangers, reopening, quarantine, attachments).

use std::path::Path;

use guichet::config::Config;
use guichet::core::ticket::TicketNumber;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};

/// A pipeline on a fresh store in `dir`, with `extra` appended to the config.
fn desk(dir: &Path, extra: &str) -> Pipeline {
    Pipeline::open(std::sync::Arc::new(config(dir, extra))).unwrap()
}

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
    let mut pipeline = desk(
        dir.path(),
        "[loop_protection]\nmax_auto_replies_per_hour = 3\n",
    );
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
    let mut pipeline = desk(dir.path(), "");
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
            visibility: guichet::core::visibility::Visibility::Stranger
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
    let mut pipeline = desk(dir.path(), "max_message_bytes = 200\n");
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
    let mut pipeline = desk(dir.path(), "");
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

/// Outgoing mail of every ticket, as (kind, recipients), in ticket order.
fn outgoing(pipeline: &Pipeline) -> Vec<(String, Vec<String>)> {
    let reader = pipeline.store().read();
    let mut sent = Vec::new();
    for row in reader.list_tickets(None).unwrap() {
        let detail = reader.ticket(TicketNumber(row.number)).unwrap().unwrap();
        for message in detail.messages {
            if message.direction == "out" {
                sent.push((message.kind, message.to));
            }
        }
    }
    sent
}

fn sent_to(pipeline: &Pipeline, kind: &str, person: &str) -> usize {
    outgoing(pipeline)
        .iter()
        .filter(|(k, to)| k == kind && to.iter().any(|a| guichet::core::caps::cap_key(a) == person))
        .count()
}

#[test]
fn sub_addresses_and_reply_to_floods_get_at_most_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = desk(
        dir.path(),
        "[loop_protection]\nmax_auto_replies_per_hour = 4\n",
    );
    let now = 1_700_000_000;
    for i in 1..=30 {
        let from = format!("X+{i}@Example.test");
        pipeline
            .ingest(
                &mail(&from, &format!("sub {i}"), &format!("s{i}@x"), ""),
                &Source::named("t"),
                now + i,
            )
            .unwrap();
        let reply_to = format!("Reply-To: victim+{i}@example.test\r\n");
        pipeline
            .ingest(
                &mail(
                    &format!("spoofer{i}@elsewhere.test"),
                    &format!("reply-to {i}"),
                    &format!("r{i}@x"),
                    &reply_to,
                ),
                &Source::named("t"),
                now + i,
            )
            .unwrap();
    }
    assert_eq!(sent_to(&pipeline, "acknowledgement", "x@example.test"), 4);
    assert_eq!(
        sent_to(&pipeline, "acknowledgement", "victim@example.test"),
        4
    );
    let spoofers: usize = (1..=30)
        .map(|i| {
            sent_to(
                &pipeline,
                "acknowledgement",
                &format!("spoofer{i}@elsewhere.test"),
            )
        })
        .sum();
    assert_eq!(spoofers, 0, "the address mailed is Reply-To, never From");
}

#[test]
fn a_flood_makes_at_most_the_cap_of_notices_and_each_held_one_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = desk(
        dir.path(),
        "[loop_protection]\nmax_new_ticket_notices_per_sender_per_hour = 5\n\
         max_automatic_mails_per_hour = 40\n\
         [[queue]]\nname = \"general\"\ntriagers = [\"triage@desk.example.test\"]\n",
    );
    let now = 1_700_000_000;
    for i in 1..=200 {
        pipeline
            .ingest(
                &mail(
                    &format!("flood+{i}@example.test"),
                    &format!("flood {i}"),
                    &format!("f{i}@x"),
                    "",
                ),
                &Source::named("t"),
                now + i / 4,
            )
            .unwrap();
    }
    assert_eq!(
        sent_to(&pipeline, "new_ticket_notice", "triage@desk.example.test"),
        5
    );
    {
        let reader = pipeline.store().read();
        let held = reader.ticket(TicketNumber(6)).unwrap().unwrap();
        let audit: Vec<&str> = held
            .events
            .iter()
            .filter(|e| e.kind == "auto_reply_suppressed")
            .map(|e| e.detail.as_str())
            .collect();
        assert!(
            audit
                .iter()
                .any(|d| d.contains("new-ticket notices caused by flood@example.test")),
            "{audit:?}"
        );

        // Many senders: the helpdesk-wide cap holds. 5 acks + 5 notices from the flood so far.
    }
    for i in 1..=60 {
        pipeline
            .ingest(
                &mail(
                    &format!("person{i}@example{i}.test"),
                    &format!("many {i}"),
                    &format!("m{i}@x"),
                    "",
                ),
                &Source::named("t"),
                now + 100 + i,
            )
            .unwrap();
    }
    let automatic = outgoing(&pipeline)
        .iter()
        .filter(|(kind, _)| kind == "acknowledgement" || kind == "new_ticket_notice")
        .count();
    assert_eq!(automatic, 40);
}

#[test]
fn what_intake_left_out_of_a_hostile_mail_is_an_event_on_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = desk(dir.path(), "");
    let to: Vec<String> = (0..150).map(|i| format!("user{i}@example.test")).collect();
    let html = format!("{}deep words{}", "<div>".repeat(500), "</div>".repeat(500));
    let raw = format!(
        "From: alice@example.test\r\nTo: support@desk.example.test, {}\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\nContent-Type: text/html\r\n\r\n{html}\r\n",
        to.join(", ")
    );
    let outcome = pipeline
        .ingest(raw.as_bytes(), &Source::named("t"), 1_700_000_000)
        .unwrap();
    assert!(
        matches!(outcome, IngestOutcome::Created { .. }),
        "{outcome:?}"
    );
    let detail = pipeline
        .store()
        .read()
        .ticket(TicketNumber(1))
        .unwrap()
        .unwrap();
    let cuts = intake_cuts(&detail);
    assert_eq!(cuts.len(), 2, "{cuts:?}");
    assert!(
        cuts.iter()
            .any(|c| c.starts_with("HTML nested 500 deep: flattened below depth 64")),
        "{cuts:?}"
    );
    assert!(
        cuts.contains(&"To has 151 addresses: only the first 100 were read"),
        "{cuts:?}"
    );
    // The text below the cut is still there.
    assert!(detail.messages[0].text.contains("deep words"));
}

/// What intake said it left out of a ticket's mail (`intake_cut` events).
fn intake_cuts(detail: &guichet::adapters::store::TicketDetail) -> Vec<&str> {
    detail
        .events
        .iter()
        .filter(|e| e.kind == "intake_cut")
        .map(|e| e.detail.as_str())
        .collect()
}

#[test]
fn a_text_too_long_to_index_whole_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = desk(dir.path(), "");
    let line = "word ".repeat(200);
    let body = format!("{line}\r\n").repeat(1100);
    let raw = String::from_utf8(mail("alice@example.test", "long", "long@x", ""))
        .unwrap()
        .replace("body of long@x", &body);
    pipeline
        .ingest(raw.as_bytes(), &Source::named("t"), 1_700_000_000)
        .unwrap();
    let detail = pipeline
        .store()
        .read()
        .ticket(TicketNumber(1))
        .unwrap()
        .unwrap();
    let cuts = intake_cuts(&detail);
    assert_eq!(
        cuts,
        ["text of 1099999 characters: only the first 1000000 are indexed for search"]
    );
}

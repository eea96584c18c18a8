//! Upgrades: a state directory written by the previous release (tag `v0.1.0`, schema 13; see
//! fixtures/README.md) migrates to the current schema with its tickets, mail, tags, outbox and
//! attachments intact and goes on taking mail; a database newer than this binary is refused, with
//! a message that says so, and left untouched.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use guichet::adapters::blobs::BlobStore;
use guichet::adapters::store::Store;
use guichet::config::Config;
use guichet::core::ticket::TicketNumber;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};
use sha2::{Digest, Sha256};

const RELEASE: &str = "v0.1.0";
const RELEASE_SCHEMA: i64 = 13;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/upgrade")
        .join(RELEASE)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the release's state directory and its config pointing at it.
fn released_desk(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    copy_dir(&fixture().join("state"), &state);
    // The state directory must be private to its user, as the daemon makes it.
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let text = std::fs::read_to_string(fixture().join("guichet.toml")).unwrap();
    let config = dir.join("guichet.toml");
    std::fs::write(
        &config,
        text.replace("state_dir = \"state\"", &format!("state_dir = {state:?}")),
    )
    .unwrap();
    config
}

fn user_version(database: &Path) -> i64 {
    rusqlite::Connection::open(database)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[test]
fn a_database_of_the_previous_release_migrates_with_its_data_intact() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(Config::load(&released_desk(dir.path())).unwrap());
    let database = config.database_path();
    assert_eq!(user_version(&database), RELEASE_SCHEMA);

    let store = Store::open(&database).unwrap();
    assert!(user_version(&database) > RELEASE_SCHEMA);
    let tickets = store.read().list_tickets(None).unwrap();
    let summary: Vec<(u64, &str, &str, &str)> = tickets
        .iter()
        .map(|t| {
            (
                t.number,
                t.queue.as_str(),
                t.requester.as_str(),
                t.subject.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                1,
                "general",
                "daniel.okafor@example.test",
                "Laptop cannot connect to office Wi-Fi since Monday"
            ),
            (
                2,
                "hardware",
                "lucie.moreau@example.test",
                "Écran noir au démarrage + rapport d'incidents"
            ),
        ]
    );

    let first = store.read().ticket(TicketNumber(1)).unwrap().unwrap();
    let directions: Vec<&str> = first
        .messages
        .iter()
        .map(|m| m.direction.as_str())
        .collect();
    assert_eq!(directions, ["in", "out", "in"]);
    assert!(first.messages[2]
        .text
        .contains("It works again after a restart"));

    let second = store.read().ticket(TicketNumber(2)).unwrap().unwrap();
    assert_eq!(second.tags, ["screen"]);
    let attachments = &second.messages[0].attachments;
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    let blobs = BlobStore::new(guichet::pipeline::attachments_dir(&config));
    for attachment in attachments {
        let bytes = std::fs::read(blobs.path_of(&attachment.sha256, "")).unwrap();
        assert_eq!(
            bytes.len() as u64,
            attachment.size,
            "{}",
            attachment.filename
        );
        assert_eq!(
            format!("{:x}", Sha256::digest(&bytes)),
            attachment.sha256,
            "{}",
            attachment.filename
        );
    }
    assert_eq!(store.read().outbox_counts().unwrap().pending, 2);
    drop(store);

    // The migrated desk goes on: a reply to #2 threads onto it, a new mail opens #3.
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    let reply = b"From: Lucie Moreau <lucie.moreau@example.test>\r\nTo: support@desk.example.test\r\n\
Subject: Re: [Helpdesk #2] Ecran noir\r\nMessage-ID: <after-upgrade-1@example.test>\r\n\r\nStill black.\r\n";
    let new = b"From: Ann <ann@example.test>\r\nTo: support@desk.example.test\r\n\
Subject: New badge\r\nMessage-ID: <after-upgrade-2@example.test>\r\n\r\nMy badge broke.\r\n";
    let source = Source::named("test");
    match pipeline.ingest(reply, &source, 1_800_000_000).unwrap() {
        IngestOutcome::Appended { ticket, .. } => assert_eq!(ticket, TicketNumber(2)),
        other => panic!("{other:?}"),
    }
    match pipeline.ingest(new, &source, 1_800_000_000).unwrap() {
        IngestOutcome::Created { ticket, .. } => assert_eq!(ticket, TicketNumber(3)),
        other => panic!("{other:?}"),
    }

    // The binary reads the migrated store too.
    let out = common::run_guichet(&config.file, &["tickets", "show", "2"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("Still black."), "{text}");
}

#[test]
fn a_database_newer_than_the_binary_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = released_desk(dir.path());
    let database = dir.path().join("state/guichet.sqlite3");
    drop(Store::open(&database).unwrap());
    let current = user_version(&database);
    let newer = current + 1;
    rusqlite::Connection::open(&database)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    for args in [&["run"][..], &["status"][..], &["ingest"][..]] {
        let out = common::run_guichet(&config, args, b"From: a@example.test\r\n\r\nhi\r\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted a newer database");
        assert!(
            stderr.contains(&format!(
                "schema version {newer}, newer than this Guichet ({current}): upgrade Guichet"
            )),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(user_version(&database), newer);
    let tickets: i64 = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row("SELECT count(*) FROM tickets", [], |row| row.get(0))
        .unwrap();
    assert_eq!(tickets, 2);
}

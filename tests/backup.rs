//! `guichet backup`, `restore` and `check` with the real binary on a real store: a backup taken
//! while `guichet ingest` keeps storing mail restores to a store whose every ticket, mail and
//! attachment is the source's; `check` finds a deleted file and an orphan.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::TempDesk;
use sha2::{Digest, Sha256};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A request with a file only it carries.
fn mail_with_file(n: usize) -> Vec<u8> {
    let file: String = format!("report {n} ").repeat(50 + n);
    let encoded = base64_lines(file.as_bytes());
    format!(
        "From: Customer {n} <customer{n}@client.example.test>\r\nTo: support@desk.example.test\r\n\
         Subject: Problem number {n}\r\nMessage-ID: <backup-{n}@client.example.test>\r\n\
         Date: Tue, 24 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThe report of case {n} is attached.\r\n\
         --b\r\nContent-Type: text/plain; name=\"report{n}.txt\"\r\n\
         Content-Disposition: attachment; filename=\"report{n}.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b--\r\n"
    )
    .into_bytes()
}

fn base64_lines(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(3).enumerate() {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        if i % 19 == 18 {
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out
}

/// Rows that must come back identical: (table, key, columns).
fn rows(db: &rusqlite::Connection, sql: &str) -> Vec<Vec<String>> {
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) => text(t),
                        rusqlite::types::ValueRef::Blob(b) => sha256(b),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

const TICKETS: &str =
    "SELECT number, subject, requester, status, created_at FROM tickets ORDER BY number";
const MESSAGES: &str =
    "SELECT id, ticket, direction, subject, text, raw, content_hash FROM messages ORDER BY id";
const ATTACHMENTS: &str = "SELECT id, message, filename, size, sha256 FROM attachments ORDER BY id";

#[test]
fn a_backup_taken_while_mail_arrives_restores_every_ticket_mail_and_file() {
    const MAILS: usize = 40;
    let source = TempDesk::new("");
    // One mail the quarantine keeps, with its file.
    source.ingest(b"no header here at all\r\n\r\njust bytes\r\n");
    let (started, backup_started) = std::sync::mpsc::channel();
    let config = source.config.clone();
    let ingesting = std::thread::spawn(move || {
        for n in 0..MAILS {
            if n == MAILS / 4 {
                started.send(()).unwrap();
            }
            let output = common::run_guichet(&config, &["ingest"], &mail_with_file(n));
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        }
    });
    backup_started.recv().unwrap();
    let backup = source.dir.path().join("backup");
    let output = source.run(&["backup", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    ingesting.join().unwrap();

    // Private: the directory 0700, its files 0600.
    assert_eq!(mode(&backup), 0o700);
    assert_eq!(mode(&backup.join("guichet.sqlite3")), 0o600);
    assert_eq!(mode(&backup.join("manifest.json")), 0o600);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let backed_up = manifest["counts"]["tickets"].as_u64().unwrap() as usize;
    assert!(
        (MAILS / 4..=MAILS).contains(&backed_up),
        "the backup holds the tickets stored before it: {manifest}"
    );
    let attachment = manifest["attachments"][0]["hash"].as_str().unwrap();
    let attachment_file = backup
        .join("attachments")
        .join(&attachment[..2])
        .join(&attachment[2..]);
    assert_eq!(mode(&attachment_file), 0o600);
    assert_eq!(mode(attachment_file.parent().unwrap()), 0o700);

    let restored = TempDesk::new("");
    let output = restored.run(&["restore", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = restored.run(&["check"], b"");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("0 orphan files"),
        "{}",
        text(&output.stdout)
    );

    // The source, now quiet, holds everything the backup holds, identical, and more.
    let (from, to) = (source.db(), restored.db());
    for query in [TICKETS, MESSAGES, ATTACHMENTS] {
        let (all, back) = (rows(&from, query), rows(&to, query));
        assert!(!back.is_empty(), "{query}");
        assert_eq!(&all[..back.len()], &back[..], "{query}");
    }
    assert_eq!(rows(&to, TICKETS).len(), backed_up);
    println!("figure: the backup holds {backed_up} of {MAILS} tickets (taken while mail arrived)");
    assert_eq!(
        rows(&from, TICKETS).len(),
        MAILS,
        "every mail made its ticket in the source"
    );
    for row in rows(&to, ATTACHMENTS) {
        let hash = &row[4];
        let bytes = std::fs::read(
            restored
                .state()
                .join("attachments")
                .join(&hash[..2])
                .join(&hash[2..]),
        )
        .unwrap();
        assert_eq!(&sha256(&bytes), hash);
    }
    assert_eq!(
        rows(&to, "SELECT reason, size, content_hash FROM quarantine"),
        rows(&from, "SELECT reason, size, content_hash FROM quarantine")
    );
    let paths = rows(&to, "SELECT path FROM quarantine");
    assert!(
        Path::new(&paths[0][0]).starts_with(restored.state()) && Path::new(&paths[0][0]).exists(),
        "the quarantine row names the restored file: {paths:?}"
    );

    // Restoring over a store needs --force; a running daemon refuses even that.
    let output = restored.run(&["restore", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--force"),
        "{}",
        text(&output.stderr)
    );
    let daemon = common::Daemon::start(&restored.config);
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the daemon's heartbeat",
        || {
            let output = restored.run(&["status"], b"");
            text(&output.stdout)
                .contains("daemon:     running")
                .then_some(())
        },
    );
    let output = restored.run(&["restore", "--force", backup.to_str().unwrap()], b"");
    assert!(daemon.stop());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("the daemon is running"),
        "{}",
        text(&output.stderr)
    );
    let output = restored.run(&["restore", "--force", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(rows(&restored.db(), TICKETS).len(), backed_up);

    // A damaged backup is refused before anything is touched.
    std::fs::write(&attachment_file, b"tampered").unwrap();
    let output = restored.run(&["restore", "--force", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("backup damaged"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(rows(&restored.db(), TICKETS).len(), backed_up);

    // A backup goes into a new or empty directory only.
    let output = source.run(&["backup", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("not empty"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn check_finds_a_deleted_file_a_damaged_one_and_an_orphan() {
    let desk = TempDesk::new("");
    for n in 0..3 {
        desk.ingest(&mail_with_file(n));
    }
    let output = desk.run(&["check"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(
        text(&output.stdout).starts_with("sound:"),
        "{}",
        text(&output.stdout)
    );

    let hashes = rows(&desk.db(), "SELECT sha256 FROM attachments ORDER BY id");
    let file = |hash: &str| {
        desk.state()
            .join("attachments")
            .join(&hash[..2])
            .join(&hash[2..])
    };
    std::fs::remove_file(file(&hashes[0][0])).unwrap();
    std::fs::write(file(&hashes[1][0]), b"changed").unwrap();
    let orphan = desk.state().join("attachments/ff/0123-not-referenced");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"left over").unwrap();

    let output = desk.run(&["check"], b"");
    let out = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("missing: attachment {}", hashes[0][0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("damaged: attachment {}", hashes[1][0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("orphan: {}", orphan.display())),
        "{out}"
    );
    assert!(
        !out.contains(&format!("attachment {}", hashes[2][0])),
        "{out}"
    );
    assert!(
        text(&output.stderr).contains("check found 2 problems"),
        "{}",
        text(&output.stderr)
    );

    let output = desk.run(&["check", "--json"], b"");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["missing"].as_array().unwrap().len(), 1);
    assert_eq!(report["orphans"].as_array().unwrap().len(), 1);

    // A backup of a damaged store says what is missing and writes no manifest.
    let backup = desk.dir.path().join("backup");
    let output = desk.run(&["backup", backup.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("incomplete"),
        "{}",
        text(&output.stderr)
    );
    assert!(!backup.join("manifest.json").exists());
}

/// The same over the real mail stack: mail through Postfix into the pipe while the daemon runs,
/// the backup taken by the daemon's user meanwhile.
#[test]
fn a_backup_of_a_desk_fed_by_postfix_restores_every_ticket_mail_and_file() {
    let Some(stack) = common::mailstack() else {
        return;
    };
    const MAILS: usize = 24;
    let mut desk = common::Instance::new(&stack, "backup", stack.smtp_port(), "");
    desk.start();
    let tickets = |instance: &common::Instance| {
        let (code, out, _) = instance.cli(&["tickets", "list", "--json"]);
        (code == 0)
            .then(|| serde_json::from_str::<Vec<serde_json::Value>>(&out).ok())
            .flatten()
            .map_or(0, |list| list.len())
    };
    let support = desk.support.clone();
    let sending = std::thread::spawn(move || {
        for n in 0..MAILS {
            stack.send(
                &format!("customer{n}@client.example.test"),
                &support,
                &mail_with_file(n),
            );
        }
    });
    common::wait_until(
        std::time::Duration::from_secs(60),
        "the first tickets",
        || (tickets(&desk) >= MAILS / 4).then_some(()),
    );
    let backup = desk.dir.join("backup");
    let (code, out, err) = desk.cli(&["backup", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    sending.join().unwrap();
    common::wait_until(
        std::time::Duration::from_secs(120),
        "every mail's ticket",
        || (tickets(&desk) == MAILS).then_some(()),
    );
    desk.stop();

    let stack = common::mailstack().unwrap();
    let restored = common::Instance::new(&stack, "restored", stack.smtp_port(), "");
    let (code, out, err) = restored.cli(&["restore", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = restored.cli(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    let open = |instance: &common::Instance| {
        rusqlite::Connection::open_with_flags(
            instance.dir.join("state/guichet.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    };
    let (from, to) = (open(&desk), open(&restored));
    let backed_up = rows(&to, TICKETS).len();
    assert!((MAILS / 4..=MAILS).contains(&backed_up), "{backed_up}");
    println!("figure: the backup holds {backed_up} of {MAILS} tickets sent through Postfix");
    for query in [TICKETS, MESSAGES, ATTACHMENTS] {
        let (all, back) = (rows(&from, query), rows(&to, query));
        assert!(!back.is_empty(), "{query}");
        assert_eq!(&all[..back.len()], &back[..], "{query}");
    }
    for row in rows(&to, ATTACHMENTS) {
        let hash = &row[4];
        let bytes = std::fs::read(
            restored
                .dir
                .join("state/attachments")
                .join(&hash[..2])
                .join(&hash[2..]),
        )
        .unwrap();
        assert_eq!(&sha256(&bytes), hash);
    }
}

//! Retention, `export-person` and `forget` with the real binary on a real store: retention at a
//! fixed clock purges exactly the right tickets; a person's export parses back; after `forget`
//! nothing in the database, its search index or the file folders names the person, and other
//! people's tickets are intact.

mod common;

use std::path::PathBuf;

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

/// A mail with headers as given and, when `file` is set, a text attachment holding it.
fn mail(headers: &str, body: &str, file: Option<&str>) -> Vec<u8> {
    let head = format!(
        "{headers}To: support@desk.example.test\r\nDate: Tue, 24 Nov 2026 09:00:00 +0100\r\n\
         MIME-Version: 1.0\r\n"
    );
    match file {
        None => format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"),
        Some(file) => format!(
            "{head}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\n\
             Content-Type: text/plain; name=\"scan.txt\"\r\n\
             Content-Disposition: attachment; filename=\"scan.txt\"\r\n\r\n{file}\r\n--b--\r\n"
        ),
    }
    .into_bytes()
}

fn one(db: &rusqlite::Connection, sql: &str) -> String {
    db.query_row(sql, [], |row| {
        Ok(match row.get_ref(0)? {
            rusqlite::types::ValueRef::Null => "NULL".to_string(),
            rusqlite::types::ValueRef::Integer(n) => n.to_string(),
            rusqlite::types::ValueRef::Text(t) => text(t),
            rusqlite::types::ValueRef::Blob(b) => sha256(b),
            rusqlite::types::ValueRef::Real(f) => f.to_string(),
        })
    })
    .unwrap()
}

fn column(db: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            let mut line = Vec::new();
            for i in 0..columns {
                line.push(match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Text(t) => text(t),
                    rusqlite::types::ValueRef::Blob(b) => sha256(b),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                });
            }
            Ok(line.join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn attachment_file(desk: &TempDesk, hash: &str) -> PathBuf {
    desk.state()
        .join("attachments")
        .join(&hash[..2])
        .join(&hash[2..])
}

#[test]
fn retention_at_a_fixed_clock_purges_exactly_the_tickets_past_their_limits() {
    let desk = TempDesk::new("[retention]\nraw_mail_days = 30\ntickets_days = 365\n");
    for n in 1..=4 {
        desk.ingest(&mail(
            &format!(
                "From: Person {n} <person{n}@client.example.test>\r\nSubject: Case {n}\r\n\
                 Message-ID: <retention-{n}@client.example.test>\r\n"
            ),
            &format!("Text of case {n}."),
            Some(&format!("file of case {n}")),
        ));
    }
    let at = chrono::DateTime::parse_from_rfc3339("2027-06-01T00:00:00Z")
        .unwrap()
        .timestamp();
    let day = 86_400;
    let db = desk.db();
    for (number, status, days_ago) in [
        (1, "closed", 40),
        (2, "resolved", 400),
        (3, "closed", 10),
        (4, "open", 400),
    ] {
        db.execute(
            "UPDATE tickets SET status = ?2, updated_at = ?3 WHERE number = ?1",
            rusqlite::params![number, status, at - days_ago * day],
        )
        .unwrap();
    }
    let files: Vec<String> = (1..=4)
        .map(|n| {
            one(
                &db,
                &format!(
                    "SELECT a.sha256 FROM attachments a JOIN messages m ON m.id = a.message
                     WHERE m.ticket = {n}"
                ),
            )
        })
        .collect();
    let raw_of = |n: u32| {
        column(
            &desk.db(),
            &format!("SELECT raw FROM messages WHERE ticket = {n} ORDER BY id"),
        )
    };
    let (raw3, raw4) = (raw_of(3), raw_of(4));

    let output = desk.run(&["retention", "--at", "2027-06-01T00:00:00Z"], b"");
    let out = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{out}{}",
        text(&output.stderr)
    );
    assert_eq!(
        out,
        "#1: raw mail and attachments\n#2: whole ticket\n2 tickets purged\n"
    );

    let db = desk.db();
    // 1: raw mail and files gone, text and metadata kept; the acknowledgement still waiting in
    // the outbox (no [smtp] here) keeps its bytes until it is sent or given up.
    assert_eq!(
        one(
            &db,
            "SELECT count(*) FROM messages m JOIN outbox o ON o.message = m.id
             WHERE m.ticket = 1 AND length(m.raw) > 0 AND o.status = 'pending'"
        ),
        "1"
    );
    assert_eq!(
        one(
            &db,
            "SELECT count(*) FROM messages WHERE ticket = 1 AND length(raw) > 0"
        ),
        "1"
    );
    assert_eq!(
        one(
            &db,
            "SELECT text FROM messages WHERE ticket = 1 AND direction = 'in'"
        ),
        "Text of case 1."
    );
    assert_eq!(
        one(&db, "SELECT subject FROM tickets WHERE number = 1"),
        "Case 1"
    );
    assert!(!attachment_file(&desk, &files[0]).exists());
    // 2: the whole content gone, the number and the trail kept.
    assert_eq!(
        one(&db, "SELECT subject FROM tickets WHERE number = 2"),
        "(erased)"
    );
    assert_eq!(
        one(&db, "SELECT requester FROM tickets WHERE number = 2"),
        "(erased)"
    );
    assert_eq!(
        column(&db, "SELECT DISTINCT text FROM messages WHERE ticket = 2"),
        ["(erased)"]
    );
    assert_eq!(
        one(&db, "SELECT count(*) FROM participants WHERE ticket = 2"),
        "0"
    );
    assert_eq!(
        one(&db, "SELECT purged_at FROM tickets WHERE number = 2"),
        at.to_string()
    );
    assert!(!attachment_file(&desk, &files[1]).exists());
    // 3 (closed too recently) and 4 (not done) untouched.
    assert_eq!(raw_of(3), raw3);
    assert_eq!(raw_of(4), raw4);
    assert!(attachment_file(&desk, &files[2]).exists());
    assert!(attachment_file(&desk, &files[3]).exists());

    // Each purge is on its ticket's record.
    let shown = text(&desk.run(&["tickets", "show", "1"], b"").stdout);
    assert!(
        shown.contains("retention_purged") && shown.contains("done for 30 days"),
        "{shown}"
    );
    let shown = text(&desk.run(&["tickets", "show", "2"], b"").stdout);
    assert!(
        shown.contains("whole ticket purged, done for 365 days"),
        "{shown}"
    );

    // Nothing referenced is missing, and a second pass has nothing to do.
    let output = desk.run(&["check"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let output = desk.run(&["retention", "--at", "2027-06-01T00:00:00Z"], b"");
    assert_eq!(text(&output.stdout), "0 tickets purged\n");
}

const CARLOTTA: &str = "carlotta.rossini@customer.test";

/// Carlotta's own ticket with a file, Bruno's ticket she is copied on and answers, Dora's
/// ticket, Carlotta's ticket that Emil is copied on and answers, and two quarantined mails, one
/// naming her.
fn desk_with_carlotta() -> TempDesk {
    let desk = TempDesk::new("");
    desk.ingest(&mail(
        "From: Carlotta Rossini <carlotta.rossini@customer.test>\r\nSubject: Printer broken\r\n\
         Message-ID: <c-1@customer.test>\r\n",
        "The printer on floor 3 is broken. Carlotta",
        Some("Scan signed by Carlotta Rossini"),
    ));
    desk.ingest(&mail(
        "From: Bruno Verdi <bruno.verdi@customer.test>\r\n\
         Cc: Carlotta Rossini <carlotta.rossini@customer.test>\r\nSubject: Login fails\r\n\
         Message-ID: <b-1@customer.test>\r\n",
        "Carlotta Rossini and I cannot log in since Monday.",
        Some("Bruno's screenshot"),
    ));
    desk.ingest(&mail(
        "From: Carlotta Rossini <carlotta.rossini@customer.test>\r\nSubject: Re: Login fails\r\n\
         Message-ID: <c-2@customer.test>\r\nIn-Reply-To: <b-1@customer.test>\r\n",
        "Same for me, call me on 555-0199.",
        None,
    ));
    desk.ingest(&mail(
        "From: Dora Neri <dora.neri@other.test>\r\nSubject: VPN down\r\n\
         Message-ID: <d-1@other.test>\r\n",
        "The VPN is down.",
        Some("Dora's log"),
    ));
    desk.ingest(&mail(
        "From: Carlotta Rossini <carlotta.rossini@customer.test>\r\n\
         Cc: Emil Bianchi <emil.bianchi@customer.test>\r\nSubject: Badges\r\n\
         Message-ID: <c-3@customer.test>\r\n",
        "Please make badges for Emil and me.",
        None,
    ));
    desk.ingest(&mail(
        "From: Emil Bianchi <emil.bianchi@customer.test>\r\nSubject: Re: Badges\r\n\
         Message-ID: <e-1@customer.test>\r\nIn-Reply-To: <c-3@customer.test>\r\n",
        "Mine is number 42.",
        None,
    ));
    desk.ingest(b"To: support@desk.example.test\r\nSubject: lost\r\n\r\nfrom carlotta.rossini@customer.test\r\n");
    desk.ingest(b"To: support@desk.example.test\r\nSubject: other\r\n\r\nnobody we know\r\n");
    let db = desk.db();
    assert_eq!(one(&db, "SELECT count(*) FROM tickets"), "4");
    assert_eq!(
        one(
            &db,
            "SELECT ticket FROM messages WHERE message_id = 'e-1@customer.test'"
        ),
        "4",
        "Emil's answer joined Carlotta's ticket"
    );
    assert_eq!(
        one(
            &db,
            "SELECT ticket FROM messages WHERE message_id = 'c-2@customer.test'"
        ),
        "2",
        "Carlotta's answer joined Bruno's ticket"
    );
    assert_eq!(one(&db, "SELECT count(*) FROM quarantine"), "2");
    desk
}

#[test]
fn export_person_writes_her_tickets_mails_and_files_and_the_mbox_parses_back() {
    let desk = desk_with_carlotta();
    let out = desk.dir.path().join("export");
    let output = desk.run(
        &[
            "export-person",
            "Carlotta.Rossini@Customer.test",
            out.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("person.json")).unwrap()).unwrap();
    assert_eq!(json["address"], CARLOTTA);
    assert_eq!(json["names"], serde_json::json!(["Carlotta Rossini"]));
    let tickets: Vec<u64> = json["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket"]["number"].as_u64().unwrap())
        .collect();
    assert_eq!(tickets, [1, 2, 4]);
    // On the shared ticket: her answer, and Bruno's mail that was copied to her.
    let shared: Vec<&str> = json["tickets"][1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(shared, ["b-1@customer.test", "c-2@customer.test"]);

    let mbox = std::fs::read(out.join("mail.mbox")).unwrap();
    let mails = guichet::core::personal_data::mbox_mails(&mbox);
    assert_eq!(mails.len(), json["mails"].as_array().unwrap().len());
    let mut ids = Vec::new();
    for raw in &mails {
        let parsed = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("every mbox entry parses");
        let named = |list: Option<&mail_parser::Address>| {
            list.is_some_and(|l| {
                l.iter().any(|a| {
                    a.address()
                        .is_some_and(|a| a.eq_ignore_ascii_case(CARLOTTA))
                })
            })
        };
        assert!(
            named(parsed.from()) || named(parsed.to()) || named(parsed.cc()),
            "{}",
            text(raw)
        );
        ids.extend(parsed.message_id().map(str::to_string));
    }
    assert!(ids.contains(&"c-1@customer.test".to_string()), "{ids:?}");
    assert!(ids.contains(&"c-2@customer.test".to_string()), "{ids:?}");
    assert!(!ids.contains(&"d-1@other.test".to_string()), "{ids:?}");

    let file = json["mails"][0]["attachments"][0]["file"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join(file)).unwrap(),
        "Scan signed by Carlotta Rossini"
    );
}

/// Every place in the state directory that holds `needle`, ignoring case: rows of every table
/// (the full-text indexes' own tables included), the database and WAL files, the file folders.
fn holding(desk: &TempDesk, needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    let contains = |bytes: &[u8]| {
        bytes
            .to_ascii_lowercase()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    let mut found = Vec::new();
    let db = desk.db();
    let tables = column(&db, "SELECT name FROM sqlite_master WHERE type = 'table'");
    for table in tables {
        let mut statement = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let bytes = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => t.to_vec(),
                    rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                    _ => continue,
                };
                if contains(&bytes) {
                    found.push(format!("table {table}: {}", text(&bytes)));
                }
            }
        }
    }
    for word in ["carlotta", "rossini"] {
        let matches = one(
            &db,
            &format!("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '{word}'"),
        );
        if needle.contains(word) && matches != "0" {
            found.push(format!("messages_fts matches {word}"));
        }
    }
    drop(db);
    let mut files = vec![
        desk.state().join("guichet.sqlite3"),
        desk.state().join("guichet.sqlite3-wal"),
    ];
    for folder in ["attachments", "quarantine"] {
        for fan in std::fs::read_dir(desk.state().join(folder)).unwrap() {
            for file in std::fs::read_dir(fan.unwrap().path()).unwrap() {
                files.push(file.unwrap().path());
            }
        }
    }
    for file in files {
        if std::fs::read(&file).is_ok_and(|bytes| contains(&bytes)) {
            found.push(format!("file {}", file.display()));
        }
    }
    found
}

fn snapshot(db: &rusqlite::Connection, ticket: u32) -> Vec<String> {
    let mut rows = column(
        db,
        &format!(
            "SELECT number, subject, requester, requester_name, status FROM tickets WHERE number = {ticket}"
        ),
    );
    rows.extend(column(
        db,
        &format!(
            "SELECT id, direction, from_addr, to_addrs, subject, text, raw FROM messages
             WHERE ticket = {ticket} ORDER BY id"
        ),
    ));
    rows.extend(column(
        db,
        &format!("SELECT address, name, role FROM participants WHERE ticket = {ticket}"),
    ));
    rows
}

#[test]
fn forget_leaves_nothing_of_her_and_the_trail_and_other_tickets_intact() {
    let desk = desk_with_carlotta();
    for needle in [CARLOTTA, "Carlotta", "Rossini"] {
        assert!(
            !holding(&desk, needle).is_empty(),
            "the store held {needle} before"
        );
    }
    let db = desk.db();
    let dora = snapshot(&db, 3);
    let bruno_file = one(
        &db,
        "SELECT a.sha256 FROM attachments a JOIN messages m ON m.id = a.message
         WHERE m.message_id = 'b-1@customer.test'",
    );
    let trail = column(
        &db,
        "SELECT id, ticket, at, kind, message FROM events ORDER BY id",
    );
    drop(db);

    let output = desk.run(&["forget", CARLOTTA], b"");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("1 tickets whole, 2 in part"),
        "{}",
        text(&output.stdout)
    );

    for needle in [CARLOTTA, "Carlotta", "Rossini", "555-0199"] {
        assert_eq!(holding(&desk, needle), Vec::<String>::new(), "{needle}");
    }

    let db = desk.db();
    // Dora's ticket is as it was; Bruno's keeps his mail, his file and him.
    assert_eq!(snapshot(&db, 3), dora);
    assert_eq!(
        one(&db, "SELECT requester FROM tickets WHERE number = 2"),
        "bruno.verdi@customer.test"
    );
    assert_eq!(
        one(
            &db,
            "SELECT text FROM messages WHERE message_id = 'b-1@customer.test'"
        ),
        "(erased) and I cannot log in since Monday."
    );
    assert_eq!(
        column(&db, "SELECT address FROM participants WHERE ticket = 2"),
        ["bruno.verdi@customer.test"]
    );
    assert!(attachment_file(&desk, &bruno_file).exists());
    assert_eq!(
        one(
            &db,
            "SELECT text FROM messages WHERE message_id = 'c-2@customer.test'"
        ),
        "(erased)"
    );
    // Her ticket shared with Emil keeps Emil and his mail; she no longer is its requester.
    assert_eq!(
        one(&db, "SELECT requester FROM tickets WHERE number = 4"),
        "(erased)"
    );
    assert_eq!(
        one(&db, "SELECT subject FROM tickets WHERE number = 4"),
        "Badges"
    );
    assert_eq!(
        column(&db, "SELECT address FROM participants WHERE ticket = 4"),
        ["emil.bianchi@customer.test"]
    );
    assert_eq!(
        one(
            &db,
            "SELECT text FROM messages WHERE message_id = 'e-1@customer.test'"
        ),
        "Mine is number 42."
    );
    assert_eq!(
        one(
            &db,
            "SELECT text FROM messages WHERE message_id = 'c-3@customer.test'"
        ),
        "(erased)"
    );
    // Her own ticket keeps its number and the shape of its history only.
    assert_eq!(
        one(&db, "SELECT subject FROM tickets WHERE number = 1"),
        "(erased)"
    );

    // The trail: every event still there with its time and kind, new ones recording the erasure
    // without saying whose.
    let after = column(
        &db,
        "SELECT id, ticket, at, kind, message FROM events ORDER BY id",
    );
    assert_eq!(&after[..trail.len()], &trail[..]);
    assert_eq!(
        column(
            &db,
            "SELECT ticket FROM events WHERE kind = 'person_erased' ORDER BY id"
        ),
        ["1", "2", "4", "NULL"]
    );
    assert!(
        one(
            &db,
            "SELECT count(*) FROM events WHERE ticket = 1 AND detail = '(erased)'"
        ) != "0"
    );
    let shown = text(&desk.run(&["tickets", "show", "1"], b"").stdout);
    assert!(shown.contains("person_erased"), "{shown}");
    assert!(shown.contains("(erased)"), "{shown}");

    // Events stay append-only: only an actor or detail may become "(erased)".
    let first = one(&db, "SELECT min(id) FROM events WHERE ticket = 3");
    for refused in [
        format!("UPDATE events SET kind = 'x' WHERE id = {first}"),
        format!("UPDATE events SET at = 0 WHERE id = {first}"),
        format!("UPDATE events SET detail = 'rewritten' WHERE id = {first}"),
        format!("DELETE FROM events WHERE id = {first}"),
    ] {
        assert!(db.execute(&refused, []).is_err(), "{refused}");
    }
    db.execute(
        &format!("UPDATE events SET detail = '(erased)' WHERE id = {first}"),
        [],
    )
    .unwrap();

    // The other quarantined mail stays; the store is sound; nothing is left to export.
    assert_eq!(one(&db, "SELECT count(*) FROM quarantine"), "1");
    drop(db);
    let output = desk.run(&["check"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let out = desk.dir.path().join("export");
    let output = desk.run(&["export-person", CARLOTTA, out.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("0 tickets, 0 mails"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_bad_address_is_a_usage_error() {
    let desk = TempDesk::new("");
    let output = desk.run(&["forget", "not-an-address"], b"");
    assert_eq!(output.status.code(), Some(64));
    assert!(text(&output.stderr).contains("not a mail address"));
    let output = desk.run(&["forget", "Support@Desk.example.test"], b"");
    assert_eq!(output.status.code(), Some(64));
    assert!(
        text(&output.stderr).contains("one of Guichet's own addresses"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_daemon_applies_retention_on_its_schedule() {
    let desk = TempDesk::new("[retention]\nraw_mail_days = 1\n");
    desk.ingest(&mail(
        "From: Person <person@client.example.test>\r\nSubject: Old case\r\n\
         Message-ID: <old@client.example.test>\r\n",
        "Done long ago.",
        Some("old file"),
    ));
    desk.db()
        .execute(
            "UPDATE tickets SET status = 'closed', updated_at = updated_at - 2 * 86400",
            [],
        )
        .unwrap();
    let daemon = common::Daemon::start(&desk.config);
    // The task's first pass runs at start.
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the retention event",
        || {
            let shown = text(&desk.run(&["tickets", "show", "1"], b"").stdout);
            shown.contains("retention_purged").then_some(())
        },
    );
    assert!(daemon.stop());
    assert_eq!(
        one(
            &desk.db(),
            "SELECT count(*) FROM messages WHERE direction = 'in' AND length(raw) > 0"
        ),
        "0"
    );
    assert_eq!(one(&desk.db(), "SELECT count(*) FROM attachments"), "0");
}

//! The digest by mail: against a store with exact times (once per period, restarts, downtime),
//! then over the real Postfix and Dovecot with `guichet run` (the mail in the recipient's
//! mailbox with its figures, nothing more after a restart, one mail after downtime).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{header, mailstack, request, unique, wait_until, Instance};
use guichet::adapters::store::Store;
use guichet::config::Config;
use guichet::core::report::Period;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};
use guichet::scheduler::digest_tick;

const DAY: i64 = 86_400;
const WAIT: Duration = Duration::from_secs(45);

fn config(dir: &Path, report: &str) -> Arc<Config> {
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@corp.example\"\n\
         [[queue]]\nname = \"network\"\n{report}",
        dir.join("state")
    );
    Arc::new(Config::parse(Path::new("digest.toml"), &text, &|_| None).unwrap())
}

const DAILY: &str = "[[report]]\nname = \"morning\"\nto = [\"boss@corp.example\"]\n\
    schedule = \"daily\"\nat = \"08:00\"\ntime_zone = \"UTC\"\n";

fn mail(n: u32) -> Vec<u8> {
    format!("From: carla{n}@client.example\r\nTo: support@corp.example\r\nSubject: Printer {n}\r\nMessage-ID: <d{n}@client>\r\n\r\nIt is broken.\r\n").into_bytes()
}

/// (subject, body, Auto-Submitted) of every digest queued, oldest first.
fn digests(config: &Config) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(config.database_path()).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT m.subject, m.text, m.raw FROM messages m JOIN outbox o ON o.message = m.id
              WHERE m.kind = 'digest' AND m.ticket IS NULL ORDER BY m.id",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            let raw: Vec<u8> = row.get(2).unwrap_or_default();
            let raw = String::from_utf8_lossy(&raw).into_owned();
            Ok((
                row.get(0)?,
                row.get(1)?,
                header(&raw, "Auto-Submitted").unwrap_or_default(),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn once_per_period_across_restarts_and_the_latest_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), DAILY);
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    // 2027-01-14T08:00:00Z, a send time.
    let send = 1_799_913_600;
    for (n, at) in [(1, send - 3 * 3600), (2, send - 2 * 3600), (3, send + 60)] {
        let outcome = pipeline.ingest(&mail(n), &Source::named("t"), at).unwrap();
        assert!(matches!(outcome, IngestOutcome::Created { .. }));
    }
    let mut store = Store::open(&config.database_path()).unwrap();
    assert_eq!(digest_tick(&mut store, &config, send + 120).unwrap(), 1);
    assert_eq!(digest_tick(&mut store, &config, send + 180).unwrap(), 0);
    // A restart: a new connection. Nothing again until the next send time.
    let mut restarted = Store::open(&config.database_path()).unwrap();
    assert_eq!(digest_tick(&mut restarted, &config, send + 240).unwrap(), 0);
    assert_eq!(
        digest_tick(&mut restarted, &config, send + DAY - 1).unwrap(),
        0
    );
    let sent = digests(&config);
    assert_eq!(sent.len(), 1);
    let (subject, body, auto) = &sent[0];
    assert_eq!(subject, "[Helpdesk] Daily report 2027-01-13");
    assert_eq!(auto, "auto-generated");
    let opened = body.lines().find(|l| l.starts_with("Opened")).unwrap();
    assert!(opened.ends_with(" 2"), "{body}");
    // Three days down: one mail, for the latest period.
    assert_eq!(
        digest_tick(&mut restarted, &config, send + 3 * DAY + 600).unwrap(),
        1
    );
    assert_eq!(
        digest_tick(&mut restarted, &config, send + 3 * DAY + 660).unwrap(),
        0
    );
    assert_eq!(
        restarted.read().digests_sent().unwrap(),
        vec![
            ("morning".to_string(), send - DAY, send),
            ("morning".to_string(), send + 2 * DAY, send + 3 * DAY),
        ]
    );
    assert_eq!(digests(&config)[1].0, "[Helpdesk] Daily report 2027-01-16");
}

#[test]
fn a_period_recorded_twice_is_refused_by_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("guichet.sqlite3")).unwrap();
    let period = Period { from: 0, to: DAY };
    let tx = store.write().unwrap();
    tx.mark_digest_sent("morning", period, DAY).unwrap();
    assert!(tx.mark_digest_sent("morning", period, DAY + 1).is_err());
}

// Over the real mail stack.

/// The HH:MM (UTC) of the next whole minute, and that instant.
fn next_minute() -> (String, i64) {
    let now = guichet::pipeline::system_now();
    let at = (now / 60 + 1) * 60;
    let time = chrono::DateTime::from_timestamp(at, 0).unwrap();
    (time.format("%H:%M").to_string(), at)
}

fn report_toml(boss: &str, at: &str) -> String {
    format!(
        "[[report]]\nname = \"daily\"\nto = [\"{boss}\"]\nschedule = \"daily\"\nat = \"{at}\"\ntime_zone = \"UTC\"\n"
    )
}

fn digests_in(stack: &common::MailStack, boss: &str) -> Vec<String> {
    stack
        .mailbox(boss)
        .into_iter()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .filter(|text| text.contains("Daily report"))
        .collect()
}

#[test]
fn guichet_run_mails_the_digest_once_across_a_restart() {
    let Some(stack) = mailstack() else { return };
    let boss = format!("{}@example.test", unique("boss"));
    let mut desk = Instance::new(&stack, "digest", stack.smtp_port(), "");
    for n in 0..2 {
        let requester = format!("{}@example.test", unique("carla"));
        let id = unique("req");
        stack.send(
            &requester,
            &desk.support,
            &request(
                &requester,
                &desk.support,
                &format!("VPN {n}"),
                &id,
                "It fails.",
            ),
        );
    }
    let store = desk.store();
    wait_until(WAIT, "two tickets", || {
        (store.read().list_tickets(None).map_or(0, |t| t.len()) == 2).then_some(())
    });
    drop(store);
    // The digest's send time: the next minute, once both tickets are in.
    let (at, send) = next_minute();
    let text = std::fs::read_to_string(&desk.config).unwrap();
    std::fs::write(&desk.config, format!("{text}{}", report_toml(&boss, &at))).unwrap();
    wait_until(Duration::from_secs(70), "the send time", || {
        (guichet::pipeline::system_now() > send).then_some(())
    });
    desk.start();
    let mail = stack.wait_for_mail(&boss, WAIT, |raw| raw.contains("Daily report"));
    let date = chrono::DateTime::from_timestamp(send - DAY, 0)
        .unwrap()
        .format("%Y-%m-%d");
    assert_eq!(
        header(&mail, "Subject").unwrap(),
        format!("[Helpdesk] Daily report {date}")
    );
    assert_eq!(header(&mail, "Auto-Submitted").unwrap(), "auto-generated");
    let opened = mail.lines().find(|l| l.starts_with("Opened")).unwrap();
    assert!(opened.trim_end().ends_with(" 2"), "{mail}");
    let backlog = mail
        .lines()
        .find(|l| l.starts_with("Backlog at the end"))
        .unwrap();
    assert!(backlog.trim_end().ends_with(" 2"), "{mail}");
    desk.stop();
    // A restart: the digest task checks at once and finds the period sent.
    desk.start();
    std::thread::sleep(Duration::from_secs(5));
    desk.stop();
    assert!(desk.log().contains("digest scheduler started"));
    assert_eq!(digests_in(&stack, &boss).len(), 1);
    assert_eq!(desk.store().read().digests_sent().unwrap().len(), 1);
}

#[test]
fn guichet_run_after_downtime_mails_the_latest_missed_digest_once() {
    let Some(stack) = mailstack() else { return };
    let boss = format!("{}@example.test", unique("boss"));
    let mut desk = Instance::new(&stack, "digestdown", stack.smtp_port(), "");
    // The store as a daemon left it, then the last digest sent four days ago.
    desk.start();
    drop(desk.store());
    desk.stop();
    let midnight = guichet::pipeline::system_now() / DAY * DAY;
    {
        let mut store = Store::open(&desk.dir.join("state/guichet.sqlite3")).unwrap();
        let tx = store.write().unwrap();
        let old = Period {
            from: midnight - 5 * DAY,
            to: midnight - 4 * DAY,
        };
        tx.mark_digest_sent("daily", old, old.to).unwrap();
        tx.commit().unwrap();
    }
    let status = std::process::Command::new("chown")
        .args(["-R", "guichet:guichet"])
        .arg(&desk.dir)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&desk.config).unwrap();
    std::fs::write(
        &desk.config,
        format!("{text}{}", report_toml(&boss, "00:00")),
    )
    .unwrap();
    desk.start();
    stack.wait_for_mail(&boss, WAIT, |raw| raw.contains("Daily report"));
    std::thread::sleep(Duration::from_secs(3));
    desk.stop();
    assert_eq!(digests_in(&stack, &boss).len(), 1);
    let sent = desk.store().read().digests_sent().unwrap();
    let periods: Vec<(i64, i64)> = sent.iter().map(|(_, from, to)| (*from, *to)).collect();
    // Unless midnight passed meanwhile, the latest period is the day before today.
    assert_eq!(periods.len(), 2, "{periods:?}");
    assert_eq!(periods[0], (midnight - 5 * DAY, midnight - 4 * DAY));
    assert_eq!(periods[1].1 - periods[1].0, DAY);
    assert!(periods[1].1 >= midnight);
}

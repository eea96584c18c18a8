//! The SLA clock against a real store, with exact times: warnings, escalations level by level,
//! nothing twice after a restart, one escalation after downtime, the pause while waiting, and the
//! work list's order.

use std::path::Path;
use std::sync::Arc;

use guichet::adapters::blobs::BlobStore;
use guichet::adapters::store::Store;
use guichet::config::Config;
use guichet::core::ticket::TicketNumber;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};
use guichet::scheduler::tick;

const CONFIG: &str = r#"
[[agent]]
name = "bob"
addresses = ["bob@corp.example"]
levels = [1]
[[agent]]
name = "tech"
addresses = ["tech@corp.example"]
levels = [2]
[[agent]]
name = "acme"
addresses = ["support@vendor.example"]
levels = [4]
[[level]]
level = 3
addresses = ["specialists@corp.example"]
[commands]
trust = "none"
[[rule]]
name = "to-bob"
conditions = [{ field = "subject", contains = "" }]
actions = { assign = "bob" }
[[sla]]
first_response = "100s"
resolution = "1000s"
[escalation]
warn_at = 0.8
"#;

/// The desk's `sla.toml`, its state in `dir/state`.
fn config_text(dir: &Path) -> String {
    format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@corp.example\"\n{CONFIG}",
        dir.join("state")
    )
}

fn config(dir: &Path) -> Arc<Config> {
    let text = config_text(dir);
    Arc::new(Config::parse(Path::new("sla.toml"), &text, &|_| None).unwrap())
}

fn request(n: u32) -> Vec<u8> {
    format!("From: carla{n}@client.example\r\nTo: support@corp.example\r\nSubject: Printer {n}\r\nMessage-ID: <p{n}@client>\r\n\r\nIt is broken.\r\n").into_bytes()
}

/// (kind, first recipient) of every mail queued for a ticket, in order.
fn mails(store: &Store, ticket: u64) -> Vec<(String, String)> {
    store
        .read()
        .ticket(TicketNumber(ticket))
        .unwrap()
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.direction == "out")
        .map(|m| (m.kind.clone(), m.to[0].clone()))
        .collect()
}

#[test]
fn warning_then_escalations_level_by_level_never_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    let t0 = 1_800_000_000;
    let IngestOutcome::Created { ticket, .. } = pipeline
        .ingest(&request(1), &Source::named("t"), t0)
        .unwrap()
    else {
        panic!()
    };
    let mut store = Store::open(&config.database_path()).unwrap();
    let files = BlobStore::new(guichet::pipeline::attachments_dir(&config));
    let policy = &config.intake;
    assert_eq!(
        tick(&mut store, policy, &files, t0 + 50).unwrap(),
        0,
        "half the target: nothing"
    );
    assert_eq!(
        tick(&mut store, policy, &files, t0 + 85).unwrap(),
        1,
        "the warning"
    );
    assert_eq!(
        tick(&mut store, policy, &files, t0 + 90).unwrap(),
        0,
        "warned once"
    );
    assert_eq!(
        tick(&mut store, policy, &files, t0 + 100).unwrap(),
        1,
        "breach: level 2"
    );
    // A restart: a new connection, the same instant. Nothing is sent again.
    let mut restarted = Store::open(&config.database_path()).unwrap();
    assert_eq!(tick(&mut restarted, policy, &files, t0 + 100).unwrap(), 0);
    assert_eq!(
        tick(&mut restarted, policy, &files, t0 + 200).unwrap(),
        1,
        "a full period later: level 3"
    );
    assert_eq!(
        tick(&mut restarted, policy, &files, t0 + 300).unwrap(),
        1,
        "and level 4"
    );
    let sent: Vec<(String, String)> = mails(&restarted, ticket.0)
        .into_iter()
        .filter(|(kind, _)| kind != "acknowledgement" && kind != "assignment_notice")
        .collect();
    assert_eq!(
        sent,
        vec![
            ("sla_warning".to_string(), "bob@corp.example".to_string()),
            (
                "escalation_notice".to_string(),
                "tech@corp.example".to_string()
            ),
            (
                "escalation_notice".to_string(),
                "specialists@corp.example".to_string()
            ),
            (
                "escalation_notice".to_string(),
                "support@vendor.example".to_string()
            ),
        ]
    );
    let detail = restarted.read().ticket(ticket).unwrap().unwrap();
    assert_eq!(detail.ticket.level, 4);
    assert_eq!(
        detail.ticket.priority, "urgent",
        "raised at each breach: normal, high, urgent"
    );
    assert_eq!(
        detail
            .events
            .iter()
            .filter(|e| e.kind == "sla_breach")
            .count(),
        3
    );
}

#[test]
fn after_downtime_one_escalation_per_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    let t0 = 1_800_000_000;
    for n in 1..=3 {
        pipeline
            .ingest(&request(n), &Source::named("t"), t0)
            .unwrap();
    }
    let mut store = Store::open(&config.database_path()).unwrap();
    let files = BlobStore::new(guichet::pipeline::attachments_dir(&config));
    // Down for a day: every deadline long past.
    assert_eq!(
        tick(&mut store, &config.intake, &files, t0 + 86_400).unwrap(),
        3,
        "one escalation each"
    );
    assert_eq!(
        tick(&mut store, &config.intake, &files, t0 + 86_401).unwrap(),
        0,
        "not a burst"
    );
}

#[test]
fn waiting_on_the_requester_stops_the_clock_and_their_answer_restarts_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    let t0 = 1_800_000_000;
    let IngestOutcome::Created { ticket, .. } = pipeline
        .ingest(&request(1), &Source::named("t"), t0)
        .unwrap()
    else {
        panic!()
    };
    let status_waiting = format!(
        "From: bob@corp.example\r\nTo: support@corp.example\r\nSubject: Re: [Helpdesk #{ticket}] Printer 1\r\nMessage-ID: <w@corp>\r\n\r\n#status waiting\r\n"
    );
    pipeline
        .ingest(status_waiting.as_bytes(), &Source::named("t"), t0 + 10)
        .unwrap();
    let mut store = Store::open(&config.database_path()).unwrap();
    let files = BlobStore::new(guichet::pipeline::attachments_dir(&config));
    assert_eq!(
        tick(&mut store, &config.intake, &files, t0 + 5_000).unwrap(),
        0,
        "paused: no alarm"
    );
    let answer = format!(
        "From: carla1@client.example\r\nTo: support@corp.example\r\nSubject: Re: [Helpdesk #{ticket}] Printer 1\r\nMessage-ID: <a@client>\r\n\r\nIt is an HP.\r\n"
    );
    pipeline
        .ingest(answer.as_bytes(), &Source::named("t"), t0 + 5_000)
        .unwrap();
    let view = store.read().ticket(ticket).unwrap().unwrap();
    assert_eq!(view.ticket.status, "open");
    // 90 s of the first-response target were left at the pause: due at t0 + 5,090.
    assert_eq!(
        tick(&mut store, &config.intake, &files, t0 + 5_070).unwrap(),
        0
    );
    assert_eq!(
        tick(&mut store, &config.intake, &files, t0 + 5_075).unwrap(),
        1,
        "warning: 80 % of the target used"
    );
    assert_eq!(
        tick(&mut store, &config.intake, &files, t0 + 5_090).unwrap(),
        1,
        "breach"
    );
}

#[test]
fn the_work_list_puts_the_late_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    let now = guichet::pipeline::system_now();
    pipeline
        .ingest(&request(1), &Source::named("t"), now - 10)
        .unwrap();
    pipeline
        .ingest(&request(2), &Source::named("t"), now - 500)
        .unwrap();
    pipeline
        .ingest(&request(3), &Source::named("t"), now - 50)
        .unwrap();
    drop(pipeline);
    let path = dir.path().join("sla.toml");
    std::fs::write(&path, config_text(dir.path())).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("--config")
        .arg(&path)
        .args(["queue", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let order: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![2, 3, 1],
        "the one past its deadline first, then the oldest wait"
    );
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("--config")
        .arg(&path)
        .args(["queue", "general", "--level", "1"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("LATE"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

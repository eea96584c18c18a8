//! Routing rules and custom fields on the .eml fixtures: where each new ticket goes, what it
//! carries, the acknowledgement asking for a missing required field and the reply that fills it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use guichet::adapters::parse::parse_mail;
use guichet::config::Config;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};

const RULES: &str = r#"
[[queue]]
name = "hardware"

[[queue]]
name = "finance"

[[field]]
name = "location"
required = true
queues = ["hardware"]
extract = '^(?i:Location|Emplacement|Posizione)\s*:\s*(.+)$'
prompt = "Location: (building, floor)"

[[rule]]
name = "printers"
match = "any"
conditions = [
  { field = "subject", regex = '(?i)imprimante|printer|stampante' },
  { field = "body", contains = "bourrage papier" },
]
actions = { queue = "hardware", level = 2, tags = ["printer"] }

[[rule]]
name = "accounting"
conditions = [{ field = "from", domain = "compta.example.test" }]
actions = { queue = "finance", priority = "high", stop = true }

[[rule]]
name = "files"
conditions = [{ field = "attachments", present = true }]
actions = { tags = ["attachment"] }
"#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mail")
        .join(name)
}

fn desk(dir: &Path) -> (Arc<Config>, PathBuf) {
    let path = dir.join("guichet.toml");
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\nguess_language = true\n{RULES}",
        dir.join("state")
    );
    std::fs::write(&path, &text).unwrap();
    (Arc::new(Config::load(&path).unwrap()), path)
}

#[test]
fn fixtures_are_routed_by_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = desk(dir.path());
    let mut pipeline = Pipeline::open(config.clone()).unwrap();
    let cases = [
        (
            "outlook-reply-fr.eml",
            "hardware",
            2,
            "normal",
            vec!["printer"],
        ),
        (
            "reply-italian-r.eml",
            "hardware",
            2,
            "normal",
            vec!["printer"],
        ),
        ("encoded-from-name.eml", "finance", 1, "high", vec![]),
        ("attachment.eml", "general", 1, "normal", vec!["attachment"]),
        ("plain-en.eml", "general", 1, "normal", vec![]),
    ];
    for (name, queue, level, priority, tags) in cases {
        let raw = std::fs::read(fixture(name)).unwrap();
        let IngestOutcome::Created { ticket, .. } = pipeline
            .ingest(&raw, &Source::named(name), 1_700_000_000)
            .unwrap()
        else {
            panic!("{name}: no new ticket")
        };
        let detail = pipeline.store().read().ticket(ticket).unwrap().unwrap();
        assert_eq!(
            (
                detail.ticket.queue.as_str(),
                detail.ticket.level,
                detail.ticket.priority.as_str()
            ),
            (queue, level, priority),
            "{name}"
        );
        let events: Vec<&str> = detail.events.iter().map(|e| e.detail.as_str()).collect();
        for tag in &tags {
            assert!(
                detail.tags.contains(&tag.to_string()),
                "{name}: tags {:?}",
                detail.tags
            );
        }
        if queue != "general" {
            assert!(
                events.iter().any(|e| e.starts_with("rule ")),
                "{name}: {events:?}"
            );
        }
    }
}

#[test]
fn a_missing_required_field_is_asked_for_and_the_reply_fills_it() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = desk(dir.path());
    let mut pipeline = Pipeline::open(config).unwrap();
    let raw = std::fs::read(fixture("outlook-reply-fr.eml")).unwrap();
    let IngestOutcome::Created {
        ticket,
        acknowledged: true,
        ..
    } = pipeline.ingest(&raw, &Source::named("t"), 1).unwrap()
    else {
        panic!("not acknowledged")
    };
    let detail = pipeline.store().read().ticket(ticket).unwrap().unwrap();
    let ack = detail
        .messages
        .iter()
        .find(|m| m.kind == "acknowledgement")
        .unwrap();
    assert!(
        ack.text.contains("Location: (building, floor)"),
        "{}",
        ack.text
    );
    assert!(
        ack.text.contains("merci de répondre avec ces lignes"),
        "in the requester's language: {}",
        ack.text
    );
    assert!(detail.fields.is_empty());

    let requester = detail.ticket.requester.clone();
    let reply = format!(
        "From: {requester}\r\nTo: support@desk.example.test\r\nSubject: RE: [Helpdesk #{ticket}] Imprimante\r\nMessage-ID: <fill@x>\r\n\r\n\
         Emplacement : Bâtiment A, 2e étage\r\n\r\nLe lundi, Support a écrit :\r\n> Location: (building, floor)\r\n"
    );
    pipeline
        .ingest(reply.as_bytes(), &Source::named("t"), 2)
        .unwrap();
    let detail = pipeline.store().read().ticket(ticket).unwrap().unwrap();
    let expected: BTreeMap<String, String> =
        [("location".to_string(), "Bâtiment A, 2e étage".to_string())]
            .into_iter()
            .collect();
    assert_eq!(detail.fields, expected);
}

#[test]
fn rules_test_shows_the_routing_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config_path) = desk(dir.path());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("--config")
        .arg(&config_path)
        .args(["rules", "test"])
        .arg(fixture("outlook-reply-fr.eml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("Rules matched: printers"), "{text}");
    assert!(
        text.contains("Queue:         hardware  (level L2, priority normal)"),
        "{text}"
    );
    assert!(
        text.contains("Missing:       Location: (building, floor)"),
        "{text}"
    );
    assert!(!dir.path().join("state").exists(), "nothing was created");
    assert!(parse_mail(&std::fs::read(fixture("outlook-reply-fr.eml")).unwrap()).is_ok());
}

#[test]
fn bad_rules_stop_start_up_with_the_rule_and_the_reason() {
    let cases = [
        ("[[rule]]\nname = \"x\"\nconditions = [{ field = \"subject\", regex = \"(unclosed\" }]\n", "rule[0] (x).conditions[0].regex: not a valid regex"),
        ("[[rule]]\nname = \"x\"\nconditions = [{ field = \"field:site\", contains = \"a\" }]\n", "rule[0] (x).conditions[0].field: no [[field]] is called `site`"),
        ("[[rule]]\nname = \"x\"\nconditions = [{ field = \"subject\", contains = \"a\" }]\nactions = { queue = \"nowhere\" }\n", "rule[0] (x).actions.queue: there is no [[queue]] called `nowhere`"),
        ("[[rule]]\nname = \"x\"\nconditions = [{ field = \"subject\", contains = \"a\" }]\nactions = { assign = \"nobody\" }\n", "rule[0] (x).actions.assign: no [[agent]] is called `nobody`"),
        ("[[rule]]\nname = \"x\"\nconditions = [{ field = \"subject\", contains = \"a\", equals = \"b\" }]\n", "give exactly one of contains, equals, regex, domain, present"),
        ("[[rule]]\nname = \"x\"\nconditions = []\n", "rule[0] (x).conditions: a rule needs at least one condition"),
        ("[[field]]\nname = \"site\"\ntype = \"choice\"\n", "field[0].choices: a choice field needs its choices"),
        ("[[field]]\nname = \"site\"\nextract = \"([\"\n", "field[0].extract: not a valid regex"),
    ];
    for (text, expected) in cases {
        let full =
            format!("[general]\nstate_dir = \"/tmp/x\"\nsupport_address = \"s@x.test\"\n{text}");
        let error = Config::parse(Path::new("g.toml"), &full, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "got {error}\nwanted {expected}");
    }
}

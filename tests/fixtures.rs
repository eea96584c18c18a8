//! Tests as data: every `fixtures/mail/NAME.eml` is parsed and ingested, and the outcome compared
//! with `NAME.expected.json` beside it.

use std::path::{Path, PathBuf};

use guichet::adapters::parse::parse_mail;
use guichet::config::Config;
use guichet::core::subject::TagFormat;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};
use serde_json::Value;

fn fixtures() -> Vec<(String, Vec<u8>, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "fixtures missing in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let expected_path = path.with_extension("expected.json");
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            (name, std::fs::read(&path).unwrap(), expected)
        })
        .collect()
}

fn config(state_dir: &Path) -> Config {
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n",
        state_dir
    );
    Config::parse(Path::new("test.toml"), &text, &|_| None).unwrap()
}

fn str_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_fixture_parses_as_expected() {
    let tags = TagFormat::new("Helpdesk");
    let policy = config(Path::new("/nonexistent")).intake.loops;
    let mut failures = Vec::new();
    for (name, raw, expected) in fixtures() {
        let mut check = |what: &str, ok: bool, detail: String| {
            if !ok {
                failures.push(format!("{name}: {what}: {detail}"));
            }
        };
        let parsed = parse_mail(&raw);
        if expected["quarantine"].as_bool() == Some(true) {
            check(
                "quarantine",
                parsed.is_err(),
                "parsed although it should not".into(),
            );
            continue;
        }
        let mail = match parsed {
            Ok(parsed) => parsed.mail,
            Err(error) => {
                check("parse", false, error.to_string());
                continue;
            }
        };
        if let Some(from) = expected["from"].as_str() {
            let got = mail.from.as_ref().map(|m| m.address.as_str());
            check("from", got == Some(from), format!("{got:?}"));
        }
        if let Some(name) = expected["from_name"].as_str() {
            let got = mail.from.as_ref().and_then(|m| m.name.as_deref());
            check("from_name", got == Some(name), format!("{got:?}"));
        }
        if let Some(reply_to) = expected["reply_to"].as_str() {
            let got = mail.reply_to.as_ref().map(|m| m.address.as_str());
            check("reply_to", got == Some(reply_to), format!("{got:?}"));
        }
        if expected.get("cc").is_some() {
            let got: Vec<String> = mail.cc.iter().map(|m| m.address.clone()).collect();
            check("cc", got == str_list(&expected["cc"]), format!("{got:?}"));
        }
        if let Some(subject) = expected["subject"].as_str() {
            check(
                "subject",
                mail.subject == subject,
                format!("{:?}", mail.subject),
            );
        }
        if let Some(id) = expected["message_id"].as_str() {
            check(
                "message_id",
                mail.message_id.as_deref() == Some(id),
                format!("{:?}", mail.message_id),
            );
        }
        if let Some(id) = expected["in_reply_to"].as_str() {
            check(
                "in_reply_to",
                mail.in_reply_to.first().map(String::as_str) == Some(id),
                format!("{:?}", mail.in_reply_to),
            );
        }
        if expected.get("tag").is_some() {
            let got = tags.find(&mail.subject).map(|n| n.0);
            check("tag", got == expected["tag"].as_u64(), format!("{got:?}"));
        }
        for wanted in str_list(&expected["text_contains"]) {
            check(
                "text_contains",
                mail.text.contains(&wanted),
                format!("{wanted:?} not in {:?}", mail.text),
            );
        }
        for unwanted in str_list(&expected["text_excludes"]) {
            check(
                "text_excludes",
                !mail.text.contains(&unwanted),
                format!("{unwanted:?} in {:?}", mail.text),
            );
        }
        if expected.get("attachments").is_some() {
            let got: Vec<String> = mail
                .attachments
                .iter()
                .map(|a| a.filename.clone())
                .collect();
            check(
                "attachments",
                got == str_list(&expected["attachments"]),
                format!("{got:?}"),
            );
        }
        if let Some(allowed) = expected["auto_reply_allowed"].as_bool() {
            let verdict = policy.verdict(&mail, 0);
            check(
                "auto_reply_allowed",
                verdict.is_allowed() == allowed,
                format!("{verdict:?}"),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_stored_once_and_answered_only_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut pipeline = Pipeline::open(std::sync::Arc::new(config)).unwrap();
    let fixtures = fixtures();
    let mut failures = Vec::new();
    for (name, raw, expected) in &fixtures {
        let outcome = pipeline
            .ingest(raw, &Source::named(name.as_str()), 1_700_000_000)
            .unwrap();
        let quarantine = expected["quarantine"].as_bool() == Some(true);
        let allowed = expected["auto_reply_allowed"].as_bool().unwrap_or(true);
        let ok = match &outcome {
            IngestOutcome::Quarantined { reason, .. } => quarantine && !reason.is_empty(),
            IngestOutcome::Created { acknowledged, .. } => !quarantine && *acknowledged == allowed,
            IngestOutcome::Appended { .. } => !quarantine,
            IngestOutcome::Duplicate { .. } | IngestOutcome::Knowledge { .. } => false,
        };
        if !ok {
            failures.push(format!("{name}: {outcome:?} (quarantine expected: {quarantine}, auto reply allowed: {allowed})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A second delivery of every mail changes nothing.
    let before = pipeline.store().read().list_tickets(None).unwrap().len();
    let outbox_before = pipeline.store().read().outbox_counts().unwrap().pending;
    for (name, raw, _) in &fixtures {
        match pipeline
            .ingest(raw, &Source::named(name.as_str()), 1_700_000_100)
            .unwrap()
        {
            IngestOutcome::Duplicate { .. } | IngestOutcome::Quarantined { .. } => {}
            other => panic!("{name}: second delivery gave {other:?}"),
        }
    }
    assert_eq!(
        pipeline.store().read().list_tickets(None).unwrap().len(),
        before
    );
    assert_eq!(
        pipeline.store().read().outbox_counts().unwrap().pending,
        outbox_before
    );
    assert_eq!(pipeline.store().read().list_quarantine().unwrap().len(), 1);
}

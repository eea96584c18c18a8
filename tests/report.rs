//! `guichet report` through the real binary on a small history made with `guichet ingest`:
//! three requests, an agent's answer and a resolution; text, JSON and CSV, with a custom field
//! whose value, written by a requester, is a spreadsheet formula.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

const AUTHENTICATED: &str = "Authentication-Results: mx.example.test; dkim=pass header.d=example.test; spf=pass smtp.mailfrom=example.test\r\n";
const HOSTILE: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";

struct Desk {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn desk() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n\
             [commands]\ntrusted_authserv_ids = [\"mx.example.test\"]\n\
             [[agent]]\nname = \"alice\"\ndisplay_name = \"Alice\"\naddresses = [\"alice@example.test\"]\nrole = \"triager\"\n\
             [[field]]\nname = \"site\"\nextract = '^Site\\s*:\\s*(.+)$'\n",
            dir.path().join("state")
        ),
    )
    .unwrap();
    Desk { _dir: dir, config }
}

fn guichet(config: &Path, args: &[&str], stdin: &[u8]) -> Output {
    common::run_guichet(config, args, stdin)
}

fn ingest(desk: &Desk, from: &str, subject: &str, body: &str, stamp: &str) {
    let id = format!("<{}.{}@mail.test>", subject.len(), body.len());
    let raw = format!(
        "{stamp}From: {from}\r\nTo: support@desk.example.test\r\nSubject: {subject}\r\nMessage-ID: {id}\r\n\
         Date: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    );
    let out = guichet(&desk.config, &["ingest"], raw.as_bytes());
    assert!(
        out.status.success(),
        "ingest: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn report(desk: &Desk, args: &[&str]) -> String {
    // An hour ahead: the tickets were made this very second, and a period's end is excluded.
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut all = vec!["report", "--from", "2000-01-01", "--to", &to];
    all.extend(args);
    let out = guichet(&desk.config, &all, b"");
    assert!(
        out.status.success(),
        "report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// #1 from carol (site: a formula, subject too) answered by alice and resolved; #2 from dave
/// (site Lyon) unanswered, escalated and waiting on dave; #3 from erin (no site) merged into #2.
fn history() -> Desk {
    let desk = desk();
    ingest(
        &desk,
        &format!("\"{HOSTILE}\" <carol@client.example>"),
        HOSTILE,
        &format!("My printer is broken.\r\nSite: {HOSTILE}"),
        "",
    );
    ingest(
        &desk,
        "dave@other.example",
        "VPN down",
        "The VPN drops.\r\nSite: Lyon",
        "",
    );
    ingest(&desk, "erin@client.example", "No answer yet", "Hello?", "");
    ingest(
        &desk,
        "alice@example.test",
        "Re: [Helpdesk #1] printer",
        "Please restart it, it will work.",
        AUTHENTICATED,
    );
    ingest(
        &desk,
        "alice@example.test",
        "Re: [Helpdesk #1] printer",
        "#resolve",
        AUTHENTICATED,
    );
    ingest(
        &desk,
        "alice@example.test",
        "Re: [Helpdesk #3] No answer yet",
        "#merge 2",
        AUTHENTICATED,
    );
    ingest(
        &desk,
        "alice@example.test",
        "Re: [Helpdesk #2] VPN down",
        "#escalate\r\n#status waiting",
        AUTHENTICATED,
    );
    desk
}

#[test]
fn report_in_text_json_and_csv() {
    let desk = history();

    let json: serde_json::Value =
        serde_json::from_str(&report(&desk, &["--by", "field:site", "--json"])).unwrap();
    let total = &json["total"];
    // Three opened, #1 resolved, #3 merged, #2 open (under a day old) and waiting, escalated
    // once to level 2; one first response (alice's on #1).
    assert_eq!(total["opened"], 3, "{json:#}");
    assert_eq!(total["resolved"], 1, "{json:#}");
    assert_eq!(total["merged"], 1, "{json:#}");
    assert_eq!(total["backlog"], 1);
    assert_eq!(total["backlog_age"]["under_1d"], 1);
    assert_eq!(total["waiting_on_requester"], 1);
    assert_eq!(total["escalations"]["to_level_2"], 1, "{json:#}");
    assert_eq!(total["first_response"]["count"], 1);
    assert_eq!(total["resolution"]["count"], 1);
    assert_eq!(total["reopened"], 0);
    assert_eq!(json["by"], "field:site");
    let groups: Vec<(String, u64, u64)> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["figures"]["opened"].as_u64().unwrap(),
                g["figures"]["resolved"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("(none)".to_string(), 1, 0),
            (HOSTILE.to_string(), 1, 1),
            ("Lyon".to_string(), 1, 0)
        ]
    );
    let agents = json["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{json:#}");
    assert_eq!(agents[0]["agent"], "alice");
    assert_eq!(agents[0]["answers_sent"], 1);
    assert_eq!(agents[0]["tickets_handled"], 1);

    let by_domain: serde_json::Value =
        serde_json::from_str(&report(&desk, &["--by", "domain", "--json"])).unwrap();
    let domains: Vec<(&str, u64)> = by_domain["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap(),
                g["figures"]["opened"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(domains, [("client.example", 2), ("other.example", 1)]);

    let text = report(&desk, &["--by", "field:site"]);
    assert!(
        text.starts_with("Report from 2000-01-01 00:00:00Z to "),
        "{text}"
    );
    let line = |label: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in\n{text}"))[label.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    // Columns: total, (none), the formula (cut to 20 characters), Lyon.
    assert_eq!(line("opened"), ["3", "1", "1", "1"], "{text}");
    assert_eq!(line("resolved"), ["1", "0", "1", "0"]);
    assert_eq!(line("backlog at end"), ["1", "0", "0", "1"]);
    assert_eq!(line("merged"), ["1", "1", "0", "0"]);
    assert!(text.contains("=HYPERLINK(\"http://…"), "{text}");
    assert!(text.contains("\nalice "), "{text}");

    let csv = report(&desk, &["--by", "field:site", "--csv"]);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(
        lines[0].starts_with("row,from,to,by,group,opened,resolved,"),
        "{csv}"
    );
    assert_eq!(
        lines.len(),
        6,
        "header, total, three groups, and the final CRLF: {csv}"
    );
    assert!(lines[1].starts_with("total,"), "{csv}");
    assert!(lines[1].contains(",field:site,,3,1,"), "{csv}");
    assert!(lines[2].starts_with("group,"), "{csv}");
    assert!(
        lines[3].contains(
            ",field:site,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",1,1,"
        ),
        "{csv}"
    );
    // No field of any row starts a formula.
    for line in &lines {
        for field in line.split(',') {
            assert!(
                !field
                    .trim_start_matches('"')
                    .starts_with(['=', '+', '-', '@']),
                "{field} in {csv}"
            );
        }
    }
}

#[test]
fn bad_arguments_exit_64() {
    let desk = history();
    for args in [
        vec!["report", "--by", "weather"],
        vec!["report", "--from", "last tuesday"],
        vec!["report", "--last", "7y"],
        vec!["report", "--from", "2026-12-01", "--to", "2026-11-01"],
        vec!["report", "--from", "2026-11-01", "--last", "7d"],
        vec!["report", "--json", "--csv"],
    ] {
        let out = guichet(&desk.config, &args, b"");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

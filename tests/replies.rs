//! Quote stripping against ../shared/corpus/replies: replies written by others (mailgun/talon,
//! github/email_reply_parser, zapier/email-reply-parser), each with the visible text its source's
//! own tests expect. The corpus is not in the repository; without it this test says it skipped.
//!
//! A case matches when `visible_text` equals one of the case's expected variants
//! (`CASE.expected.txt`, and the `expected_keep_sig` / `expected_alt` files INDEX.tsv lists for
//! it) after folding whitespace. Set `GUICHET_REPLIES_DUMP=<dir>` to write each case's input text
//! and output there when investigating a mismatch.

mod common;

use std::path::{Path, PathBuf};

use guichet::adapters::parse::{html_to_text, parse_mail};
use guichet::core::quotes::visible_text;

/// The share of cases that must match exactly: the level reached (109/116), so that it does not
/// fall back. The seven left expect what Guichet must not do (keep "Sent from my iPhone", keep
/// an all-quoted mail, un-quote a blockquote) or differ in how html2text renders the HTML.
const REQUIRED_SHARE: f64 = 0.93;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GUICHET_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus/replies");
    dir.join("INDEX.tsv").is_file().then_some(dir)
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The plain text Guichet would see for this input file.
fn input_text(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("eml") => {
            parse_mail(&raw)
                .unwrap_or_else(|e| panic!("{}: unparseable: {e:?}", path.display()))
                .mail
                .text
        }
        Some("html") => html_to_text(&String::from_utf8_lossy(&raw)),
        _ => String::from_utf8_lossy(&raw).into_owned(),
    }
}

struct Case {
    name: String,
    input_file: String,
    extra_expected: Vec<String>,
}

fn cases(index: &str) -> Vec<Case> {
    let mut lines = index.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("INDEX.tsv header")
        .split('\t')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|col| *col == name)
            .unwrap_or_else(|| panic!("INDEX.tsv has no {name} column"))
    };
    let (case_col, input_col, extra_col) = (
        column("case"),
        column("input_file"),
        column("extra_expected_files"),
    );
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let field = |i: usize| fields.get(i).copied().unwrap_or("").trim();
            Case {
                name: field(case_col).to_string(),
                input_file: field(input_col).to_string(),
                // e.g. "expected_keep_sig,expected_alt(github ruby impl)"
                extra_expected: field(extra_col)
                    .split(',')
                    .map(|item| item.split('(').next().unwrap_or("").trim().to_string())
                    .filter(|item| !item.is_empty())
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn replies_keep_only_the_new_text() {
    let Some(dir) = corpus_dir() else {
        common::skipped(
            "../shared/corpus/replies not found (set GUICHET_SHARED_DIR); third-party mail is not in the repo",
        );
        return;
    };
    let dump = std::env::var_os("GUICHET_REPLIES_DUMP").map(PathBuf::from);
    if let Some(dump) = &dump {
        std::fs::create_dir_all(dump).unwrap();
    }
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let cases = cases(&index);
    assert!(
        cases.len() >= 116,
        "the corpus README promises 116 replies, INDEX.tsv lists {}",
        cases.len()
    );

    let mut matched = 0usize;
    for case in &cases {
        let input = input_text(&dir.join(&case.input_file));
        let output = visible_text(&input);
        let mut variants = vec![format!("{}.expected.txt", case.name)];
        variants.extend(
            case.extra_expected
                .iter()
                .map(|kind| format!("{}.{kind}.txt", case.name)),
        );
        let expected: Vec<String> = variants
            .iter()
            .map(|file| {
                std::fs::read_to_string(dir.join(file))
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
            })
            .collect();
        let got = fold(&output);
        if expected.iter().any(|want| fold(want) == got) {
            matched += 1;
        } else {
            println!("mismatch: {}", case.name);
        }
        if let Some(dump) = &dump {
            std::fs::write(dump.join(format!("{}.in.txt", case.name)), &input).unwrap();
            std::fs::write(dump.join(format!("{}.out.txt", case.name)), &output).unwrap();
        }
    }

    let share = matched as f64 / cases.len() as f64;
    println!(
        "replies: {matched}/{} matched exactly ({:.1}%)",
        cases.len(),
        share * 100.0
    );
    assert!(
        share >= REQUIRED_SHARE,
        "only {:.1}% of the replies matched; at least {:.0}% expected",
        share * 100.0,
        REQUIRED_SHARE * 100.0
    );
}

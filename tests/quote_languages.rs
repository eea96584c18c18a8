//! Quote stripping in the languages and clients our users write with: fixtures/quotes holds one
//! reply per file (`<lang>-<client>.txt`) with the visible text expected beside it
//! (`<lang>-<client>.expected.txt`), written from the clients' observed formats (Gmail web and
//! Android, Outlook desktop, web and Android, Apple Mail and iOS Mail, Thunderbird, Samsung
//! Email, Foxmail).
//!
//! Two promises are checked: no line of new text is ever lost (every line of the expected text
//! is in the output), and at least 95% of the replies come out exactly. The figures per
//! language are printed (`cargo test --test quote_languages -- --nocapture`).

use std::collections::BTreeMap;
use std::path::Path;

use guichet::core::quotes::visible_text;

const REQUIRED_SHARE: f64 = 0.95;
const REQUIRED_LANGUAGES: usize = 15;

#[derive(Default)]
struct Tally {
    cases: usize,
    exact: usize,
    lost_lines: usize,
}

#[test]
fn replies_in_many_languages_keep_only_the_new_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/quotes");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".txt") && !name.ends_with(".expected.txt"))
        .map(|name| name.trim_end_matches(".txt").to_string())
        .collect();
    names.sort();

    let mut per_language: BTreeMap<String, Tally> = BTreeMap::new();
    let mut problems = Vec::new();
    for name in &names {
        let read = |file: String| {
            std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"))
        };
        let input = read(format!("{name}.txt"));
        let expected = read(format!("{name}.expected.txt"));
        let expected = expected.trim();
        let got = visible_text(&input);

        let language = name.split('-').next().unwrap_or(name).to_string();
        let tally = per_language.entry(language).or_default();
        tally.cases += 1;
        let got_lines: Vec<&str> = got.lines().map(str::trim).collect();
        let lost: Vec<&str> = expected
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !got_lines.contains(line))
            .collect();
        tally.lost_lines += lost.len();
        if got == expected {
            tally.exact += 1;
        } else {
            problems.push(format!(
                "{name}: {}\n  got:      {got:?}\n  expected: {expected:?}",
                if lost.is_empty() {
                    "not exact"
                } else {
                    "NEW TEXT LOST"
                }
            ));
        }
    }

    let (mut cases, mut exact, mut lost) = (0, 0, 0);
    for (language, tally) in &per_language {
        println!(
            "{language}: {}/{} exact, {} lines of new text lost",
            tally.exact, tally.cases, tally.lost_lines
        );
        cases += tally.cases;
        exact += tally.exact;
        lost += tally.lost_lines;
    }
    let share = exact as f64 / cases as f64;
    println!(
        "all: {exact}/{cases} exact ({:.1}%) in {} languages, {lost} lines of new text lost",
        share * 100.0,
        per_language.len()
    );
    for problem in &problems {
        println!("{problem}");
    }
    assert!(
        per_language.len() >= REQUIRED_LANGUAGES,
        "too few languages"
    );
    assert_eq!(lost, 0, "new text was cut:\n{}", problems.join("\n"));
    assert!(
        share >= REQUIRED_SHARE,
        "only {:.1}% exact:\n{}",
        share * 100.0,
        problems.join("\n")
    );
}

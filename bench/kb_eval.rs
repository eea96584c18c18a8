//! The knowledge base's suggestions against the labelled set of `fixtures/kb`.
//!
//!   cargo bench --bench kb_eval -- [--misses] [--sweep]
//!
//! Every article is imported into a fresh store; every request is composed as a mail, parsed
//! and matched exactly as intake matches a new ticket (language guess, visible text, forwarded
//! mail, the configured confidence). Prints the precision of the first suggestion, recall within
//! the three suggestions, and the share of unanswerable requests that got a suggestion.

use std::collections::HashMap;
use std::path::Path;

use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::{ArticleSearch, Store};
use guichet::config::Config;
use guichet::core::intake::choose_language;
use guichet::core::knowledge::matching::{request_terms, Confidence};
use guichet::core::knowledge::{from_markdown, ArticleId};

#[derive(serde::Deserialize)]
struct Requests {
    request: Vec<Request>,
}

#[derive(serde::Deserialize)]
struct Request {
    id: String,
    language: String,
    from: String,
    subject: String,
    body: String,
    answer: String,
}

struct Prepared {
    id: String,
    label_language: String,
    language: String,
    terms: Vec<String>,
    answer: Option<String>,
}

#[derive(Default)]
struct Figures {
    answerable: usize,
    unanswerable: usize,
    suggested_first: usize,
    first_right: usize,
    within_three: usize,
    suggested_on_none: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let misses = args.iter().any(|a| a == "--misses");
    let sweep = args.iter().any(|a| a == "--sweep");
    let dump = args.iter().any(|a| a == "--dump");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kb");
    let config = Config::parse(
        Path::new("kb_eval.toml"),
        "[general]\nstate_dir = \"/tmp/guichet-kb-eval\"\nsupport_address = \"support@desk.example.test\"\n",
        &|_| None,
    )
    .expect("config");

    let mut store = Store::open_memory().expect("store");
    let mut slugs: HashMap<ArticleId, String> = HashMap::new();
    let tx = store.write().expect("write");
    let mut paths: Vec<_> = std::fs::read_dir(root.join("articles"))
        .expect("fixtures/kb/articles")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    for path in &paths {
        let slug = path.file_stem().unwrap().to_string_lossy().to_string();
        let (text, state) = from_markdown(&slug, &std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (id, _) = tx
            .save_article(&text, state, "eval", "import", 0)
            .expect("save");
        slugs.insert(id, slug);
    }
    tx.commit().expect("commit");

    let requests: Requests =
        toml::from_str(&std::fs::read_to_string(root.join("requests.toml")).unwrap())
            .expect("requests.toml");
    let mut wrong_language = 0;
    let prepared: Vec<Prepared> = requests
        .request
        .iter()
        .map(|r| {
            let raw = format!(
                "From: {}\r\nTo: support@desk.example.test\r\nSubject: {}\r\nMessage-ID: <{}@eval.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
                r.from,
                r.subject,
                r.id,
                r.body.replace('\n', "\r\n")
            );
            let mail = parse_mail(raw.as_bytes()).expect("parses").mail;
            let language = choose_language(&config.intake, &mail).code().to_string();
            if language != r.language {
                wrong_language += 1;
            }
            Prepared {
                id: r.id.clone(),
                label_language: r.language.clone(),
                terms: request_terms(&mail, &language),
                language,
                answer: (r.answer != "none").then(|| r.answer.clone()),
            }
        })
        .collect();

    let measure = |confidence: &Confidence, show: bool| -> Figures {
        let mut figures = Figures::default();
        for request in &prepared {
            let judged = store
                .read()
                .judged_articles(
                    &ArticleSearch {
                        terms: &request.terms,
                        language: &request.language,
                        queue: None,
                        include_internal: false,
                        limit: 10,
                    },
                    confidence,
                )
                .expect("search");
            let suggested: Vec<&str> = judged
                .iter()
                .filter(|j| j.confident)
                .map(|j| slugs[&j.key].as_str())
                .collect();
            match &request.answer {
                Some(answer) => {
                    figures.answerable += 1;
                    if !suggested.is_empty() {
                        figures.suggested_first += 1;
                    }
                    if suggested.first() == Some(&answer.as_str()) {
                        figures.first_right += 1;
                    }
                    if suggested.contains(&answer.as_str()) {
                        figures.within_three += 1;
                    } else if show {
                        let top: Vec<String> = judged
                            .iter()
                            .take(3)
                            .map(|j| {
                                format!(
                                    "{} {:.1}/{}/{:.2}",
                                    slugs[&j.key], j.score, j.shared_terms, j.title_share
                                )
                            })
                            .collect();
                        println!("MISS {} [{}→{}] want {answer}; got {suggested:?}; top {top:?}; terms {:?}", request.id, request.label_language, request.language, request.terms);
                    }
                    if show && !suggested.is_empty() && suggested[0] != answer.as_str() {
                        println!(
                            "WRONG-FIRST {} want {answer}; got {suggested:?}",
                            request.id
                        );
                    }
                }
                None => {
                    figures.unanswerable += 1;
                    if !suggested.is_empty() {
                        figures.suggested_on_none += 1;
                        if show {
                            println!(
                                "ON-NONE {} got {suggested:?}; terms {:?}",
                                request.id, request.terms
                            );
                        }
                    }
                }
            }
        }
        figures
    };

    let report = |label: &str, f: &Figures| {
        let made = f.suggested_first + f.suggested_on_none;
        println!(
            "{label:<28} precision@1 {:.3}   recall@3 {:.3}   suggested on none {:.3}   ({} answerable, {} none, {} suggestions made)",
            f.first_right as f64 / made.max(1) as f64,
            f.within_three as f64 / f.answerable.max(1) as f64,
            f.suggested_on_none as f64 / f.unanswerable.max(1) as f64,
            f.answerable,
            f.unanswerable,
            made,
        );
    };
    println!(
        "{} articles, {} requests; language guessed differently from the label for {wrong_language}",
        slugs.len(),
        prepared.len()
    );
    let configured = config.intake.knowledge.confidence;
    if dump {
        // One line per request: its label, then the store's first three candidates.
        for request in &prepared {
            let judged = store
                .read()
                .judged_articles(
                    &ArticleSearch {
                        terms: &request.terms,
                        language: &request.language,
                        queue: None,
                        include_internal: false,
                        limit: 10,
                    },
                    &configured,
                )
                .expect("search");
            let mut line = format!(
                "{}\t{}\t{}",
                request.id,
                request.answer.as_deref().unwrap_or("none"),
                request.terms.len()
            );
            for j in judged.iter().take(3) {
                line.push_str(&format!(
                    "\t{}\t{:.2}\t{}\t{:.2}",
                    slugs[&j.key], j.score, j.shared_terms, j.title_share
                ));
            }
            println!("{line}");
        }
        return;
    }
    let figures = measure(&configured, misses);
    report("configured", &figures);
    if sweep {
        for min_score in [2.0, 4.0, 6.0, 8.0, 10.0, 12.0] {
            for min_title_share in [0.0, 0.2, 0.34, 0.5] {
                for min_shared_terms in [1, 2, 3] {
                    let confidence = Confidence {
                        min_score,
                        min_title_share,
                        min_shared_terms,
                        ..configured
                    };
                    report(
                        &format!("s{min_score} t{min_title_share} n{min_shared_terms}"),
                        &measure(&confidence, false),
                    );
                }
            }
        }
    }
}

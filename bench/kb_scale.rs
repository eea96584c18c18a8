//! Knowledge search at scale: 100,000 articles and 1,000,000 resolved tickets.
//!
//!   cargo bench --bench kb_scale -- [--scale F] [--store PATH]
//!
//! Builds (once; kept at PATH, by default target/kb_scale-<scale>.sqlite3) a store whose articles
//! and tickets are written from the words of `fixtures/kb` (each language's vocabulary, drawn
//! with a Zipf-like skew so that some words are common and most are rare), then runs every
//! request of `fixtures/kb/requests.toml` through what intake does for a suggestion (analysis,
//! the article search and the confidence judgement) and through the similar-tickets search, and
//! prints p50, p99 and max of each. Then it ingests every request as a new mail through the
//! pipeline twice, into an empty store and into a copy of the big one, and prints the median
//! ingest time of each: what the knowledge base adds to the intake of a mail.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;

use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::{indexed_terms, ArticleSearch, Store};
use guichet::config::Config;
use guichet::core::knowledge::analysis::terms;
use guichet::core::knowledge::matching::{request_terms, Confidence};
use guichet::core::knowledge::{ArticleState, ArticleText, ArticleVisibility};
use guichet::pipeline::{Pipeline, Source};
use rusqlite::params;

// The vocabulary and the seeded generator are shared with the report benchmark's store.
#[path = "gen/words.rs"]
mod words;
use words::{sentence, words_by_language, Random};

#[derive(serde::Deserialize)]
struct Requests {
    request: Vec<Request>,
}

#[derive(serde::Deserialize)]
struct Request {
    language: String,
    subject: String,
    body: String,
}

fn build(path: &Path, root: &Path, articles: usize, tickets: usize) {
    let words = words_by_language(root);
    let languages: Vec<&String> = {
        let mut l: Vec<&String> = words.keys().collect();
        l.sort();
        l
    };
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let mut store = Store::open(path).expect("store");
    let tx = store.write().expect("write");
    for n in 0..articles {
        let language = languages[n % languages.len()];
        let vocabulary = &words[language];
        let length = 60 + random.skewed(140);
        let text = ArticleText {
            slug: format!("generated-{n}-{language}"),
            title: sentence(&mut random, vocabulary, 5 + n % 4),
            body: sentence(&mut random, vocabulary, length),
            language: language.clone(),
            tags: vec![vocabulary[random.skewed(vocabulary.len())].clone()],
            queue: None,
            visibility: if n % 10 == 0 {
                ArticleVisibility::Internal
            } else {
                ArticleVisibility::Public
            },
        };
        tx.save_article(&text, ArticleState::Published, "bench", "generated", 0)
            .expect("save");
    }
    tx.commit().expect("commit");
    println!(
        "{articles} articles in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    drop(store);

    // Tickets go straight into their tables: the pipeline would take hours for a million, and
    // what is measured is the search over them.
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "synchronous", "off").unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut ticket = tx
            .prepare(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue, language,
                                      created_at, updated_at, resolution)
                 VALUES (?1, ?2, 'someone@example.com', 'resolved', 'normal', 1, 'general', ?3, 0, 0, ?4)",
            )
            .unwrap();
        let mut index = tx
            .prepare("INSERT INTO kb_ticket_fts (rowid, question, resolution) VALUES (?1, ?2, ?3)")
            .unwrap();
        for n in 1..=tickets {
            let language = languages[n % languages.len()];
            let vocabulary = &words[language];
            let subject = sentence(&mut random, vocabulary, 4);
            let question_words = 20 + random.skewed(60);
            let question = sentence(&mut random, vocabulary, question_words);
            let resolution_words = 8 + random.skewed(30);
            let resolution = sentence(&mut random, vocabulary, resolution_words);
            ticket
                .execute(params![n as i64, subject, language, resolution])
                .unwrap();
            index
                .execute(params![
                    n as i64,
                    indexed_terms(
                        language,
                        &terms(&format!("{subject}\n{question}"), language)
                    ),
                    indexed_terms(language, &terms(&resolution, language))
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    println!(
        "{tickets} resolved tickets in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn percentiles(mut micros: Vec<u128>) -> String {
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  ({} searches)",
        at(0.5),
        at(0.99),
        at(1.0),
        micros.len()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let scale: f64 = value("--scale").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = value("--store")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join(format!("target/kb_scale-{scale}.sqlite3")));
    let root = manifest.join("fixtures/kb");
    let articles = (100_000.0 * scale) as usize;
    let tickets = (1_000_000.0 * scale) as usize;
    if !path.exists() {
        build(&path, &root, articles, tickets);
    }
    println!(
        "store {} ({} MB)",
        path.display(),
        std::fs::metadata(&path)
            .map(|m| m.len() / 1_000_000)
            .unwrap_or(0)
    );
    let store = Store::open(&path).expect("store");
    let requests: Requests =
        toml::from_str(&std::fs::read_to_string(root.join("requests.toml")).unwrap()).unwrap();
    let confidence = Confidence::default();
    let mut suggest = Vec::new();
    let mut similar = Vec::new();
    let mut lookups = Vec::new();
    // Twice over: the first pass warms the page cache, as a running daemon's would be.
    for pass in 0..2 {
        for request in &requests.request {
            let raw = format!(
                "From: a@example.com\r\nSubject: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
                request.subject,
                request.body.replace('\n', "\r\n")
            );
            let mail = parse_mail(raw.as_bytes()).unwrap().mail;
            let started = Instant::now();
            let query = request_terms(&mail, &request.language);
            let stats = store
                .read()
                .article_term_stats(&request.language, &query)
                .unwrap();
            std::hint::black_box(stats);
            let looking = started.elapsed().as_micros();
            let started = Instant::now();
            let judged = store
                .read()
                .judged_articles(
                    &ArticleSearch {
                        terms: &query,
                        language: &request.language,
                        queue: Some("general"),
                        include_internal: false,
                        limit: 10,
                    },
                    &confidence,
                )
                .unwrap();
            let suggesting = started.elapsed().as_micros();
            let started = Instant::now();
            let tickets = store
                .read()
                .similar_tickets(&query, &request.language, None, 3)
                .unwrap();
            let finding = started.elapsed().as_micros();
            std::hint::black_box((judged, tickets));
            if pass == 1 {
                suggest.push(suggesting);
                lookups.push(looking);
                similar.push(finding);
            }
        }
    }
    println!(
        "suggestion (terms, article search, judgement)  {}",
        percentiles(suggest)
    );
    println!(
        "  of which analysis and term counts           {}",
        percentiles(lookups)
    );
    println!(
        "similar resolved tickets                       {}",
        percentiles(similar)
    );
    let empty = median_ingest(None, &requests.request);
    let big = median_ingest(Some(&path), &requests.request);
    println!(
        "intake of a new mail, median: {:.2} ms with no knowledge base, {:.2} ms with this one (+{:.2} ms)",
        empty,
        big,
        big - empty
    );
}

/// The median time to ingest each request as a new ticket, into a fresh store or a copy of
/// `store`.
fn median_ingest(store: Option<&Path>, requests: &[Request]) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    if let Some(store) = store {
        std::fs::copy(store, state.join("guichet.sqlite3")).expect("copy the store");
    }
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n",
        state.display().to_string()
    );
    let config = Config::parse(Path::new("kb_scale.toml"), &text, &|_| None).expect("config");
    let mut pipeline = Pipeline::open(Arc::new(config)).expect("pipeline");
    let mut micros = Vec::new();
    for (n, request) in requests.iter().enumerate() {
        let raw = format!(
            "From: r{n}@example.com\r\nTo: support@desk.example.test\r\nSubject: {}\r\nMessage-ID: <scale{n}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
            request.subject,
            request.body.replace('\n', "\r\n")
        );
        let started = Instant::now();
        pipeline
            .ingest(
                raw.as_bytes(),
                &Source::named("kb_scale"),
                1_700_000_000 + n as i64,
            )
            .expect("ingest");
        micros.push(started.elapsed().as_micros());
    }
    micros.sort_unstable();
    micros[micros.len() / 2] as f64 / 1000.0
}

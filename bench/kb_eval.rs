//! The knowledge base's suggestions against the labelled set of `fixtures/kb`.
//!
//!   cargo bench --bench kb_eval -- [--misses] [--sweep] [--dump]
//!
//! `--dump` prints, per request of the cold run, the evidence of its first three candidates
//! (`scripts/kb_fit.py` fits the confidence model's weights to it).
//!
//! Every article is imported into a fresh store; every request is composed as a mail, ingested
//! as a new ticket and matched exactly as intake matches one (language guess, visible text,
//! forwarded mail, the configured confidence). Two runs:
//! - cold: the articles alone;
//! - learning: requests in order, and each answerable one, once matched, is marked solved by its
//!   article (as `#solved` or `#answer` would), so that the article learns its wording.
//!
//! Each prints the precision of the first suggestion, recall within the (up to three)
//! suggestions, and the share of unanswerable requests that got a suggestion, over all requests
//! and over the odd and even halves (thresholds were tuned looking at the odd half only).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::{ArticleLink, ArticleSearch};
use guichet::config::Config;
use guichet::core::intake::choose_language;
use guichet::core::knowledge::matching::{request_terms, Confidence, Judged};
use guichet::core::knowledge::{from_markdown, ArticleId};
use guichet::pipeline::{IngestOutcome, Pipeline, Source};

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
    odd: bool,
    raw: Vec<u8>,
    language: String,
    terms: Vec<String>,
    answer: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Figures {
    answerable: usize,
    unanswerable: usize,
    suggested_first: usize,
    first_right: usize,
    within_three: usize,
    suggested_on_none: usize,
}

impl Figures {
    fn count(&mut self, answer: Option<&str>, suggested: &[&str]) {
        match answer {
            Some(answer) => {
                self.answerable += 1;
                self.suggested_first += usize::from(!suggested.is_empty());
                self.first_right += usize::from(suggested.first() == Some(&answer));
                self.within_three += usize::from(suggested.contains(&answer));
            }
            None => {
                self.unanswerable += 1;
                self.suggested_on_none += usize::from(!suggested.is_empty());
            }
        }
    }

    fn line(&self) -> String {
        let made = self.suggested_first + self.suggested_on_none;
        format!(
            "precision@1 {:.3}  recall@3 {:.3}  suggested on none {:.3}  ({} answerable, {} none)",
            self.first_right as f64 / made.max(1) as f64,
            self.within_three as f64 / self.answerable.max(1) as f64,
            self.suggested_on_none as f64 / self.unanswerable.max(1) as f64,
            self.answerable,
            self.unanswerable,
        )
    }
}

struct Desk {
    _dir: tempfile::TempDir,
    pipeline: Pipeline,
    slugs: HashMap<ArticleId, String>,
    ids: HashMap<String, ArticleId>,
}

const CONFIG: &str =
    "[general]\nstate_dir = \"STATE\"\nsupport_address = \"support@desk.example.test\"\n";

fn desk(root: &Path) -> Desk {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = CONFIG.replace("STATE", &dir.path().join("state").display().to_string());
    let config = Config::parse(Path::new("kb_eval.toml"), &text, &|_| None).expect("config");
    let mut pipeline = Pipeline::open(Arc::new(config)).expect("pipeline");
    let mut slugs = HashMap::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("articles"))
        .expect("fixtures/kb/articles")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    let tx = pipeline.store_mut().write().expect("write");
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
    let ids = slugs.iter().map(|(id, slug)| (slug.clone(), *id)).collect();
    Desk {
        _dir: dir,
        pipeline,
        slugs,
        ids,
    }
}

fn judge(desk: &Desk, request: &Prepared, confidence: &Confidence) -> Vec<Judged<ArticleId>> {
    desk.pipeline
        .store()
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
        .expect("search")
}

/// A request and its first three candidates, tab-separated, for tuning outside.
fn dump_line(desk: &Desk, request: &Prepared, judged: &[Judged<ArticleId>]) -> String {
    let mut line = format!(
        "{}\t{}\t{}",
        request.id,
        request.answer.as_deref().unwrap_or("none"),
        request.terms.len()
    );
    for j in judged.iter().take(3) {
        line.push_str(&format!(
            "\t{}\t{:.3}\t{:.3}\t{:.3}\t{}",
            desk.slugs[&j.key],
            j.evidence.score,
            j.evidence.lead,
            j.evidence.title_cover,
            j.evidence.shared_terms
        ));
    }
    line
}

/// Figures over all requests, the odd half and the even half.
fn run(
    desk: &mut Desk,
    requests: &[Prepared],
    confidence: &Confidence,
    learn: bool,
    show: bool,
    dump: bool,
) -> [Figures; 3] {
    let mut figures = [Figures::default(); 3];
    for (n, request) in requests.iter().enumerate() {
        let judged = judge(desk, request, confidence);
        if dump {
            println!("{}", dump_line(desk, request, &judged));
        }
        let suggested: Vec<&str> = judged
            .iter()
            .filter(|j| j.confident)
            .map(|j| desk.slugs[&j.key].as_str())
            .collect();
        let answer = request.answer.as_deref();
        figures[0].count(answer, &suggested);
        figures[if request.odd { 1 } else { 2 }].count(answer, &suggested);
        if show
            && answer.is_none_or(|a| suggested.first() != Some(&a))
            && !(answer.is_none() && suggested.is_empty())
        {
            let top: Vec<String> = judged
                .iter()
                .take(3)
                .map(|j| {
                    format!(
                        "{} c{:.2} s{:.1} l{:.1} t{:.2}",
                        desk.slugs[&j.key],
                        j.confidence,
                        j.evidence.score,
                        j.evidence.lead,
                        j.evidence.title_cover
                    )
                })
                .collect();
            println!(
                "{} want {} got {suggested:?}; top {top:?}; terms {:?}",
                request.id,
                answer.unwrap_or("none"),
                request.terms
            );
        }
        if !learn {
            continue;
        }
        let outcome = desk
            .pipeline
            .ingest(
                &request.raw,
                &Source::named("kb_eval"),
                1_700_000_000 + n as i64,
            )
            .expect("ingest");
        if let (Some(answer), IngestOutcome::Created { ticket, .. }) = (answer, outcome) {
            let tx = desk.pipeline.store_mut().write().expect("write");
            tx.link_article(desk.ids[answer], ticket, ArticleLink::Solved, 0)
                .expect("link");
            tx.commit().expect("commit");
        }
    }
    figures
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kb");
    let requests: Requests =
        toml::from_str(&std::fs::read_to_string(root.join("requests.toml")).unwrap())
            .expect("requests.toml");
    let mut cold = desk(&root);
    let policy = cold.pipeline.config().intake.clone();
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
            )
            .into_bytes();
            let mail = parse_mail(&raw).expect("parses").mail;
            let language = choose_language(&policy, &mail).code().to_string();
            wrong_language += usize::from(language != r.language);
            Prepared {
                id: r.id.clone(),
                odd: r.id.trim_start_matches('r').parse::<u32>().unwrap_or(0) % 2 == 1,
                raw,
                terms: request_terms(&mail, &language).into_owned(),
                language,
                answer: (r.answer != "none").then(|| r.answer.clone()),
            }
        })
        .collect();
    println!(
        "{} articles, {} requests; language guessed unlike the label for {wrong_language}",
        cold.slugs.len(),
        prepared.len()
    );
    let configured = policy.knowledge.confidence;
    let show = flag("--misses");
    let dump = flag("--dump");
    let [all, odd, even] = run(&mut cold, &prepared, &configured, false, show, dump);
    println!("cold      all  {}", all.line());
    println!("cold      odd  {}", odd.line());
    println!("cold      even {}", even.line());
    let mut learning = desk(&root);
    let [all, odd, even] = run(&mut learning, &prepared, &configured, true, false, false);
    println!("learning  all  {}", all.line());
    println!("learning  odd  {}", odd.line());
    println!("learning  even {}", even.line());
    if flag("--sweep") {
        for min_confidence in [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8] {
            let confidence = Confidence {
                min_confidence,
                ..configured
            };
            let [_, odd, even] = run(&mut cold, &prepared, &confidence, false, false, false);
            println!("min_confidence {min_confidence:<5} odd  {}", odd.line());
            println!("min_confidence {min_confidence:<5} even {}", even.line());
        }
    }
}

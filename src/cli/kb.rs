//! `guichet kb list|show|search|import|export`: the knowledge base from the command line.

use super::*;
use crate::core::knowledge::matching::query_terms;
use crate::core::knowledge::{
    check_article, from_markdown, to_markdown, Article, ArticleId, ArticleState,
};

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Every article, or those in one state.
    List {
        /// draft, published or retired.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One article with its versions and the tickets it is tied to.
    Show {
        /// KB-12, or 12.
        article: String,
        #[arg(long)]
        json: bool,
    },
    /// The articles and resolved tickets a text matches, with the evidence and the confidence
    /// that `[knowledge] min_confidence` is set against.
    Search {
        text: String,
        /// The language to search in; by default the text's, or the configured default.
        #[arg(long)]
        language: Option<String>,
        /// Only articles for this queue (and for all queues).
        #[arg(long)]
        queue: Option<String>,
        /// Include internal articles, as agents see them.
        #[arg(long)]
        internal: bool,
        #[arg(long)]
        json: bool,
    },
    /// Read every `*.md` file of DIR (TOML front matter between `+++` lines, the body in
    /// Markdown): a new slug is a new article, a changed text its next version.
    Import {
        dir: PathBuf,
        /// Recorded as who made the change.
        #[arg(long, default_value = "import")]
        by: String,
    },
    /// Write every article to DIR as `<slug>.md`, the way `import` reads it.
    Export { dir: PathBuf },
}

#[derive(Debug, serde::Serialize)]
struct ArticleSummary {
    id: String,
    slug: String,
    title: String,
    language: String,
    queue: String,
    visibility: &'static str,
    state: &'static str,
    version: u32,
    useful: u64,
    updated_at: String,
}

impl From<&Article> for ArticleSummary {
    fn from(a: &Article) -> Self {
        ArticleSummary {
            id: a.id.to_string(),
            slug: a.text.slug.clone(),
            title: a.text.title.clone(),
            language: a.text.language.clone(),
            queue: a.text.queue.clone().unwrap_or_else(|| "all".into()),
            visibility: a.text.visibility.as_str(),
            state: a.state.as_str(),
            version: a.version,
            useful: a.useful,
            updated_at: time(a.updated_at),
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct SearchHit {
    id: String,
    title: String,
    score: f64,
    lead: f64,
    title_cover: f64,
    shared_terms: usize,
    confidence: f64,
    suggested: bool,
}

#[derive(Debug, serde::Serialize)]
struct SimilarHit {
    ticket: u64,
    subject: String,
    resolution: String,
    score: f64,
}

#[derive(Debug, serde::Serialize)]
struct SearchReport {
    language: String,
    terms: Vec<String>,
    articles: Vec<SearchHit>,
    tickets: Vec<SimilarHit>,
}

pub(super) fn kb(config: &Config, command: KbCommand) -> Result<(), CliError> {
    match command {
        KbCommand::List { state, json } => {
            let state = state
                .map(|s| {
                    ArticleState::parse(&s).ok_or_else(|| {
                        CliError::Usage(format!("`{s}` is not one of: draft, published, retired"))
                    })
                })
                .transpose()?;
            let articles = open_read_only(config)?.read().articles(state)?;
            let rows: Vec<ArticleSummary> = articles.iter().map(ArticleSummary::from).collect();
            if json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                println!("no article");
            }
            for row in rows {
                println!(
                    "{:>7}  {:<9} {:<8} {}  v{:<3} {:>4} useful  {}",
                    row.id,
                    row.state,
                    row.visibility,
                    row.language,
                    row.version,
                    row.useful,
                    row.title
                );
            }
            Ok(())
        }
        KbCommand::Show { article, json } => show(config, &article, json),
        KbCommand::Search {
            text,
            language,
            queue,
            internal,
            json,
        } => search(config, &text, language, queue.as_deref(), internal, json),
        KbCommand::Import { dir, by } => import(config, &dir, &by),
        KbCommand::Export { dir } => export(config, &dir),
    }
}

fn show(config: &Config, article: &str, json: bool) -> Result<(), CliError> {
    let id: ArticleId = article.parse().map_err(CliError::Usage)?;
    let store = open_read_only(config)?;
    let reader = store.read();
    let found = reader
        .article(id)?
        .ok_or_else(|| CliError::Failure(format!("no article {id}")))?;
    let versions = reader.article_versions(id)?;
    let links = reader.article_links(id)?;
    if json {
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            summary: ArticleSummary,
            tags: &'a [String],
            body: &'a str,
            versions: Vec<serde_json::Value>,
            tickets: Vec<serde_json::Value>,
        }
        return print_json(&Shown {
            summary: ArticleSummary::from(&found),
            tags: &found.text.tags,
            body: &found.text.body,
            versions: versions
                .iter()
                .map(|v| {
                    serde_json::json!({"version": v.version, "title": v.title, "changed_by": v.changed_by,
                                       "changed_at": time(v.changed_at), "note": v.note})
                })
                .collect(),
            tickets: links
                .iter()
                .map(|(relation, ticket)| serde_json::json!({"relation": relation, "ticket": ticket.0}))
                .collect(),
        });
    }
    let summary = ArticleSummary::from(&found);
    println!("{}  {}", summary.id, summary.title);
    println!(
        "{} · {} · {} · queue {} · v{} · useful {} · {}",
        summary.state,
        summary.visibility,
        summary.language,
        summary.queue,
        summary.version,
        summary.useful,
        summary.slug
    );
    if !found.text.tags.is_empty() {
        println!("tags: {}", found.text.tags.join(", "));
    }
    println!("\n{}\n", found.text.body);
    for v in &versions {
        println!(
            "v{}  {}  {}  {}",
            v.version,
            time(v.changed_at),
            v.changed_by,
            v.note
        );
    }
    for (relation, ticket) in &links {
        println!("{relation} #{}", ticket.0);
    }
    Ok(())
}

fn search(
    config: &Config,
    text: &str,
    language: Option<String>,
    queue: Option<&str>,
    internal: bool,
    json: bool,
) -> Result<(), CliError> {
    let language = language.unwrap_or_else(|| {
        guess_language(text)
            .unwrap_or(config.intake.language)
            .code()
            .to_string()
    });
    let policy = &config.intake.knowledge;
    let terms = query_terms("", text, &language);
    let store = open_read_only(config)?;
    let reader = store.read();
    let judged = reader.judged_articles(
        &crate::adapters::store::ArticleSearch {
            terms: &terms,
            language: &language,
            queue,
            include_internal: internal,
            limit: 10,
        },
        &policy.confidence,
    )?;
    let mut articles = Vec::new();
    for j in judged {
        let title = reader
            .article(j.key)?
            .map(|a| a.text.title)
            .unwrap_or_default();
        articles.push(SearchHit {
            id: j.key.to_string(),
            title,
            score: round2(j.evidence.score),
            lead: round2(j.evidence.lead),
            title_cover: round2(j.evidence.title_cover),
            shared_terms: j.evidence.shared_terms,
            confidence: round2(j.confidence),
            suggested: j.confident,
        });
    }
    let tickets = reader
        .similar_tickets(&terms, &language, None, 5)?
        .into_iter()
        .map(|t| SimilarHit {
            ticket: t.number.0,
            subject: t.subject,
            resolution: crate::core::address::one_line(&t.resolution, 160),
            score: round2(t.score),
        })
        .collect();
    let report = SearchReport {
        language,
        terms,
        articles,
        tickets,
    };
    if json {
        return print_json(&report);
    }
    println!(
        "language {} · terms: {}",
        report.language,
        report.terms.join(" ")
    );
    if report.articles.is_empty() {
        println!("no article matches");
    }
    for hit in &report.articles {
        println!(
            "{} {:>7}  confidence {:.2}  score {:>6.2}  lead {:>5.2}  title {:>3.0}%  shared {:>2}  {}",
            if hit.suggested { "*" } else { " " },
            hit.id,
            hit.confidence,
            hit.score,
            hit.lead,
            hit.title_cover * 100.0,
            hit.shared_terms,
            hit.title
        );
    }
    println!(
        "(* would be suggested: the first at confidence ≥ {}, the next within {:.0}% of its score)",
        policy.confidence.min_confidence,
        policy.confidence.within_best * 100.0
    );
    for t in &report.tickets {
        println!(
            "  #{:<6} score {:>6.2}  {} → {}",
            t.ticket, t.score, t.subject, t.resolution
        );
    }
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn import(config: &Config, dir: &Path, by: &str) -> Result<(), CliError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CliError::NoInput(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::NoInput(format!("{}: no .md file", dir.display())));
    }
    crate::adapters::state_dir::prepare(&config.state_dir)
        .map_err(|e| CliError::TempFail(e.to_string()))?;
    let mut store = Store::open(&config.database_path())?;
    let now = system_now();
    let mut failed = 0;
    let (mut created, mut changed, mut same) = (0, 0, 0);
    let tx = store.write()?;
    for path in &files {
        let slug = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| from_markdown(&slug, &text))
            .and_then(|(text, state)| {
                check_article(&text, &config.intake.knowledge.languages).map(|()| (text, state))
            });
        let (text, state) = match parsed {
            Ok(article) => article,
            Err(why) => {
                eprintln!("{}: {why}", path.display());
                failed += 1;
                continue;
            }
        };
        let before = tx.read().article_by_slug(&slug)?;
        let (id, version) = tx.save_article(&text, state, by, "imported", now)?;
        match before {
            None => created += 1,
            Some(old) if old.version == version && old.state == state => same += 1,
            Some(_) => changed += 1,
        }
        println!("{id}  v{version}  {}  {slug}", state.as_str());
    }
    tx.commit()?;
    println!("{created} new, {changed} changed, {same} unchanged, {failed} refused");
    match failed {
        0 => Ok(()),
        n => Err(CliError::Failure(format!(
            "{n} file(s) refused; the others were imported"
        ))),
    }
}

fn export(config: &Config, dir: &Path) -> Result<(), CliError> {
    let articles = open_read_only(config)?.read().articles(None)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failure(format!("{}: {e}", dir.display())))?;
    for article in &articles {
        let path = dir.join(format!("{}.md", article.text.slug));
        std::fs::write(&path, to_markdown(&article.text, article.state))
            .map_err(|e| CliError::Failure(format!("{}: {e}", path.display())))?;
    }
    println!("{} article(s) written to {}", articles.len(), dir.display());
    Ok(())
}

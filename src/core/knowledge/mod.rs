//! The knowledge base: articles, their rules, the Markdown files they travel in, and how a
//! request is matched to them. Level 1 of support answers from here.
//!
//! Storage is the store's (`adapters::store::knowledge`); everything here is pure.

pub mod analysis;
pub mod bm25;
pub mod by_mail;
pub mod mail;
pub mod matching;
pub mod scrub;

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the helpdesk uses its knowledge base (the `[knowledge]` table of the config).
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgePolicy {
    /// Languages articles may be written in (codes); the first is the default.
    pub languages: Vec<String>,
    /// Mail from an agent to this address drafts an article.
    pub address: Option<String>,
    /// Agents who receive drafts and may publish or retire articles of every queue.
    pub editors: Vec<String>,
    /// Knowledge editors of one queue, by queue name.
    pub queue_editors: Vec<(String, Vec<String>)>,
    /// Offer matching public articles in acknowledgements.
    pub suggest: bool,
    /// Where an article is read on the web: `{slug}` and `{id}` are replaced. `None`: its text
    /// goes in the mail.
    pub link: Option<String>,
    pub confidence: matching::Confidence,
}

impl KnowledgePolicy {
    /// The editors of a queue's articles: the queue's own, then those of every queue.
    pub fn editors_of(&self, queue: &str) -> Vec<&str> {
        let mut editors: Vec<&str> = self
            .queue_editors
            .iter()
            .filter(|(name, _)| name == queue)
            .flat_map(|(_, names)| names.iter().map(String::as_str))
            .collect();
        for name in &self.editors {
            if !editors.contains(&name.as_str()) {
                editors.push(name);
            }
        }
        editors
    }

    pub fn is_editor(&self, agent: &str, queue: Option<&str>) -> bool {
        self.editors.iter().any(|n| n == agent)
            || self.queue_editors.iter().any(|(q, names)| {
                queue.is_none_or(|queue| queue == q) && names.iter().any(|n| n == agent)
            })
    }
}

impl Default for KnowledgePolicy {
    fn default() -> Self {
        KnowledgePolicy {
            languages: vec!["en".into(), "fr".into(), "it".into()],
            address: None,
            editors: Vec::new(),
            queue_editors: Vec::new(),
            suggest: true,
            link: None,
            confidence: matching::Confidence::default(),
        }
    }
}

/// `KB-12`: how articles are named in mail, commands and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArticleId(pub u64);

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KB-{}", self.0)
    }
}

/// As mail and the audit trail name it: `"KB-12"`.
impl Serialize for ArticleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::str::FromStr for ArticleId {
    type Err = String;

    /// `KB-12`, `kb12`, `#12` or `12`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let digits = trimmed
            .strip_prefix("KB-")
            .or_else(|| trimmed.strip_prefix("kb-"))
            .or_else(|| trimmed.strip_prefix("KB"))
            .or_else(|| trimmed.strip_prefix("kb"))
            .or_else(|| trimmed.strip_prefix('#'))
            .unwrap_or(trimmed);
        digits
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(ArticleId)
            .ok_or_else(|| format!("`{trimmed}` is not an article number (like KB-12)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArticleState {
    Draft,
    Published,
    Retired,
}

impl ArticleState {
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleState::Draft => "draft",
            ArticleState::Published => "published",
            ArticleState::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<ArticleState> {
        match s {
            "draft" => Some(ArticleState::Draft),
            "published" => Some(ArticleState::Published),
            "retired" => Some(ArticleState::Retired),
            _ => None,
        }
    }
}

/// Public articles may be mailed to requesters; internal ones are for agents only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArticleVisibility {
    Public,
    Internal,
}

impl ArticleVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleVisibility::Public => "public",
            ArticleVisibility::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ArticleVisibility> {
        match s {
            "public" => Some(ArticleVisibility::Public),
            "internal" => Some(ArticleVisibility::Internal),
            _ => None,
        }
    }
}

/// What an article says and to whom; its number, state and history are the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleText {
    pub slug: String,
    pub title: String,
    pub body: String,
    pub language: String,
    pub tags: Vec<String>,
    /// `None`: every queue.
    pub queue: Option<String>,
    pub visibility: ArticleVisibility,
}

/// An article as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: ArticleId,
    pub text: ArticleText,
    pub state: ArticleState,
    pub version: u32,
    /// Tickets it resolved by `#solved` or `#answer`.
    pub useful: u64,
    pub updated_at: i64,
}

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 100_000;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 40;
const MAX_SLUG_CHARS: usize = 80;

/// Why an article cannot be kept as given.
pub fn check_article(text: &ArticleText, languages: &[String]) -> Result<(), String> {
    if text.title.trim().is_empty() {
        return Err("the title is empty".into());
    }
    if text.title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!(
            "the title is longer than {MAX_TITLE_CHARS} characters"
        ));
    }
    if text.title.contains(['\r', '\n']) {
        return Err("the title is more than one line".into());
    }
    if text.body.trim().is_empty() {
        return Err("the body is empty".into());
    }
    if text.body.chars().count() > MAX_BODY_CHARS {
        return Err(format!(
            "the body is longer than {MAX_BODY_CHARS} characters"
        ));
    }
    if !languages.contains(&text.language) {
        return Err(format!(
            "language `{}` is not one of the knowledge base's ({})",
            text.language,
            languages.join(", ")
        ));
    }
    if text.tags.len() > MAX_TAGS {
        return Err(format!("more than {MAX_TAGS} tags"));
    }
    if let Some(tag) = text.tags.iter().find(|t| {
        t.trim().is_empty() || t.chars().count() > MAX_TAG_CHARS || t.contains(['\r', '\n', ','])
    }) {
        return Err(format!(
            "tag `{tag}` is empty, longer than {MAX_TAG_CHARS} characters or holds a comma or a line break"
        ));
    }
    check_slug(&text.slug)
}

pub fn check_slug(slug: &str) -> Result<(), String> {
    let fine = !slug.is_empty()
        && slug.len() <= MAX_SLUG_CHARS
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    match fine {
        true => Ok(()),
        false => Err(format!(
            "slug `{slug}` must be 1 to {MAX_SLUG_CHARS} lower-case letters, digits and dashes"
        )),
    }
}

/// A slug from a title: folded, lower case, words joined by dashes.
pub fn slug_of(title: &str, language: &str) -> String {
    let folded = analysis::fold(title);
    let mut slug = String::new();
    for word in folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() + 1 > MAX_SLUG_CHARS - 3 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(word);
    }
    if slug.is_empty() {
        slug.push_str("article");
    }
    format!("{slug}-{}", language.to_ascii_lowercase())
}

/// What may be done to an article in a state, and the state it goes to.
pub fn transition(from: ArticleState, to: ArticleState) -> Result<(), String> {
    use ArticleState::*;
    match (from, to) {
        (Draft, Published) | (Published, Retired) | (Retired, Published) | (Draft, Retired) => {
            Ok(())
        }
        (a, b) if a == b => Err(format!("the article is already {}", a.as_str())),
        (a, b) => Err(format!(
            "a {} article cannot become {}",
            a.as_str(),
            b.as_str()
        )),
    }
}

/// The fields of a Markdown file's front matter (TOML between `+++` lines, as Hugo writes it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    language: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "every_queue")]
    queue: String,
    #[serde(default = "public")]
    visibility: ArticleVisibility,
    #[serde(default = "published")]
    state: ArticleState,
}

fn every_queue() -> String {
    "all".into()
}
fn public() -> ArticleVisibility {
    ArticleVisibility::Public
}
fn published() -> ArticleState {
    ArticleState::Published
}

/// An article read from a Markdown file named `<slug>.md`, and the state it asks for.
pub fn from_markdown(slug: &str, file: &str) -> Result<(ArticleText, ArticleState), String> {
    let file = file
        .strip_prefix('\u{feff}')
        .unwrap_or(file)
        .replace("\r\n", "\n");
    let rest = file
        .strip_prefix("+++\n")
        .ok_or("no front matter: the file must start with a `+++` line")?;
    let end = rest
        .find("\n+++\n")
        .or_else(|| rest.strip_suffix("\n+++").map(|r| r.len()))
        .ok_or("the front matter has no closing `+++` line")?;
    let front: FrontMatter =
        toml::from_str(&rest[..end]).map_err(|e| format!("front matter: {}", e.message()))?;
    let body = rest[end..]
        .strip_prefix("\n+++")
        .unwrap_or("")
        .trim()
        .to_string();
    let text = ArticleText {
        slug: slug.to_string(),
        title: front.title.trim().to_string(),
        body,
        language: front.language,
        tags: front.tags,
        queue: (front.queue != "all").then_some(front.queue),
        visibility: front.visibility,
    };
    Ok((text, front.state))
}

/// The Markdown file `from_markdown` reads back to the same article.
pub fn to_markdown(text: &ArticleText, state: ArticleState) -> String {
    let front = FrontMatter {
        title: text.title.clone(),
        language: text.language.clone(),
        tags: text.tags.clone(),
        queue: text.queue.clone().unwrap_or_else(every_queue),
        visibility: text.visibility,
        state,
    };
    let toml = toml::to_string(&front).unwrap_or_default();
    format!("+++\n{toml}+++\n{}\n", text.body.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn languages() -> Vec<String> {
        vec!["en".into(), "fr".into(), "it".into()]
    }

    fn sample() -> ArticleText {
        ArticleText {
            slug: "printer-paper-jam-fr".into(),
            title: "Bourrage papier".into(),
            body: "1. Ouvrez le capot.\n2. Retirez la feuille.".into(),
            language: "fr".into(),
            tags: vec!["imprimante".into(), "papier".into()],
            queue: None,
            visibility: ArticleVisibility::Public,
        }
    }

    #[test]
    fn markdown_round_trips() {
        let text = sample();
        for state in [
            ArticleState::Draft,
            ArticleState::Published,
            ArticleState::Retired,
        ] {
            let file = to_markdown(&text, state);
            assert_eq!(
                from_markdown(&text.slug, &file).unwrap(),
                (text.clone(), state)
            );
        }
        let mut internal = sample();
        internal.queue = Some("it".into());
        internal.visibility = ArticleVisibility::Internal;
        let file = to_markdown(&internal, ArticleState::Published);
        assert!(file.contains("queue = \"it\""), "{file}");
        assert_eq!(from_markdown(&internal.slug, &file).unwrap().0, internal);
    }

    #[test]
    fn markdown_defaults_and_errors_name_the_problem() {
        let (text, state) = from_markdown(
            "a-en",
            "+++\r\ntitle = \"A\"\r\nlanguage = \"en\"\r\n+++\r\nBody\r\n",
        )
        .unwrap();
        assert_eq!(state, ArticleState::Published);
        assert_eq!(text.visibility, ArticleVisibility::Public);
        assert_eq!(text.queue, None);
        assert_eq!(text.body, "Body");
        assert!(from_markdown("a", "title = 1")
            .unwrap_err()
            .contains("front matter"));
        assert!(from_markdown("a", "+++\ntitle = \"A\"\n")
            .unwrap_err()
            .contains("closing"));
        let unknown = from_markdown(
            "a",
            "+++\ntitle = \"A\"\nlanguage = \"en\"\nauthor = \"x\"\n+++\nB",
        )
        .unwrap_err();
        assert!(unknown.contains("author"), "{unknown}");
        let bad = from_markdown(
            "a",
            "+++\ntitle = \"A\"\nlanguage = \"en\"\nvisibility = \"secret\"\n+++\nB",
        )
        .unwrap_err();
        assert!(bad.contains("secret") || bad.contains("variant"), "{bad}");
    }

    #[test]
    fn articles_are_checked() {
        assert_eq!(check_article(&sample(), &languages()), Ok(()));
        let mut bad = sample();
        bad.language = "de".into();
        assert!(check_article(&bad, &languages())
            .unwrap_err()
            .contains("`de`"));
        let mut bad = sample();
        bad.title = "a\nb".into();
        assert!(check_article(&bad, &languages()).is_err());
        let mut bad = sample();
        bad.body = " \n".into();
        assert!(check_article(&bad, &languages())
            .unwrap_err()
            .contains("body"));
        let mut bad = sample();
        bad.slug = "Not A Slug".into();
        assert!(check_article(&bad, &languages())
            .unwrap_err()
            .contains("slug"));
        let mut bad = sample();
        bad.tags = vec!["a,b".into()];
        assert!(check_article(&bad, &languages()).is_err());
    }

    #[test]
    fn slugs_come_from_titles() {
        assert_eq!(
            slug_of("Imprimante bloquée : que faire ?", "fr"),
            "imprimante-bloquee-que-faire-fr"
        );
        assert_eq!(slug_of("???", "en"), "article-en");
        assert!(slug_of(&"long ".repeat(100), "it").len() <= MAX_SLUG_CHARS);
        assert!(check_slug(&slug_of(&"long ".repeat(100), "it")).is_ok());
    }

    #[test]
    fn ids_parse_the_ways_people_write_them() {
        for written in ["KB-12", "kb-12", "KB12", "#12", "12", " KB-12 "] {
            assert_eq!(written.parse::<ArticleId>(), Ok(ArticleId(12)), "{written}");
        }
        assert!("KB-0".parse::<ArticleId>().is_err());
        assert!("KB-x".parse::<ArticleId>().is_err());
        assert_eq!(ArticleId(7).to_string(), "KB-7");
    }

    #[test]
    fn state_changes() {
        use ArticleState::*;
        assert!(transition(Draft, Published).is_ok());
        assert!(transition(Published, Retired).is_ok());
        assert!(transition(Retired, Published).is_ok());
        assert!(transition(Published, Published)
            .unwrap_err()
            .contains("already"));
        assert!(transition(Published, Draft).is_err());
    }
}

//! The knowledge base by mail, the pure parts: what the store found for a mail
//! (`KnowledgeInput`), what a plan does to the knowledge base (`KnowledgeAction`), how a mail is
//! recognised as being about an article, who may publish, drafting an article from a resolved
//! ticket, and the texts articles travel in (suggestions in an acknowledgement, the agents' list
//! in a new-ticket notice, an article sent as an answer, a draft mailed to its editors).

use std::collections::BTreeMap;

use super::scrub::scrub;
use super::{slug_of, Article, ArticleId, ArticleState, ArticleText, ArticleVisibility};
use crate::core::address::{without_subaddress, Mailbox};
use crate::core::language::Language;
use crate::core::mail::InboundMail;
use crate::core::outgoing::{OutgoingKind, OutgoingMail};
use crate::core::people::{Agent, AgentRole};
use crate::core::plan::IntakePolicy;
use crate::core::templates::TemplateKind;
use crate::core::ticket::TicketNumber;

/// How an article is tied to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleLink {
    /// The ticket it was drafted from.
    Source,
    /// Offered in the ticket's acknowledgement.
    Suggested,
    /// Sent by an agent with `#answer`.
    Answered,
    /// The requester said it answered the question (`#solved`): the ticket was resolved by the
    /// knowledge base.
    Solved,
}

impl ArticleLink {
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleLink::Source => "source",
            ArticleLink::Suggested => "suggested",
            ArticleLink::Answered => "answered",
            ArticleLink::Solved => "solved",
        }
    }
}

/// An article as a mail's plan needs it: with who drafted it (they may publish it) and the
/// ticket it came from (where its audit events go).
#[derive(Debug, Clone, PartialEq)]
pub struct KnownArticle {
    pub article: Article,
    /// The agent's name, as stored when it was drafted (`import` for imported ones).
    pub drafted_by: String,
    pub source: Option<TicketNumber>,
}

/// An article the search found for the agents, with whether it was a confident match.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleMatch {
    pub article: Article,
    pub score: f64,
    pub confident: bool,
}

/// A resolved ticket like a new request, for the agents' notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTicket {
    pub number: TicketNumber,
    pub subject: String,
    pub resolution: String,
}

/// What the store found in the knowledge base for one mail; the pipeline looks it up before
/// the core decides, as it does for `#merge`'s tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeInput {
    /// For a new ticket: published public articles in its language that match confidently,
    /// best first (the core keeps those of the ticket's queue).
    pub suggestions: Vec<Article>,
    /// For a new ticket's notice: the best matches, internal ones included.
    pub matches: Vec<ArticleMatch>,
    /// For a new ticket's notice: resolved tickets like it.
    pub similar: Vec<ResolvedTicket>,
    /// Articles the mail's commands name, and those suggested or sent on its ticket.
    pub articles: Vec<KnownArticle>,
    /// Articles suggested to the mail's ticket, oldest first.
    pub suggested: Vec<ArticleId>,
    /// Articles sent on the mail's ticket with `#answer`, oldest first.
    pub answered: Vec<ArticleId>,
    /// The number a drafted article gets.
    pub next_article: ArticleId,
}

/// `KnowledgeInput::NONE` with a lifetime to lend.
pub static NO_KNOWLEDGE: KnowledgeInput = KnowledgeInput::NONE;

impl KnowledgeInput {
    /// Nothing found: for mail the knowledge base has nothing to do with, and tests.
    pub const NONE: KnowledgeInput = KnowledgeInput {
        suggestions: Vec::new(),
        matches: Vec::new(),
        similar: Vec::new(),
        articles: Vec::new(),
        suggested: Vec::new(),
        answered: Vec::new(),
        next_article: ArticleId(1),
    };

    pub fn article_of(&self, id: ArticleId) -> Option<&KnownArticle> {
        self.articles.iter().find(|known| known.article.id == id)
    }
}

/// What a plan does to the knowledge base; the store carries it out in the mail's transaction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum KnowledgeAction {
    /// A new article under the number `KnowledgeInput::next_article` gave.
    Create {
        id: ArticleId,
        #[serde(skip)]
        text: ArticleText,
        by: String,
        note: String,
        /// The ticket it was drafted from: linked `source`.
        source: Option<TicketNumber>,
    },
    /// The article's next version (same state).
    Revise {
        id: ArticleId,
        #[serde(skip)]
        text: ArticleText,
        by: String,
        note: String,
    },
    SetState {
        id: ArticleId,
        state: ArticleState,
        by: String,
    },
    Link {
        id: ArticleId,
        ticket: TicketNumber,
        link: ArticleLink,
    },
}

/// What a mail outside any ticket is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleRoute {
    /// A reply about an existing article: `[KB-12]` in the subject, or In-Reply-To one of our
    /// article mails.
    Article(ArticleId),
    /// A mail to the knowledge address: a new draft.
    NewDraft,
}

/// Whether a mail goes to the knowledge base rather than to a ticket. A ticket's tag in the
/// subject always wins: `#publish KB-12` on a ticket is a ticket's command.
pub fn article_route(mail: &InboundMail, policy: &IntakePolicy) -> Option<ArticleRoute> {
    if policy.tags.find(&mail.subject).is_some() {
        return None;
    }
    if let Some(id) = article_tag(&mail.subject) {
        return Some(ArticleRoute::Article(id));
    }
    if let Some(id) = mail
        .in_reply_to
        .iter()
        .find_map(|id| article_of_message_id(id, policy.support.domain()))
    {
        return Some(ArticleRoute::Article(id));
    }
    let address = policy.knowledge.address.as_deref()?;
    let address = without_subaddress(address);
    mail.to
        .iter()
        .chain(&mail.cc)
        .any(|m| without_subaddress(&m.address) == address)
        .then_some(ArticleRoute::NewDraft)
}

/// `[KB-12]` in a subject, as article mails carry it.
pub fn article_tag(subject: &str) -> Option<ArticleId> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inner = after[..close].trim();
        if inner.len() > 3 && inner[..3].eq_ignore_ascii_case("kb-") {
            if let Ok(id) = inner.parse::<ArticleId>() {
                return Some(id);
            }
        }
        rest = after;
    }
    None
}

/// The subject tag of an article: `[KB-12]`.
pub fn subject_tag(id: ArticleId) -> String {
    format!("[{id}]")
}

/// A Message-ID for a mail about an article, under our domain so that replies can find it.
pub fn article_message_id(id: ArticleId, kind: OutgoingKind, seed: &str, domain: &str) -> String {
    format!("guichet.kb-{}.{}.{seed}@{domain}", id.0, kind.as_str())
}

/// The article a Message-ID of ours names (`article_message_id`).
pub fn article_of_message_id(message_id: &str, domain: &str) -> Option<ArticleId> {
    let (local, at) = message_id.rsplit_once('@')?;
    if !at.eq_ignore_ascii_case(domain) {
        return None;
    }
    let rest = local.strip_prefix("guichet.kb-")?;
    let digits = rest.split('.').next()?;
    digits.parse::<u64>().ok().filter(|n| *n > 0).map(ArticleId)
}

/// Why `agent` may not publish, retire or rewrite `article`, or `None` when they may: the
/// knowledge editors (of its queue, or of every queue), admins, and whoever drafted it.
pub fn edit_refusal(policy: &IntakePolicy, agent: &Agent, known: &KnownArticle) -> Option<String> {
    let queue = known.article.text.queue.as_deref();
    let editor = policy.knowledge.is_editor(&agent.name, queue);
    let drafter = known.drafted_by.eq_ignore_ascii_case(&agent.name);
    match editor || drafter || agent.role == AgentRole::Admin {
        true => None,
        false => Some(format!(
            "only the knowledge editors{} and whoever drafted {} may publish, retire or rewrite it",
            match policy.knowledge.editors_of(queue.unwrap_or_default()) {
                names if names.is_empty() => String::new(),
                names => format!(" ({})", names.join(", ")),
            },
            known.article.id
        )),
    }
}

/// Who gets an article's draft or new version: the knowledge editors of its queue, then the
/// given agents (the ticket's assignee, the drafter), each once.
pub fn draft_recipients(
    policy: &IntakePolicy,
    queue: Option<&str>,
    also: &[&Agent],
) -> Vec<Mailbox> {
    let mut agents: Vec<&Agent> = policy
        .knowledge
        .editors_of(queue.unwrap_or_default())
        .into_iter()
        .filter_map(|name| policy.directory.agent_by_name(name))
        .collect();
    for agent in also {
        if !agents.iter().any(|known| known.name == agent.name) {
            agents.push(agent);
        }
    }
    agents
        .into_iter()
        .map(|agent| Mailbox::new(Some(&agent.display_name), agent.address()))
        .collect()
}

/// What an article is drafted from: a resolved ticket's question and resolution.
#[derive(Debug, Clone)]
pub struct TicketDraft<'a> {
    /// Given with `#kb TITLE`; else the ticket's subject.
    pub title: Option<&'a str>,
    pub subject: &'a str,
    pub internal: bool,
    /// The first message's visible text.
    pub question: &'a str,
    pub resolution: &'a str,
    pub language: Language,
    pub queue: &'a str,
    /// Participants' and agents' names, scrubbed out with addresses and phone numbers.
    pub names: &'a [&'a str],
}

/// The article a resolved ticket becomes: the question and the solution under headings in the
/// ticket's language, personal data scrubbed, in the ticket's queue.
pub fn draft_from_ticket(draft: &TicketDraft<'_>) -> ArticleText {
    let (question, solution) = match draft.language {
        Language::En => ("Question", "Solution"),
        Language::Fr => ("Question", "Solution"),
        Language::It => ("Domanda", "Soluzione"),
    };
    let title = scrub(draft.title.unwrap_or(draft.subject).trim(), draft.names);
    let title: String = title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(super::MAX_TITLE_CHARS)
        .collect();
    let body = format!(
        "**{question}**\n\n{}\n\n**{solution}**\n\n{}",
        scrub(draft.question.trim(), draft.names),
        scrub(draft.resolution.trim(), draft.names)
    );
    let language = draft.language.code();
    ArticleText {
        slug: slug_of(&title, language),
        title,
        body,
        language: language.to_string(),
        tags: Vec::new(),
        queue: Some(draft.queue.to_string()),
        visibility: match draft.internal {
            true => ArticleVisibility::Internal,
            false => ArticleVisibility::Public,
        },
    }
}

/// An editor's reply as the article's next version: a first line `Title: …` (or `Titre :`,
/// `Titolo:`) changes the title, the rest is the body. `None` when nothing is left.
pub fn revised_text(current: &ArticleText, visible: &str) -> Option<ArticleText> {
    let visible = visible.trim();
    let (first, rest) = visible.split_once('\n').unwrap_or((visible, ""));
    let title = ["title:", "titre :", "titre:", "titolo:"]
        .iter()
        .find_map(|label| {
            first
                .get(..label.len())
                .filter(|head| head.eq_ignore_ascii_case(label))
                .map(|_| first[label.len()..].trim().to_string())
        })
        .filter(|title| !title.is_empty());
    let body = match title {
        Some(_) => rest.trim(),
        None => visible,
    };
    if body.is_empty() && title.is_none() {
        return None;
    }
    let mut next = current.clone();
    if let Some(title) = title {
        next.title = title;
    }
    if !body.is_empty() {
        next.body = body.to_string();
    }
    Some(next)
}

/// Why a reply's text is not taken as the article's next body: much shorter than the article
/// ("Thanks!", "OK, looks good"), it is a remark, not a corrected text.
pub fn revision_refusal(current: &ArticleText, next: &ArticleText) -> Option<String> {
    let (old, new) = (current.body.chars().count(), next.body.chars().count());
    (next.body != current.body && new * 3 < old).then(|| {
        format!(
            "it is much shorter than the article ({new} of {old} characters): to replace the \
             text, send it whole; to change only the title, write just `Title: …`"
        )
    })
}

/// Where an article is read on the web, when the config has a link.
pub fn article_link(link: &str, article: &Article) -> String {
    link.replace("{slug}", &article.text.slug)
        .replace("{id}", &article.id.0.to_string())
}

/// An article as mailed to a requester: its title, then its text or its link.
pub fn article_block(article: &Article, link: Option<&str>) -> String {
    let content = match link {
        Some(link) => article_link(link, article),
        None => article.text.body.trim().to_string(),
    };
    format!("[{}] {}\n\n{content}\n", article.id, article.text.title)
}

/// The part of an acknowledgement that offers articles, in the requester's language; empty
/// when there is none, so that the acknowledgement reads as it always did.
pub fn suggestions_text(articles: &[&Article], language: Language, link: Option<&str>) -> String {
    if articles.is_empty() {
        return String::new();
    }
    let (intro, solved, which) = match language {
        Language::En => (
            "These articles may already answer your question:",
            "If one of these answers your question, reply with #solved.",
            "Name the one that did, e.g.",
        ),
        Language::Fr => (
            "Ces articles répondent peut-être déjà à votre question :",
            "Si l'un d'eux répond à votre question, répondez avec #solved.",
            "Précisez lequel, par exemple",
        ),
        Language::It => (
            "Questi articoli potrebbero già rispondere alla sua domanda:",
            "Se uno di questi risponde alla sua domanda, risponda con #solved.",
            "Indichi quale, per esempio",
        ),
    };
    let blocks: Vec<String> = articles
        .iter()
        .map(|article| article_block(article, link))
        .collect();
    let mut text = format!("\n{intro}\n\n{}\n{solved}", blocks.join("\n"));
    if articles.len() > 1 {
        text.push_str(&format!(" {which} #solved {}.", articles[0].id));
    }
    text.push('\n');
    text
}

/// The part of a new-ticket notice that shows agents what the knowledge base knows: matching
/// articles (internal ones marked) and similar resolved tickets, one line each.
pub fn agents_text(
    matches: &[&ArticleMatch],
    similar: &[ResolvedTicket],
    language: Language,
) -> String {
    let (articles_title, tickets_title, internal, draft_hint) = match language {
        Language::En => (
            "Knowledge base articles that may answer it:",
            "Similar resolved tickets:",
            "internal",
            "send one with #answer KB-n",
        ),
        Language::Fr => (
            "Articles de la base de connaissances qui y répondent peut-être :",
            "Tickets résolus semblables :",
            "interne",
            "envoyez-en un avec #answer KB-n",
        ),
        Language::It => (
            "Articoli della base di conoscenza che potrebbero rispondere:",
            "Ticket risolti simili:",
            "interno",
            "inviarne uno con #answer KB-n",
        ),
    };
    let mut text = String::new();
    if !matches.is_empty() {
        text.push_str(&format!("\n{articles_title} ({draft_hint})\n"));
        for found in matches {
            let mark = match found.article.text.visibility {
                ArticleVisibility::Internal => format!(" ({internal})"),
                ArticleVisibility::Public => String::new(),
            };
            text.push_str(&format!(
                "  [{}] {}{mark} (score {:.1}{})\n",
                found.article.id,
                found.article.text.title,
                found.score,
                if found.confident { ", confident" } else { "" }
            ));
        }
    }
    if !similar.is_empty() {
        text.push_str(&format!("\n{tickets_title}\n"));
        for ticket in similar {
            text.push_str(&format!(
                "  #{} {} — {}\n",
                ticket.number,
                one_line(&ticket.subject, 80),
                one_line(&ticket.resolution, 160)
            ));
        }
    }
    text
}

/// A text on one line, cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.chars().count() > max {
        true => format!("{}…", line.chars().take(max).collect::<String>()),
        false => line,
    }
}

/// The mail that shows editors an article's draft or new version and how to act on it.
pub fn draft_mail(
    policy: &IntakePolicy,
    id: ArticleId,
    text: &ArticleText,
    intro: String,
    to: Vec<Mailbox>,
    seed: &str,
) -> Option<OutgoingMail> {
    if to.is_empty() {
        return None;
    }
    let language = policy.language;
    let values: BTreeMap<&str, String> = [
        ("article", id.to_string()),
        ("article_tag", subject_tag(id)),
        ("title", text.title.clone()),
        ("intro", intro),
        ("language", text.language.clone()),
        (
            "queue",
            text.queue.clone().unwrap_or_else(|| "all".to_string()),
        ),
        ("visibility", text.visibility.as_str().to_string()),
        ("text", text.body.clone()),
    ]
    .into_iter()
    .collect();
    let rendered = policy
        .templates
        .get(TemplateKind::ArticleDraft, language)
        .render(&values);
    Some(OutgoingMail::about_article(
        &policy.support,
        OutgoingKind::ArticleDraft,
        id,
        to,
        rendered,
        seed,
        language,
    ))
}

#[cfg(test)]
mod tests;

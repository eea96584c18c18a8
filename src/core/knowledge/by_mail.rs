//! A mail about the knowledge base rather than a ticket: to the knowledge address (a new draft),
//! or a reply to an article's mail (`#publish`, `#retire`, or a corrected text that becomes the
//! next version). Only agents act here, authenticated as for ticket commands; anyone else's mail
//! is quarantined, so nothing of it is published and no stranger gets an automatic reply.

use std::collections::BTreeMap;

use super::mail::{
    draft_mail, draft_recipients, edit_refusal, revised_text, revision_refusal, subject_tag,
    ArticleRoute, KnowledgeAction, KnownArticle,
};
use super::{check_article, slug_of, transition, ArticleId, ArticleState, ArticleText};
use crate::core::address::Mailbox;
use crate::core::commands::{parse_commands, Command, CHEAT_SHEET};
use crate::core::forward::visible_with_forward;
use crate::core::intake::requester_of;
use crate::core::language::guess_language;
use crate::core::loops::{AutoReplyVerdict, Suppression};
use crate::core::mail::InboundMail;
use crate::core::outgoing::{OutgoingKind, OutgoingMail};
use crate::core::people::{sender_is_trusted, Agent};
use crate::core::plan::{EventDraft, EventKind, IntakePolicy};
use crate::core::templates::TemplateKind;
use crate::core::ticket::TicketNumber;

/// What the store found for a mail about the knowledge base.
#[derive(Debug, Clone)]
pub struct ArticleMailInput<'a> {
    pub mail: &'a InboundMail,
    pub route: ArticleRoute,
    /// The article the route names, if the store has it.
    pub article: Option<&'a KnownArticle>,
    /// The number a new draft gets.
    pub next_article: ArticleId,
    /// Automatic replies sent to the sender in the last hour.
    pub auto_replies_last_hour: u32,
    pub id_seed: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArticleMailPlan {
    /// Not an agent's: kept in the quarantine with the reason, nothing drafted or changed.
    Quarantine(String),
    Apply(ArticlePlan),
}

/// What an agent's mail about the knowledge base does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticlePlan {
    pub article: Option<ArticleId>,
    /// The ticket the article was drafted from: its audit trail gets the events.
    pub ticket: Option<TicketNumber>,
    pub actions: Vec<KnowledgeAction>,
    pub events: Vec<EventDraft>,
    pub outgoing: Vec<OutgoingMail>,
    /// What is stored as the mail's text.
    pub stored_text: String,
}

struct Draft<'a> {
    policy: &'a IntakePolicy,
    input: &'a ArticleMailInput<'a>,
    agent: &'a Agent,
    actor: String,
    plan: ArticlePlan,
}

impl Draft<'_> {
    fn event(&mut self, kind: EventKind, detail: String) {
        self.plan.events.push(EventDraft {
            kind,
            actor: self.actor.clone(),
            detail,
        });
    }

    fn mailbox(&self) -> Mailbox {
        Mailbox::new(Some(&self.agent.display_name), self.agent.address())
    }

    /// Tells the agent why nothing was done, on the thread of their mail.
    fn refuse(&mut self, refused: &[(String, String)], trusted: bool) {
        for (line, reason) in refused {
            self.event(EventKind::CommandRefused, format!("{line}: {reason}"));
        }
        if !trusted {
            self.event(
                EventKind::AutoReplySuppressed,
                "no command reply: the From could not be authenticated, so the refusal goes to no one"
                    .into(),
            );
            return;
        }
        let mut problems = String::from("Nothing in your mail was applied:\n\n");
        for (line, reason) in refused {
            problems.push_str(&format!("  > {line}\n    {reason}\n"));
        }
        let (tag, topic) = match self.input.article {
            Some(known) => (
                subject_tag(known.article.id),
                known.article.text.title.clone(),
            ),
            None => (
                String::new(),
                self.policy.tags.topic(&self.input.mail.subject),
            ),
        };
        let values: BTreeMap<&str, String> = [
            ("tag", tag),
            ("topic", topic),
            ("problems", problems),
            ("cheat_sheet", CHEAT_SHEET.to_string()),
        ]
        .into_iter()
        .collect();
        let language = self.agent.language.unwrap_or(self.policy.language);
        let rendered = self
            .policy
            .templates
            .get(TemplateKind::CommandReply, language)
            .render(&values);
        let id = self.plan.article.unwrap_or(self.input.next_article);
        let mut reply = OutgoingMail::about_article(
            &self.policy.support,
            OutgoingKind::CommandReply,
            id,
            vec![self.mailbox()],
            (rendered.0.trim().to_string(), rendered.1),
            self.input.id_seed,
            language,
        );
        reply.reply_to = None;
        reply.answer_to(self.input.mail);
        self.plan.outgoing.push(reply);
    }

    fn mail_to_editors(&mut self, id: ArticleId, text: &ArticleText, intro: String) {
        let to = draft_recipients(self.policy, text.queue.as_deref(), &[self.agent]);
        let seed = format!("{}.{}", self.input.id_seed, self.plan.outgoing.len());
        if let Some(mail) = draft_mail(self.policy, id, text, intro, to, &seed) {
            let names: Vec<&str> = mail.to.iter().map(|m| m.address.as_str()).collect();
            let detail = format!("{id} mailed to {}", names.join(", "));
            self.plan.outgoing.push(mail);
            self.event(EventKind::NoticeQueued, detail);
        }
    }
}

/// Plans an agent's mail about the knowledge base; anyone else's goes to the quarantine.
pub fn plan_article_mail(policy: &IntakePolicy, input: &ArticleMailInput<'_>) -> ArticleMailPlan {
    let mail = input.mail;
    let Some(from) = requester_of(mail) else {
        return ArticleMailPlan::Quarantine(
            "a mail about the knowledge base without a sender".into(),
        );
    };
    let Some(agent) = policy.directory.agent_by_address(&from.address) else {
        return ArticleMailPlan::Quarantine(format!(
            "a mail about the knowledge base from {}, who is not an agent: nothing drafted, published or changed",
            from.address
        ));
    };
    let known = match input.route {
        ArticleRoute::Article(_) => input.article,
        ArticleRoute::NewDraft => None,
    };
    let mut work = Draft {
        policy,
        input,
        agent,
        actor: from.address.clone(),
        plan: ArticlePlan {
            article: match input.route {
                ArticleRoute::Article(id) => Some(id),
                ArticleRoute::NewDraft => None,
            },
            ticket: known.and_then(|k| k.source),
            actions: Vec::new(),
            events: Vec::new(),
            outgoing: Vec::new(),
            stored_text: String::new(),
        },
    };
    let automatic = matches!(
        policy.loops.verdict(mail, input.auto_replies_last_hour),
        AutoReplyVerdict::Suppressed(ref reason) if !matches!(reason, Suppression::RateLimited { .. })
    );
    let parsed = parse_commands(&mail.subject, &mail.text, &policy.vocabulary);
    let visible = visible_with_forward(&parsed.text, &mail.subject).text;
    work.plan.stored_text = visible.clone();
    if automatic {
        work.event(
            EventKind::AutoReplySuppressed,
            "automatic mail from an agent about the knowledge base: nothing changed".into(),
        );
        return ArticleMailPlan::Apply(work.plan);
    }
    let token = parsed.commands.iter().find_map(|line| match &line.command {
        Command::Token(word) => Some(word.as_str()),
        _ => None,
    });
    let trusted = sender_is_trusted(
        &policy.trust,
        &from.address,
        &mail.auth_results,
        token,
        Some(agent),
    );
    let mut refused: Vec<(String, String)> = parsed
        .errors
        .iter()
        .map(|e| (e.line.clone(), format!("{}; {}", e.reason, e.hint)))
        .collect();
    let acting: Vec<_> = parsed
        .commands
        .iter()
        .filter(|l| !matches!(l.command, Command::Token(_)))
        .collect();
    if !trusted {
        let first = visible.lines().next().unwrap_or("(your mail)").to_string();
        let lines: Vec<String> = match acting.is_empty() {
            true => vec![first],
            false => acting.iter().map(|l| l.line.clone()).collect(),
        };
        for line in lines {
            refused.push((line, "your mail could not be authenticated".into()));
        }
        work.refuse(&refused, false);
        return ArticleMailPlan::Apply(work.plan);
    }
    match (input.route, known) {
        (ArticleRoute::NewDraft, _) => new_draft(&mut work, &acting, &visible, refused),
        (ArticleRoute::Article(id), None) => {
            refused.push((mail.subject.clone(), format!("there is no article {id}")));
            work.refuse(&refused, true);
        }
        (ArticleRoute::Article(_), Some(known)) => {
            on_article(&mut work, known, &acting, &visible, refused)
        }
    }
    ArticleMailPlan::Apply(work.plan)
}

/// A mail to the knowledge address: subject as title, text as body, language guessed.
fn new_draft(
    work: &mut Draft<'_>,
    acting: &[&crate::core::commands::CommandLine],
    visible: &str,
    mut refused: Vec<(String, String)>,
) {
    let policy = work.policy;
    let mut internal = false;
    let mut title = policy.tags.topic(&work.input.mail.subject);
    for line in acting {
        match &line.command {
            Command::Kb { internal: i, title: t } => {
                internal = *i;
                if let Some(t) = t {
                    title = t.clone();
                }
            }
            _ => refused.push((
                line.line.clone(),
                "a mail to the knowledge address drafts an article: only #kb [internal] [title] and #token work here".into(),
            )),
        }
    }
    let language = knowledge_language(policy, &format!("{title}\n{visible}"));
    let id = work.input.next_article;
    let text = ArticleText {
        slug: slug_of(&title, &language),
        title: title.trim().to_string(),
        body: visible.trim().to_string(),
        language,
        tags: Vec::new(),
        queue: None,
        visibility: match internal {
            true => super::ArticleVisibility::Internal,
            false => super::ArticleVisibility::Public,
        },
    };
    if let Err(reason) = check_article(&text, &policy.knowledge.languages) {
        refused.push((title.clone(), format!("no article drafted: {reason}")));
    }
    if !refused.is_empty() {
        work.refuse(&refused, true);
        return;
    }
    work.plan.article = Some(id);
    work.plan.actions.push(KnowledgeAction::Create {
        id,
        text: text.clone(),
        by: work.agent.name.clone(),
        note: "drafted by mail to the knowledge address".into(),
        source: None,
    });
    work.event(
        EventKind::ArticleDrafted,
        format!(
            "{id} \"{}\" drafted by {} by mail",
            text.title, work.agent.name
        ),
    );
    let intro = format!(
        "{} drafted {id} by mail to the knowledge address.",
        work.agent.display_name
    );
    work.mail_to_editors(id, &text, intro);
}

/// The knowledge base's language for a text: the guess when the knowledge base has it, else
/// the helpdesk's language when it has that, else its first.
pub fn knowledge_language(policy: &IntakePolicy, text: &str) -> String {
    let languages = &policy.knowledge.languages;
    let has = |code: &str| languages.iter().any(|l| l == code);
    guess_language(text)
        .map(|l| l.code())
        .filter(|code| has(code))
        .or_else(|| Some(policy.language.code()).filter(|code| has(code)))
        .map(str::to_string)
        .unwrap_or_else(|| languages.first().cloned().unwrap_or_else(|| "en".into()))
}

/// A reply about an existing article: commands, else a corrected text.
fn on_article(
    work: &mut Draft<'_>,
    known: &KnownArticle,
    acting: &[&crate::core::commands::CommandLine],
    visible: &str,
    mut refused: Vec<(String, String)>,
) {
    let id = known.article.id;
    let mut state = known.article.state;
    let mut changes = Vec::new();
    for line in acting {
        let (to, named) = match &line.command {
            Command::Publish(named) => (ArticleState::Published, *named),
            Command::Retire(named) => (ArticleState::Retired, *named),
            _ => {
                refused.push((
                    line.line.clone(),
                    format!("on {id}'s mail only #publish, #retire or a corrected text work"),
                ));
                continue;
            }
        };
        if named.is_some_and(|named| named != id) {
            refused.push((
                line.line.clone(),
                format!("this mail is about {id}; name another article on a ticket's mail"),
            ));
            continue;
        }
        if let Some(reason) = edit_refusal(work.policy, work.agent, known) {
            refused.push((line.line.clone(), reason));
            continue;
        }
        match transition(state, to) {
            Ok(()) => {
                state = to;
                changes.push(to);
            }
            Err(reason) => refused.push((line.line.clone(), format!("{id}: {reason}"))),
        }
    }
    // Without a command, the reply's text is the next version.
    let revision = match acting.is_empty() {
        true => revised_text(&known.article.text, visible).filter(|t| *t != known.article.text),
        false => None,
    };
    if let Some(text) = &revision {
        match edit_refusal(work.policy, work.agent, known) {
            Some(reason) => refused.push((first_line(visible), reason)),
            None => {
                let checked = match revision_refusal(&known.article.text, text) {
                    Some(reason) => Err(reason),
                    None => check_article(text, &work.policy.knowledge.languages),
                };
                if let Err(reason) = checked {
                    refused.push((
                        first_line(visible),
                        format!("not kept as {id}'s next version: {reason}"),
                    ));
                }
            }
        }
    }
    if !refused.is_empty() {
        work.refuse(&refused, true);
        return;
    }
    let by = work.agent.name.clone();
    for to in changes {
        work.plan.actions.push(KnowledgeAction::SetState {
            id,
            state: to,
            by: by.clone(),
        });
        let kind = match to {
            ArticleState::Published => EventKind::ArticlePublished,
            _ => EventKind::ArticleRetired,
        };
        work.event(kind, format!("{id} {} by {by}", to.as_str()));
    }
    match revision {
        Some(text) => {
            let version = known.article.version + 1;
            work.plan.actions.push(KnowledgeAction::Revise {
                id,
                text: text.clone(),
                by: by.clone(),
                note: "corrected by mail".into(),
            });
            work.event(
                EventKind::ArticleRevised,
                format!("{id} version {version} by {by}"),
            );
            let intro = format!(
                "{} wrote version {version} of {id} ({}).",
                work.agent.display_name,
                known.article.state.as_str()
            );
            work.mail_to_editors(id, &text, intro);
        }
        None if acting.is_empty() => work.event(
            EventKind::Note,
            format!("a reply about {id} with nothing to change"),
        ),
        None => {}
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("(your reply)").to_string()
}

#[cfg(test)]
mod tests;

//! The knowledge base's commands on a ticket: an agent's `#answer KB-n`, `#reply NAME`,
//! `#kb [internal] [title]`, `#publish KB-n` and `#retire KB-n`; the requester's `#solved`.

use super::*;
use crate::core::knowledge::mail::{
    article_block, draft_from_ticket, draft_mail, draft_recipients, edit_refusal, ArticleLink,
    KnowledgeAction, KnownArticle, TicketDraft,
};
use crate::core::knowledge::{transition, ArticleId, ArticleState, ArticleVisibility};
use crate::core::replies::{self, ReplyContext};

fn known<'a>(work: &Work<'a>, id: ArticleId) -> Result<&'a KnownArticle, (String, String)> {
    work.input
        .knowledge
        .article_of(id)
        .ok_or_else(|| (format!("there is no article {id}"), String::new()))
}

/// Whether an agent's knowledge command can be carried out on the ticket as the mail's earlier
/// commands left it (`#resolve TEXT` above `#kb` counts).
pub(super) fn check(
    work: &Work<'_>,
    agent: &Agent,
    command: &Command,
    state: &State,
) -> Result<(), (String, String)> {
    match command {
        Command::Answer(id) => {
            let article = &known(work, *id)?.article;
            if article.state != ArticleState::Published {
                return Err((
                    format!(
                        "{id} is {}: only published articles are sent",
                        article.state.as_str()
                    ),
                    format!("a knowledge editor publishes it with #publish {id}"),
                ));
            }
            if article.text.visibility == ArticleVisibility::Internal {
                return Err((
                    format!("{id} is internal: it is for agents and never mailed to requesters"),
                    "write the answer in your own words, or ask an editor for a public article"
                        .into(),
                ));
            }
        }
        Command::Reply(name) if replies::find(&work.policy.replies, name).is_none() => {
            return Err((
                format!("there is no saved reply called {name}"),
                format!("saved replies: {}", replies::names(&work.policy.replies)),
            ));
        }
        Command::Kb { .. } => {
            if !state.status.is_done() {
                return Err((
                    format!(
                        "#kb drafts from a resolved ticket, and this one is {}",
                        state.status
                    ),
                    "write #resolve WHAT SOLVED IT above #kb".into(),
                ));
            }
            if state
                .resolution
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
            {
                return Err((
                    "the ticket has no resolution text to draft from".into(),
                    "write #resolve WHAT SOLVED IT above #kb".into(),
                ));
            }
            if question(work.view).is_none() {
                return Err((
                    "the ticket has no question to draft from".into(),
                    String::new(),
                ));
            }
        }
        Command::Publish(named) | Command::Retire(named) => {
            let Some(id) = named else {
                return Err((
                    format!(
                        "on a ticket's mail, #{} names its article",
                        command.keyword()
                    ),
                    format!(
                        "e.g. #{} KB-12, or reply to the article's own mail",
                        command.keyword()
                    ),
                ));
            };
            let known = known(work, *id)?;
            if let Some(reason) = edit_refusal(work.policy, agent, known) {
                return Err((reason, String::new()));
            }
            transition(known.article.state, target_state(command))
                .map_err(|reason| (format!("{id}: {reason}"), String::new()))?;
        }
        _ => {}
    }
    Ok(())
}

fn target_state(command: &Command) -> ArticleState {
    match command {
        Command::Retire(_) => ArticleState::Retired,
        _ => ArticleState::Published,
    }
}

/// The requester's question: the ticket's first public message.
fn question(view: &TicketView) -> Option<&str> {
    view.history
        .iter()
        .find(|entry| entry.visibility == Visibility::Public)
        .map(|entry| entry.text.as_str())
        .filter(|text| !text.trim().is_empty())
}

/// Carries out an agent's knowledge command, checked.
pub(super) fn apply(work: &mut Work<'_>, agent: &Agent, command: &Command, state: &State) {
    let number = work.view.number;
    match command {
        Command::Answer(id) => {
            let article = &work
                .input
                .knowledge
                .article_of(*id)
                .expect("checked")
                .article;
            work.answers.push(article_block(
                article,
                work.policy.knowledge.link.as_deref(),
            ));
            work.knowledge.push(KnowledgeAction::Link {
                id: *id,
                ticket: number,
                link: ArticleLink::Answered,
            });
            let detail = format!(
                "{id} \"{}\" sent to the requester by {}",
                article.text.title, agent.name
            );
            work.event(EventKind::ArticleAnswered, detail);
        }
        Command::Reply(name) => {
            let reply = replies::find(&work.policy.replies, name).expect("checked");
            let view = work.view;
            let tag = work.policy.tags.tag(number);
            let context = ReplyContext {
                requester_name: view.requester.name.as_deref().unwrap_or(""),
                ticket: &tag,
                number: &number.to_string(),
                topic: &view.subject,
                agent_name: &agent.display_name,
            };
            work.answers.push(reply.render(view.language, &context));
            let detail = format!(
                "saved reply {} sent to the requester by {}",
                reply.name, agent.name
            );
            work.event(EventKind::SavedReplySent, detail);
        }
        Command::Kb { internal, title } => draft(work, agent, *internal, title.as_deref(), state),
        Command::Publish(Some(id)) | Command::Retire(Some(id)) => {
            let to = target_state(command);
            work.knowledge.push(KnowledgeAction::SetState {
                id: *id,
                state: to,
                by: agent.name.clone(),
            });
            let kind = match to {
                ArticleState::Published => EventKind::ArticlePublished,
                _ => EventKind::ArticleRetired,
            };
            work.event(kind, format!("{id} {} by {}", to.as_str(), agent.name));
        }
        _ => {}
    }
}

/// `#kb`: the question and the resolution, scrubbed, as a draft in the ticket's language and
/// queue, linked to the ticket and mailed to the knowledge editors, the assignee and the agent.
fn draft(work: &mut Work<'_>, agent: &Agent, internal: bool, title: Option<&str>, state: &State) {
    let view = work.view;
    let directory = &work.policy.directory;
    let assignee = state
        .assignee
        .as_deref()
        .and_then(|name| directory.agent_by_name(name));
    let mut names: Vec<&str> = view
        .requester
        .name
        .iter()
        .chain(state.cc.iter().filter_map(|m| m.name.as_ref()))
        .map(String::as_str)
        .collect();
    names.push(&agent.display_name);
    if let Some(assignee) = assignee {
        names.push(&assignee.display_name);
    }
    let text = draft_from_ticket(&TicketDraft {
        title,
        subject: &view.subject,
        internal,
        question: question(view).unwrap_or_default(),
        resolution: state.resolution.as_deref().unwrap_or_default(),
        language: view.language,
        queue: &state.queue,
        names: &names,
    });
    let id = work.input.knowledge.next_article;
    work.knowledge.push(KnowledgeAction::Create {
        id,
        text: text.clone(),
        by: agent.name.clone(),
        note: format!("drafted from ticket #{}", view.number),
        source: Some(view.number),
    });
    work.event(
        EventKind::ArticleDrafted,
        format!(
            "{id} \"{}\" drafted from this ticket by {}",
            text.title, agent.name
        ),
    );
    let mut also = vec![agent];
    also.extend(assignee);
    let to = draft_recipients(work.policy, text.queue.as_deref(), &also);
    let intro = format!(
        "{} drafted {id} from ticket #{}. It is a draft: nobody reads it until it is published.",
        agent.display_name, view.number
    );
    let seed = format!("{}.{}", work.input.id_seed, work.outgoing.len());
    if let Some(mail) = draft_mail(work.policy, id, &text, intro, to, &seed) {
        let names: Vec<&str> = mail.to.iter().map(|m| m.address.as_str()).collect();
        let detail = format!("draft {id} mailed to {}", names.join(", "));
        work.outgoing.push(mail);
        work.event(EventKind::NoticeQueued, detail);
    }
}

/// The article the requester's `#solved` counts: the one named, if it was suggested or sent on
/// the ticket; else the first suggested (or sent).
pub(super) fn solved_article(
    work: &Work<'_>,
    named: Option<ArticleId>,
) -> Result<ArticleId, String> {
    let knowledge = work.input.knowledge;
    let offered: Vec<ArticleId> = knowledge
        .suggested
        .iter()
        .chain(&knowledge.answered)
        .copied()
        .collect();
    match named {
        Some(id) if offered.contains(&id) => Ok(id),
        Some(id) => Err(format!("{id} was not suggested on this ticket")),
        None => offered
            .first()
            .copied()
            .ok_or_else(|| "no article was suggested on this ticket".to_string()),
    }
}

/// `#solved`: the ticket is resolved by the knowledge base, and the article counted useful.
pub(super) fn solved(work: &mut Work<'_>, state: &mut State, id: ArticleId) {
    let title = work
        .input
        .knowledge
        .article_of(id)
        .map_or(String::new(), |known| {
            format!(" \"{}\"", known.article.text.title)
        });
    let resolution =
        format!("Answered by the knowledge base: {id}{title} (the requester replied #solved)");
    set_status(work, state, Status::Resolved);
    state.resolution = Some(resolution.clone());
    work.updates.push(TicketUpdate::Resolution(resolution));
    work.knowledge.push(KnowledgeAction::Link {
        id,
        ticket: work.view.number,
        link: ArticleLink::Solved,
    });
    work.event(
        EventKind::SolvedByArticle,
        format!("resolved by the knowledge base: {id}{title} answered the requester"),
    );
}

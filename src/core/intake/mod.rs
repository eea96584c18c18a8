//! The intake decision: given a parsed mail, what the store already knows and the time, what to
//! change and what to send. Pure: the pipeline carries the plan out in one transaction.

use std::collections::BTreeMap;

use super::address::{without_subaddress, Mailbox};
use super::attachments::{self, carry, with_attached_mails};
use super::commands::CHEAT_SHEET;
use super::knowledge::mail::{
    agents_text, suggestions_text, ArticleLink, ArticleMatch, KnowledgeAction,
};
use super::knowledge::{Article, ArticleState, ArticleVisibility};
use super::language::Language;
use super::loops::AutoReplyVerdict;
use super::mail::InboundMail;
use super::outgoing::{OutgoingKind, OutgoingMail};
use super::people::choose_assignee;
use super::plan::*;
use super::sla::{advance, SlaEvent, SlaState};
use super::templates::TemplateKind;
use super::threading::ThreadDecision;
use super::ticket::{Level, Priority, Status, TicketNumber};
use super::visibility::Visibility;

const DAEMON: &str = "guichet";

/// Who wrote the mail: From, else Sender, else the envelope's Return-Path. Reply-To is never an
/// identity: anyone can name anyone there (see `answer_address`).
pub fn requester_of(mail: &InboundMail) -> Option<Mailbox> {
    mail.from
        .as_ref()
        .or(mail.sender.as_ref())
        .cloned()
        .or_else(|| {
            let path = mail.loop_signals.return_path.as_deref()?;
            Mailbox::parse(None, path).ok()
        })
}

/// Where an automatic answer to this mail goes: Reply-To when given, else whoever wrote it.
pub fn answer_address(mail: &InboundMail) -> Option<Mailbox> {
    mail.reply_to.clone().or_else(|| requester_of(mail))
}

pub fn decide_intake(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
) -> Result<IntakePlan, Unticketable> {
    let mail = input.mail;
    let requester = requester_of(mail).ok_or(Unticketable::NoSender)?;
    let auto_reply = policy.loops.verdict(mail, input.auto_replies_last_hour);
    match input.thread {
        ThreadDecision::New { .. } => Ok(plan_new_ticket(policy, input, requester, auto_reply)),
        ThreadDecision::Existing { ticket, .. } => {
            let view = input
                .ticket
                .filter(|view| view.number == *ticket)
                .ok_or(Unticketable::MissingTicket(*ticket))?;
            Ok(super::followup::plan(
                policy, input, view, requester, auto_reply,
            ))
        }
    }
}

fn plan_new_ticket(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
    requester: Mailbox,
    auto_reply: AutoReplyVerdict,
) -> IntakePlan {
    let mail = input.mail;
    let number = input.next_number;
    let language = choose_language(policy, mail);
    // A forward opens the ticket with the forwarded mail as the request, under its subject.
    let visible = mail.visible();
    let forwarded_subject = visible
        .forwarded
        .as_ref()
        .and_then(|f| f.subject.as_deref());
    let mut topic = policy
        .tags
        .topic(forwarded_subject.unwrap_or(&mail.subject));
    if topic.is_empty() {
        topic = policy.tags.topic(&mail.subject);
    }
    if topic.is_empty() {
        topic = "(no subject)".to_string();
    }
    let mut new_participants = vec![(requester.clone(), Role::Requester)];
    for mailbox in mail.to.iter().chain(mail.cc.iter()) {
        let is_us = policy
            .loops
            .own_addresses
            .iter()
            .any(|own| without_subaddress(own) == without_subaddress(&mailbox.address));
        let known = new_participants
            .iter()
            .any(|(known, _)| known.address == mailbox.address);
        if !is_us && !known {
            new_participants.push((mailbox.clone(), Role::Cc));
        }
    }
    // A first mail with nothing but quoted text (a request pasted as a quote) is still the
    // request: only on an existing ticket does an empty visible text mean "nothing new".
    let stored_text = match &visible.text {
        visible if visible.is_empty() => mail.text.trim().to_string(),
        visible => visible.clone(),
    };
    let stored_text = with_attached_mails(stored_text, mail);
    let mut routing = route_new_ticket(policy, input, &stored_text);
    let spam = policy.loops.spam.marked_by(&mail.headers);
    if spam.is_some() {
        // Nobody is told about held spam: no assignment, no notice (they come with #release).
        routing.assignee = None;
        routing.notify.clear();
    }
    let queue = routing.queue.clone();
    let actor = requester.address.clone();
    let mut events = vec![EventDraft {
        kind: EventKind::Created,
        actor: actor.clone(),
        detail: format!("ticket #{number} opened in queue {queue} from {requester}"),
    }];
    for rule in &routing.matched {
        events.push(EventDraft {
            kind: EventKind::Routed,
            actor: DAEMON.into(),
            detail: format!("rule {rule} matched"),
        });
    }
    for (name, value) in &routing.fields {
        events.push(EventDraft {
            kind: EventKind::FieldSet,
            actor: DAEMON.into(),
            detail: format!("{name} = {value}"),
        });
    }
    // Level 1: published public articles of the ticket's queue (or of all) that match well.
    let suggested: Vec<&Article> = match policy.knowledge.suggest && spam.is_none() {
        true => input
            .knowledge
            .suggestions
            .iter()
            .filter(|article| {
                article.text.language == language.code()
                    && article.text.visibility == ArticleVisibility::Public
                    && article.state == ArticleState::Published
                    && article.text.queue.as_deref().is_none_or(|q| q == queue)
            })
            .take(MAX_SUGGESTIONS)
            .collect(),
        false => Vec::new(),
    };
    let mut knowledge = Vec::new();
    let mut outgoing = Vec::new();
    match (
        &auto_reply,
        policy.acknowledge_new_tickets && !routing.no_acknowledgement,
    ) {
        (AutoReplyVerdict::Allowed, true) => {
            let suggestions =
                suggestions_text(&suggested, language, policy.knowledge.link.as_deref());
            let ack = acknowledgement(
                policy,
                input,
                Acknowledged {
                    number,
                    topic: &topic,
                    requester: &requester,
                    language,
                    missing_fields: &routing.missing,
                    suggestions,
                },
            );
            events.push(EventDraft {
                kind: EventKind::AcknowledgementQueued,
                actor: DAEMON.into(),
                detail: format!("acknowledgement to {}", requester.address),
            });
            for article in &suggested {
                knowledge.push(KnowledgeAction::Link {
                    id: article.id,
                    ticket: number,
                    link: ArticleLink::Suggested,
                });
                events.push(EventDraft {
                    kind: EventKind::ArticleSuggested,
                    actor: DAEMON.into(),
                    detail: format!(
                        "{} \"{}\" suggested in the acknowledgement",
                        article.id, article.text.title
                    ),
                });
            }
            outgoing.push(ack);
        }
        (AutoReplyVerdict::Suppressed(reason), _) => events.push(EventDraft {
            kind: EventKind::AutoReplySuppressed,
            actor: DAEMON.into(),
            detail: format!("no acknowledgement: {reason}"),
        }),
        (AutoReplyVerdict::Allowed, false) if routing.no_acknowledgement => {
            events.push(EventDraft {
                kind: EventKind::AutoReplySuppressed,
                actor: DAEMON.into(),
                detail: "no acknowledgement: a routing rule says so".into(),
            })
        }
        (AutoReplyVerdict::Allowed, false) => {}
    }
    let ticket_facts = TicketFacts {
        number,
        topic: &topic,
        requester: &requester,
        text: &stored_text,
        routing: &routing,
    };
    if let Some(agent) = routing.assignee {
        events.push(EventDraft {
            kind: EventKind::Assigned,
            actor: DAEMON.into(),
            detail: format!("assigned to {} automatically", agent.name),
        });
        let mut notice = assignment_notice(policy, input, &ticket_facts, agent);
        carry(
            &mut notice,
            &mail.attachments,
            &policy.attachment_limits,
            attachments::Reader::Agent,
        );
        outgoing.push(notice);
    }
    if let Some(header) = &spam {
        events.push(EventDraft {
            kind: EventKind::HeldAsSpam,
            actor: DAEMON.into(),
            detail: format!(
                "held as spam ({header}): no acknowledgement, no notice until #release"
            ),
        });
    }
    let notice = match spam {
        Some(_) => None,
        None => new_ticket_notice(policy, input, &ticket_facts),
    };
    if let Some(mut notice) = notice {
        carry(
            &mut notice,
            &mail.attachments,
            &policy.attachment_limits,
            attachments::Reader::Agent,
        );
        events.push(EventDraft {
            kind: EventKind::NoticeQueued,
            actor: DAEMON.into(),
            detail: format!(
                "new-ticket notice to {}",
                notice
                    .to
                    .iter()
                    .map(|m| m.address.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        outgoing.push(notice);
    }
    IntakePlan {
        stored_text,
        agents_away: Vec::new(),
        knowledge,
        ticket: number,
        change: TicketChange::Create(Box::new(NewTicket {
            assignee: routing.assignee.map(|agent| agent.name.clone()),
            number,
            subject: topic,
            requester,
            queue,
            priority: routing.priority,
            level: routing.level,
            status: match (spam.is_some(), routing.assignee.is_some()) {
                (true, _) => Status::Spam,
                (false, true) => Status::Open,
                (false, false) => Status::New,
            },
            language,
            tags: routing.tags.clone(),
            fields: routing.fields.clone(),
            // Held spam has no deadlines: they start when it is released.
            sla: match spam {
                Some(_) => SlaState::default(),
                None => advance(
                    SlaState::default(),
                    policy.sla.plan_for(&routing.queue, routing.priority),
                    SlaEvent::Created { at: input.now },
                ),
            },
        })),
        visibility: Visibility::Public,
        new_participants,
        events,
        outgoing,
        auto_reply,
    }
}

/// Where a new ticket goes and what it carries, after the custom fields and routing rules.
pub struct Routing<'p> {
    pub matched: Vec<String>,
    pub queue: String,
    pub level: Level,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, String>,
    pub assignee: Option<&'p super::people::Agent>,
    pub notify: Vec<String>,
    pub no_acknowledgement: bool,
    /// Required fields still missing, as their prompts.
    pub missing: Vec<String>,
}

/// Custom fields from the text, then the routing rules in order, then automatic assignment.
pub fn route_new_ticket<'p>(
    policy: &'p IntakePolicy,
    input: &IntakeInput<'_>,
    text: &str,
) -> Routing<'p> {
    let source_queue = input.queue.unwrap_or(&policy.default_queue);
    let mut fields = super::rules::extract_fields(&policy.fields, source_queue, text);
    fields.extend(input.mail.given_fields.clone());
    let forwarded = input.mail.visible().forwarded.clone();
    let (matched, actions) = super::rules::route(
        &policy.rules,
        &super::rules::RuleInput {
            mail: input.mail,
            text,
            fields: &fields,
            forwarded: forwarded.as_ref(),
        },
    );
    let queue = actions
        .queue
        .clone()
        .unwrap_or_else(|| source_queue.to_string());
    let level = actions.level.unwrap_or(policy.default_level);
    fields.extend(actions.fields.clone());
    let assignee = actions
        .assignee
        .as_deref()
        .and_then(|name| policy.directory.agent_by_name(name))
        .or_else(|| choose_assignee(&policy.directory, &queue, level, input.workloads));
    let missing = super::rules::missing_fields(&policy.fields, &queue, &fields)
        .iter()
        .map(|spec| spec.prompt.clone())
        .collect();
    Routing {
        matched: matched.iter().map(|rule| rule.name.clone()).collect(),
        priority: actions.priority.unwrap_or(policy.default_priority),
        tags: actions.tags.clone(),
        notify: actions.notify.clone(),
        no_acknowledgement: actions.no_acknowledgement,
        queue,
        level,
        fields,
        assignee,
        missing,
    }
}

/// What notices about a new ticket say.
struct TicketFacts<'a> {
    number: TicketNumber,
    topic: &'a str,
    requester: &'a Mailbox,
    text: &'a str,
    routing: &'a Routing<'a>,
}

fn fields_list(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect()
}

/// Tells the queue's triagers about a new ticket: who, what, the text, the attachments, and how
/// to steer it by replying.
fn new_ticket_notice(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
    facts: &TicketFacts<'_>,
) -> Option<OutgoingMail> {
    let routing = facts.routing;
    let mut addresses = policy.directory.triagers_of(&routing.queue);
    addresses.extend(routing.notify.iter().cloned());
    addresses.dedup();
    let to: Vec<Mailbox> = addresses
        .iter()
        .filter(|address| **address != facts.requester.address)
        .map(|address| match policy.directory.agent_by_address(address) {
            Some(agent) => Mailbox::new(Some(&agent.display_name), address),
            None => Mailbox::new(None, address),
        })
        .collect();
    if to.is_empty() {
        return None;
    }
    let attachments = input
        .mail
        .attachments
        .iter()
        .map(|a| {
            format!(
                "Attachment: {} ({}, {} bytes)\n",
                a.filename, a.content_type, a.size
            )
        })
        .collect::<String>();
    let values: BTreeMap<&str, String> = [
        ("tag", policy.tags.tag(facts.number)),
        ("number", facts.number.to_string()),
        ("topic", facts.topic.to_string()),
        ("requester", facts.requester.to_string()),
        ("queue", routing.queue.clone()),
        ("priority", routing.priority.to_string()),
        ("level", routing.level.get().to_string()),
        (
            "attachments",
            format!("{attachments}{}", fields_list(&routing.fields)),
        ),
        ("text", facts.text.to_string()),
        ("cheat_sheet", CHEAT_SHEET.to_string()),
        (
            "knowledge",
            knowledge_for_agents(input, &routing.queue, policy.language),
        ),
    ]
    .into_iter()
    .collect();
    let language = policy.language;
    let rendered = policy
        .templates
        .get(TemplateKind::NewTicketNotice, language)
        .render(&values);
    Some(OutgoingMail::from_support(
        &policy.support,
        OutgoingKind::NewTicketNotice,
        facts.number,
        to,
        rendered,
        input.id_seed,
        language,
    ))
}

fn assignment_notice(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
    facts: &TicketFacts<'_>,
    agent: &super::people::Agent,
) -> OutgoingMail {
    let (number, topic, requester, text) = (facts.number, facts.topic, facts.requester, facts.text);
    let (queue, priority, level) = (
        &facts.routing.queue,
        facts.routing.priority,
        facts.routing.level,
    );
    let language = agent.language.unwrap_or(policy.language);
    let values: BTreeMap<&str, String> = [
        ("tag", policy.tags.tag(number)),
        ("number", number.to_string()),
        ("topic", topic.to_string()),
        ("requester", requester.to_string()),
        ("queue", queue.clone()),
        ("priority", priority.to_string()),
        ("level", level.get().to_string()),
        ("actor", "Automatic assignment".to_string()),
        ("history", format!("--- {requester}\n{text}\n")),
        ("cheat_sheet", CHEAT_SHEET.to_string()),
    ]
    .into_iter()
    .collect();
    let rendered = policy
        .templates
        .get(TemplateKind::AssignmentNotice, language)
        .render(&values);
    OutgoingMail::from_support(
        &policy.support,
        OutgoingKind::AssignmentNotice,
        number,
        vec![Mailbox::new(Some(&agent.display_name), agent.address())],
        rendered,
        input.id_seed,
        language,
    )
}

/// The language a new ticket is answered in: the mail's, when it can be told, else the default.
pub fn choose_language(policy: &IntakePolicy, mail: &InboundMail) -> Language {
    if policy.guess_language {
        if let Some(language) = mail.language_guess() {
            return language;
        }
    }
    policy.language
}

/// What the knowledge base knows of a new ticket, for the agents' notice: its articles of the
/// ticket's queue (or of all), internal ones marked, and similar resolved tickets.
fn knowledge_for_agents(input: &IntakeInput<'_>, queue: &str, language: Language) -> String {
    let matches: Vec<&ArticleMatch> = input
        .knowledge
        .matches
        .iter()
        .filter(|found| {
            found
                .article
                .text
                .queue
                .as_deref()
                .is_none_or(|q| q == queue)
        })
        .take(MAX_SUGGESTIONS)
        .collect();
    agents_text(&matches, &input.knowledge.similar, language)
}

/// Most articles an acknowledgement offers, and a notice lists.
pub const MAX_SUGGESTIONS: usize = 3;

/// What an acknowledgement says.
struct Acknowledged<'a> {
    number: TicketNumber,
    topic: &'a str,
    requester: &'a Mailbox,
    language: Language,
    missing_fields: &'a [String],
    /// Articles that may answer, as `suggestions_text` wrote them; empty when none.
    suggestions: String,
}

fn acknowledgement(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
    ack: Acknowledged<'_>,
) -> OutgoingMail {
    let Acknowledged {
        number,
        topic,
        requester,
        language,
        missing_fields,
        suggestions,
    } = ack;
    let fields_request = if missing_fields.is_empty() {
        String::new()
    } else {
        let intro = match language {
            Language::En => "To help us, please reply with these lines filled in:",
            Language::Fr => "Pour nous aider, merci de répondre avec ces lignes complétées :",
            Language::It => "Per aiutarci, risponda con queste righe compilate:",
        };
        let lines: String = missing_fields
            .iter()
            .map(|prompt| format!("    {prompt}\n"))
            .collect();
        format!("\n{intro}\n\n{lines}")
    };
    let mail = input.mail;
    let values: BTreeMap<&str, String> = [
        ("tag", policy.tags.tag(number)),
        ("number", number.to_string()),
        ("topic", topic.to_string()),
        (
            "name_suffix",
            requester
                .name
                .as_ref()
                .map_or(String::new(), |name| format!(" {name}")),
        ),
        (
            "support_name",
            policy
                .support
                .name
                .clone()
                .unwrap_or_else(|| policy.support.address.clone()),
        ),
        ("fields_request", fields_request),
        ("suggestions", suggestions),
    ]
    .into_iter()
    .collect();
    let rendered = policy
        .templates
        .get(TemplateKind::Acknowledgement, language)
        .render(&values);
    let mut references: Vec<String> = mail.references.clone();
    if let Some(id) = &mail.message_id {
        if !references.contains(id) {
            references.push(id.clone());
        }
    }
    let mut ack = OutgoingMail::from_support(
        &policy.support,
        OutgoingKind::Acknowledgement,
        number,
        vec![answer_address(mail).unwrap_or_else(|| requester.clone())],
        rendered,
        input.id_seed,
        language,
    );
    ack.reply_to = None;
    ack.in_reply_to = mail.message_id.clone();
    ack.references = references;
    ack
}

#[cfg(test)]
pub(crate) mod tests;

//! The intake decision: given a parsed mail, what the store already knows and the time, what to
//! change and what to send. Pure: the pipeline carries the plan out in one transaction.

use std::collections::BTreeMap;

use super::address::{without_subaddress, Mailbox};
use super::attachments::{self, carry, with_attached_mails};
use super::commands::{Vocabulary, CHEAT_SHEET};
use super::forward::visible_with_forward;
use super::language::{guess_language, Language};
use super::loops::{AutoReplyVerdict, LoopPolicy};
use super::mail::InboundMail;
use super::outgoing::{OutgoingKind, OutgoingMail};
use super::people::{choose_assignee, Directory, Trust, Workload};
use super::rules::{FieldSpec, Rule};
use super::sla::{advance, SlaEvent, SlaPolicy, SlaState};
use super::subject::TagFormat;
use super::templates::{TemplateKind, TemplateSet};
use super::threading::ThreadDecision;
use super::ticket::{Level, Priority, Status, TicketNumber};
use super::visibility::Reader;
pub use super::visibility::Visibility;

/// What to do with a reply from someone who is not a participant of the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrangerPolicy {
    /// Keep it as an internal note, flag it, never send them the ticket's correspondence.
    InternalNote,
    /// Add them as a participant (copied on correspondence).
    Join,
}

#[derive(Debug, Clone)]
pub struct IntakePolicy {
    pub tags: TagFormat,
    /// The From of our mail: support name and address.
    pub support: Mailbox,
    pub loops: LoopPolicy,
    pub reopen_on_reply: bool,
    pub strangers: StrangerPolicy,
    pub default_queue: String,
    pub default_priority: Priority,
    pub default_level: Level,
    pub language: Language,
    pub guess_language: bool,
    pub templates: TemplateSet,
    pub acknowledge_new_tickets: bool,
    pub directory: Directory,
    pub trust: Trust,
    pub vocabulary: Vocabulary,
    /// Mail sent (also) to this address stays internal.
    pub comment_address: Option<String>,
    /// Custom fields: declared, typed, read from the body.
    pub fields: Vec<FieldSpec>,
    /// Routing rules, in order.
    pub rules: Vec<Rule>,
    pub sla: SlaPolicy,
    /// What notices and relays carry of the attachments they are about.
    pub attachment_limits: super::attachments::AttachmentLimits,
}

/// The part of a stored ticket the intake decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub number: TicketNumber,
    /// The number a mail named when it led here through a merge.
    pub requested_as: Option<TicketNumber>,
    pub status: Status,
    pub priority: Priority,
    pub level: Level,
    pub queue: String,
    /// The assigned agent's name.
    pub assignee: Option<String>,
    pub subject: String,
    pub language: Language,
    pub requester: Mailbox,
    /// Participant addresses, lowercased (the requester included).
    pub participants: Vec<String>,
    /// Participants copied on correspondence.
    pub cc: Vec<Mailbox>,
    pub tags: Vec<String>,
    /// Custom field values.
    pub fields: BTreeMap<String, String>,
    /// The ticket's mail with a Message-ID, oldest first: who sent and received each, so that our
    /// mail to a person threads on what they know (`personal_thread`).
    pub thread: Vec<super::personal_thread::ThreadMessage>,
    pub history: Vec<HistoryEntry>,
    pub merged_into: Option<TicketNumber>,
    pub created_at: i64,
    pub sla: SlaState,
    /// Since when the requester has waited for an answer.
    pub awaiting_since: Option<i64>,
    /// The texts of the latest mail Guichet sent on the ticket, newest first: what a reply may
    /// quote or paste, never to be relayed as the writer's words (`own_text`).
    pub sent_texts: Vec<String>,
}

impl TicketView {
    /// A view with defaults, for tests and new tickets.
    pub fn new(number: TicketNumber, requester: Mailbox) -> TicketView {
        TicketView {
            number,
            requested_as: None,
            status: Status::New,
            priority: Priority::Normal,
            level: Level::FIRST,
            queue: "general".into(),
            assignee: None,
            subject: String::new(),
            language: Language::En,
            participants: vec![requester.address.clone()],
            requester,
            cc: Vec::new(),
            tags: Vec::new(),
            fields: BTreeMap::new(),
            thread: Vec::new(),
            history: Vec::new(),
            merged_into: None,
            created_at: 0,
            sla: SlaState::default(),
            awaiting_since: None,
            sent_texts: Vec::new(),
        }
    }
}

impl TicketView {
    /// The ticket so far as `reader` may read it, for notices that hand it to someone new.
    pub fn history_text(&self, reader: Reader) -> String {
        self.history
            .iter()
            .filter(|entry| reader.may_see(entry.visibility))
            .map(|entry| {
                format!(
                    "--- {} {}{}\n{}\n\n",
                    format_time(entry.at),
                    entry.from,
                    entry.visibility.label(),
                    entry.text.trim()
                )
            })
            .collect()
    }

    /// The attachments of the ticket's inbound mail, oldest first; only those of public mail when
    /// they go outside the helpdesk (the vendor), never an internal note's.
    pub fn attachments(&self, public_only: bool) -> Vec<super::mail::AttachmentMeta> {
        self.history
            .iter()
            .filter(|entry| !(public_only && entry.visibility != Visibility::Public))
            .flat_map(|entry| entry.attachments.iter().cloned())
            .collect()
    }
}

/// Instants as notices and the audit trail show them.
pub fn format_time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(
        || at.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// One stored message, as notices that hand a ticket over show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: i64,
    pub from: String,
    pub visibility: Visibility,
    pub text: String,
    pub attachments: Vec<super::mail::AttachmentMeta>,
}

#[derive(Debug, Clone)]
pub struct IntakeInput<'a> {
    pub mail: &'a InboundMail,
    pub thread: &'a ThreadDecision,
    /// The ticket the thread decision named; `None` for a new ticket.
    pub ticket: Option<&'a TicketView>,
    /// The number a new ticket gets.
    pub next_number: TicketNumber,
    /// Automatic replies sent to the requester's address in the last hour.
    pub auto_replies_last_hour: u32,
    pub now: i64,
    /// Unique per mail; makes our Message-IDs unique.
    pub id_seed: &'a str,
    /// The queue a new ticket opens in, when the mail's source names one.
    pub queue: Option<&'a str>,
    /// Other tickets the mail's commands name (`#merge N`), as found in the store.
    pub others: &'a [TicketView],
    /// Agents' loads, for queues that assign automatically.
    pub workloads: &'a [Workload],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Cc,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Cc => "cc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewTicket {
    pub number: TicketNumber,
    pub subject: String,
    pub requester: Mailbox,
    pub queue: String,
    pub priority: Priority,
    pub level: Level,
    pub status: Status,
    pub language: Language,
    /// Chosen by a routing rule or the queue's automatic assignment, if any.
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, String>,
    pub sla: SlaState,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum TicketChange {
    Create(Box<NewTicket>),
    Append { updates: Vec<TicketUpdate> },
}

/// One change to an existing ticket, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "update", content = "value", rename_all = "snake_case")]
pub enum TicketUpdate {
    Status(Status),
    Priority(Priority),
    Level(Level),
    Queue(String),
    /// An agent's name, or none.
    Assignee(Option<String>),
    AddParticipant(Mailbox, Role),
    RemoveParticipant(String),
    AddTag(String),
    RemoveTag(String),
    Field(String, String),
    Resolution(String),
    /// This ticket into that one: its mail and participants move; its number leads there.
    MergeInto(TicketNumber),
    /// New deadlines.
    Sla(SlaState),
    AwaitingSince(Option<i64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Correspondence,
    Reopened,
    StrangerNote,
    AutoReplySuppressed,
    /// A new ticket from mail the spam filter marked waits in `spam` for an agent's `#release`.
    HeldAsSpam,
    AcknowledgementQueued,
    /// The server took an outgoing mail for these recipients.
    Delivered,
    /// The server refused a recipient for good.
    DeliveryRefused,
    /// A recipient could not be reached yet; the outbox tries again.
    DeliveryDeferred,
    /// A recipient still unreachable when the outbox stopped trying.
    DeliveryGivenUp,
    CommandApplied,
    CommandRefused,
    Note,
    NoticeQueued,
    Assigned,
    Routed,
    FieldSet,
    SlaWarning,
    SlaBreach,
    /// Intake left something of the mail out (an address, a structure past a limit).
    IntakeCut,
    /// A recipient could not be written into an outgoing mail and was left out of it.
    RecipientLeftOut,
    /// An outgoing mail could not be rendered and was not queued: an error someone must see.
    MailNotRendered,
    /// A stored attachment could not be read when a mail was rendered: it was named, not sent.
    AttachmentNotSent,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Correspondence => "correspondence",
            EventKind::Reopened => "reopened",
            EventKind::StrangerNote => "stranger_note",
            EventKind::AutoReplySuppressed => "auto_reply_suppressed",
            EventKind::HeldAsSpam => "held_as_spam",
            EventKind::AcknowledgementQueued => "acknowledgement_queued",
            EventKind::Delivered => "delivered",
            EventKind::DeliveryRefused => "delivery_refused",
            EventKind::DeliveryDeferred => "delivery_deferred",
            EventKind::DeliveryGivenUp => "delivery_given_up",
            EventKind::CommandApplied => "command_applied",
            EventKind::CommandRefused => "command_refused",
            EventKind::Note => "note",
            EventKind::NoticeQueued => "notice_queued",
            EventKind::Assigned => "assigned",
            EventKind::Routed => "routed",
            EventKind::FieldSet => "field_set",
            EventKind::SlaWarning => "sla_warning",
            EventKind::SlaBreach => "sla_breach",
            EventKind::IntakeCut => "intake_cut",
            EventKind::RecipientLeftOut => "recipient_left_out",
            EventKind::MailNotRendered => "mail_not_rendered",
            EventKind::AttachmentNotSent => "attachment_not_sent",
        }
    }
}

/// One line of the audit trail, before the store gives it an id and links the causing mail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventDraft {
    pub kind: EventKind,
    /// Who caused it: an address, or `guichet` for the daemon itself.
    pub actor: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntakePlan {
    pub ticket: TicketNumber,
    pub change: TicketChange,
    pub visibility: Visibility,
    pub new_participants: Vec<(Mailbox, Role)>,
    pub events: Vec<EventDraft>,
    pub outgoing: Vec<OutgoingMail>,
    pub auto_reply: AutoReplyVerdict,
    /// What is stored as the message's text: what the person newly wrote, without quoted
    /// history and command lines (the raw mail keeps everything).
    pub stored_text: String,
    /// Agents who went away (`true`) or came back (`false`).
    pub agents_away: Vec<(String, bool)>,
}

/// Why a parsed mail cannot make or join a ticket; the pipeline quarantines it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unticketable {
    #[error("no sender address: From, Reply-To, Sender and Return-Path are all missing or empty")]
    NoSender,
    #[error("the thread decision named ticket #{0} but the store has no such ticket")]
    MissingTicket(TicketNumber),
}

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
    let visible = visible_with_forward(&mail.text, &mail.subject);
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
    let stored_text = match visible.text {
        visible if visible.is_empty() => mail.text.trim().to_string(),
        visible => visible,
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
    let mut outgoing = Vec::new();
    match (
        &auto_reply,
        policy.acknowledge_new_tickets && !routing.no_acknowledgement,
    ) {
        (AutoReplyVerdict::Allowed, true) => {
            let ack = acknowledgement(
                policy,
                input,
                number,
                &topic,
                &requester,
                language,
                &routing.missing,
            );
            events.push(EventDraft {
                kind: EventKind::AcknowledgementQueued,
                actor: DAEMON.into(),
                detail: format!("acknowledgement to {}", requester.address),
            });
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
    let forwarded = visible_with_forward(&input.mail.text, &input.mail.subject).forwarded;
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

fn choose_language(policy: &IntakePolicy, mail: &InboundMail) -> Language {
    if policy.guess_language {
        let sample = format!("{}\n{}", mail.subject, mail.text);
        if let Some(language) = guess_language(&sample) {
            return language;
        }
    }
    policy.language
}

fn acknowledgement(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
    number: TicketNumber,
    topic: &str,
    requester: &Mailbox,
    language: Language,
    missing_fields: &[String],
) -> OutgoingMail {
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
pub(crate) mod tests {
    use super::*;
    use crate::core::loops::{Suppression, DEFAULT_ROLE_SENDERS};
    use crate::core::mail::LoopSignals;
    use crate::core::threading::{NewTicketReason, ThreadVia};

    fn policy() -> IntakePolicy {
        policy_for("support@desk.example.test")
    }

    /// A policy with defaults, answering as `support`; other modules' tests adjust it.
    pub(crate) fn policy_for(support: &str) -> IntakePolicy {
        IntakePolicy {
            tags: TagFormat::new("Helpdesk"),
            support: Mailbox::new(Some("Example Helpdesk"), support),
            loops: LoopPolicy {
                own_addresses: vec![support.into()],
                role_senders: DEFAULT_ROLE_SENDERS.iter().map(|s| s.to_string()).collect(),
                caps: crate::core::caps::Caps::default(),
                spam: crate::core::spam::SpamMarkers::default(),
            },
            reopen_on_reply: true,
            strangers: StrangerPolicy::InternalNote,
            default_queue: "general".into(),
            default_priority: Priority::Normal,
            default_level: Level::FIRST,
            language: Language::En,
            guess_language: true,
            templates: TemplateSet::shipped(),
            acknowledge_new_tickets: true,
            directory: Directory::default(),
            trust: Trust::None,
            vocabulary: Vocabulary::builtin(),
            comment_address: None,
            fields: Vec::new(),
            rules: Vec::new(),
            sla: SlaPolicy::default(),
            attachment_limits: Default::default(),
        }
    }

    fn request() -> InboundMail {
        InboundMail {
            from: Some(Mailbox::new(Some("Alice Martin"), "alice@example.test")),
            to: vec![Mailbox::new(None, "support+x@desk.example.test")],
            cc: vec![Mailbox::new(None, "carol@example.test")],
            subject: "Printer jammed".into(),
            message_id: Some("m1@example.test".into()),
            text: "Hello, the printer is jammed and the queue is stuck. Thanks".into(),
            ..InboundMail::default()
        }
    }

    fn new_thread() -> ThreadDecision {
        ThreadDecision::New {
            reason: NewTicketReason::NoThreadClues,
        }
    }

    fn input<'a>(
        mail: &'a InboundMail,
        thread: &'a ThreadDecision,
        ticket: Option<&'a TicketView>,
    ) -> IntakeInput<'a> {
        IntakeInput {
            mail,
            thread,
            ticket,
            next_number: TicketNumber(1042),
            auto_replies_last_hour: 0,
            now: 1_700_000_000,
            id_seed: "seed",
            queue: None,
            others: &[],
            workloads: &[],
        }
    }

    #[test]
    fn a_new_request_opens_a_ticket_and_is_acknowledged() {
        let mail = request();
        let thread = new_thread();
        let plan = decide_intake(&policy(), &input(&mail, &thread, None)).unwrap();
        let TicketChange::Create(ticket) = &plan.change else {
            panic!("expected a new ticket: {plan:?}")
        };
        assert_eq!(ticket.number, TicketNumber(1042));
        assert_eq!(ticket.subject, "Printer jammed");
        assert_eq!(ticket.requester.address, "alice@example.test");
        assert_eq!(ticket.status, Status::New);
        assert_eq!(
            plan.new_participants,
            vec![
                (
                    Mailbox::new(Some("Alice Martin"), "alice@example.test"),
                    Role::Requester
                ),
                (Mailbox::new(None, "carol@example.test"), Role::Cc),
            ],
            "our own address (even with +tag) is no participant"
        );
        let [ack] = plan.outgoing.as_slice() else {
            panic!("one acknowledgement expected: {:?}", plan.outgoing)
        };
        assert_eq!(ack.subject, "[Helpdesk #1042] Printer jammed");
        assert_eq!(
            ack.to,
            vec![Mailbox::new(Some("Alice Martin"), "alice@example.test")]
        );
        assert_eq!(ack.in_reply_to.as_deref(), Some("m1@example.test"));
        assert_eq!(ack.references, vec!["m1@example.test".to_string()]);
        assert_eq!(ack.auto_submitted, Some("auto-replied"));
        assert_eq!(ack.envelope_from, None);
        assert!(ack.body.contains("#1042"));
        assert!(ack.body.starts_with("Hello Alice Martin,"));
        assert_eq!(
            ack.message_id,
            "guichet.1042.acknowledgement.seed@desk.example.test"
        );
    }

    #[test]
    fn a_first_mail_that_is_only_a_quote_keeps_it_as_the_request() {
        let mut mail = request();
        mail.text = "> The printer on floor 2 jams.\n> Can someone look?\n".into();
        let thread = new_thread();
        let plan = decide_intake(&policy(), &input(&mail, &thread, None)).unwrap();
        assert_eq!(
            plan.stored_text,
            "> The printer on floor 2 jams.\n> Can someone look?"
        );
    }

    #[test]
    fn the_acknowledgement_speaks_the_requesters_language() {
        let mut mail = request();
        mail.subject = "Imprimante bloquée".into();
        mail.text = "Bonjour, je ne peux pas imprimer avec mon poste. Merci".into();
        let thread = new_thread();
        let plan = decide_intake(&policy(), &input(&mail, &thread, None)).unwrap();
        assert!(plan.outgoing[0].body.starts_with("Bonjour Alice Martin,"));
        assert_eq!(plan.outgoing[0].language, Language::Fr);

        let mut no_guess = policy();
        no_guess.guess_language = false;
        no_guess.language = Language::It;
        let plan = decide_intake(&no_guess, &input(&mail, &thread, None)).unwrap();
        assert!(plan.outgoing[0]
            .body
            .starts_with("Buongiorno Alice Martin,"));
    }

    #[test]
    fn automatic_mail_makes_a_ticket_but_no_answer() {
        let mut mail = request();
        mail.loop_signals = LoopSignals {
            auto_submitted: Some("auto-replied".into()),
            ..LoopSignals::default()
        };
        let thread = new_thread();
        let plan = decide_intake(&policy(), &input(&mail, &thread, None)).unwrap();
        assert!(matches!(plan.change, TicketChange::Create(_)));
        assert!(plan.outgoing.is_empty());
        assert_eq!(
            plan.auto_reply,
            AutoReplyVerdict::Suppressed(Suppression::AutoSubmitted("auto-replied".into()))
        );
        assert!(plan
            .events
            .iter()
            .any(|e| e.kind == EventKind::AutoReplySuppressed));
    }

    #[test]
    fn spam_is_held_without_acknowledgement_or_notice() {
        let mut policy = policy();
        policy.directory.queues.push(crate::core::people::Queue {
            name: "general".into(),
            triagers: vec!["triage@desk.example.test".into()],
            assignment: Default::default(),
        });
        let thread = new_thread();
        let clean = request();
        let plan = decide_intake(&policy, &input(&clean, &thread, None)).unwrap();
        assert_eq!(plan.outgoing.len(), 2, "acknowledgement and notice");

        let mut mail = request();
        mail.headers = vec![("x-spam-status".into(), "Yes, score=9.9 required=5.0".into())];
        let plan = decide_intake(&policy, &input(&mail, &thread, None)).unwrap();
        let TicketChange::Create(ticket) = &plan.change else {
            panic!("{plan:?}")
        };
        assert_eq!(ticket.status, Status::Spam);
        assert_eq!(ticket.sla, SlaState::default());
        assert!(plan.outgoing.is_empty(), "{:?}", plan.outgoing);
        assert!(plan.events.iter().any(|e| e.kind == EventKind::HeldAsSpam));
        assert!(plan
            .events
            .iter()
            .any(|e| e.kind == EventKind::AutoReplySuppressed
                && e.detail
                    .contains("marked as spam (x-spam-status: Yes, score=9.9")));
    }

    #[test]
    fn a_mail_without_any_sender_is_unticketable() {
        let mail = InboundMail::default();
        let thread = new_thread();
        assert_eq!(
            decide_intake(&policy(), &input(&mail, &thread, None)),
            Err(Unticketable::NoSender)
        );
    }

    #[test]
    fn the_requester_is_who_wrote_and_the_acknowledgement_goes_where_asked() {
        let mail = InboundMail {
            from: Some(Mailbox::new(Some("Alice"), "alice@example.test")),
            reply_to: Some(Mailbox::new(None, "helpdesk-replies@example.test")),
            ..InboundMail::default()
        };
        assert_eq!(requester_of(&mail).unwrap().address, "alice@example.test");
        assert_eq!(
            answer_address(&mail).unwrap().address,
            "helpdesk-replies@example.test"
        );
    }

    #[test]
    fn return_path_is_the_last_resort_requester() {
        let mail = InboundMail {
            loop_signals: LoopSignals {
                return_path: Some("<Dave@Example.test>".into()),
                ..LoopSignals::default()
            },
            ..InboundMail::default()
        };
        assert_eq!(requester_of(&mail).unwrap().address, "dave@example.test");
    }

    fn existing(status: Status) -> (ThreadDecision, TicketView) {
        (
            ThreadDecision::Existing {
                ticket: TicketNumber(7),
                via: ThreadVia::SubjectTag {
                    tagged: TicketNumber(7),
                },
            },
            TicketView {
                status,
                ..TicketView::new(TicketNumber(7), Mailbox::new(None, "alice@example.test"))
            },
        )
    }

    #[test]
    fn a_participants_reply_joins_and_reopens() {
        let mail = request();
        let (thread, view) = existing(Status::Resolved);
        let plan = decide_intake(&policy(), &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(
            plan.change,
            TicketChange::Append {
                updates: vec![TicketUpdate::Status(Status::Open)]
            }
        );
        assert_eq!(plan.visibility, Visibility::Public);
        assert!(plan.outgoing.is_empty(), "replies are not acknowledged");
        assert!(plan.events.iter().any(|e| e.kind == EventKind::Reopened));

        let mut keep_resolved = policy();
        keep_resolved.reopen_on_reply = false;
        let plan = decide_intake(&keep_resolved, &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(plan.change, TicketChange::Append { updates: vec![] });
    }

    #[test]
    fn a_strangers_reply_is_an_internal_note() {
        let mut mail = request();
        mail.from = Some(Mailbox::new(None, "mallory@evil.example"));
        let (thread, view) = existing(Status::Resolved);
        let plan = decide_intake(&policy(), &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(plan.visibility, Visibility::Stranger);
        assert_eq!(
            plan.change,
            TicketChange::Append { updates: vec![] },
            "a stranger cannot reopen"
        );
        assert!(plan.new_participants.is_empty());
        assert!(plan
            .events
            .iter()
            .any(|e| e.kind == EventKind::StrangerNote && e.actor == "mallory@evil.example"));

        let mut open_door = policy();
        open_door.strangers = StrangerPolicy::Join;
        let plan = decide_intake(&open_door, &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(plan.visibility, Visibility::Public);
        let TicketChange::Append { updates } = &plan.change else {
            panic!()
        };
        assert!(updates.contains(&TicketUpdate::AddParticipant(
            Mailbox::new(None, "mallory@evil.example"),
            Role::Cc
        )));
    }

    #[test]
    fn a_thread_decision_without_its_ticket_is_refused() {
        let mail = request();
        let (thread, _) = existing(Status::Open);
        assert_eq!(
            decide_intake(&policy(), &input(&mail, &thread, None)),
            Err(Unticketable::MissingTicket(TicketNumber(7)))
        );
    }
}

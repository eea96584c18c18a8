//! The intake decision: given a parsed mail, what the store already knows and the time, what to
//! change and what to send. Pure: the pipeline carries the plan out in one transaction.

use std::collections::BTreeMap;

use super::address::{without_subaddress, Mailbox};
use super::language::{guess_language, Language};
use super::loops::{AutoReplyVerdict, LoopPolicy};
use super::mail::InboundMail;
use super::outgoing::{our_message_id, OutgoingKind, OutgoingMail};
use super::subject::TagFormat;
use super::templates::{TemplateKind, TemplateSet};
use super::threading::ThreadDecision;
use super::ticket::{Level, Priority, Status, TicketNumber};

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
}

/// The part of a stored ticket the intake decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub number: TicketNumber,
    pub status: Status,
    /// Participant addresses, lowercased.
    pub participants: Vec<String>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
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
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum TicketChange {
    Create(NewTicket),
    Append { reopen: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Correspondence,
    Reopened,
    StrangerNote,
    AutoReplySuppressed,
    AcknowledgementQueued,
    DeliveryFailed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Correspondence => "correspondence",
            EventKind::Reopened => "reopened",
            EventKind::StrangerNote => "stranger_note",
            EventKind::AutoReplySuppressed => "auto_reply_suppressed",
            EventKind::AcknowledgementQueued => "acknowledgement_queued",
            EventKind::DeliveryFailed => "delivery_failed",
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

/// The address a ticket answers: Reply-To, From, Sender, then the envelope's Return-Path.
pub fn requester_of(mail: &InboundMail) -> Option<Mailbox> {
    mail.reply_address()
        .or(mail.sender.as_ref())
        .cloned()
        .or_else(|| {
            let path = mail.loop_signals.return_path.as_deref()?;
            let address = crate::core::address::normalize_address(path);
            crate::core::address::looks_like_address(&address).then(|| Mailbox::new(None, &address))
        })
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
            Ok(plan_follow_up(policy, mail, view, requester, auto_reply))
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
    let mut topic = policy.tags.topic(&mail.subject);
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
    let queue = input.queue.unwrap_or(&policy.default_queue).to_string();
    let actor = requester.address.clone();
    let mut events = vec![EventDraft {
        kind: EventKind::Created,
        actor: actor.clone(),
        detail: format!("ticket #{number} opened in queue {queue} from {requester}"),
    }];
    let mut outgoing = Vec::new();
    match (&auto_reply, policy.acknowledge_new_tickets) {
        (AutoReplyVerdict::Allowed, true) => {
            let ack = acknowledgement(policy, input, number, &topic, &requester, language);
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
        (AutoReplyVerdict::Allowed, false) => {}
    }
    IntakePlan {
        ticket: number,
        change: TicketChange::Create(NewTicket {
            number,
            subject: topic,
            requester,
            queue,
            priority: policy.default_priority,
            level: policy.default_level,
            status: Status::New,
            language,
        }),
        visibility: Visibility::Public,
        new_participants,
        events,
        outgoing,
        auto_reply,
    }
}

fn plan_follow_up(
    policy: &IntakePolicy,
    mail: &InboundMail,
    ticket: &TicketView,
    requester: Mailbox,
    auto_reply: AutoReplyVerdict,
) -> IntakePlan {
    let sender_addresses: Vec<&str> =
        [mail.from.as_ref(), mail.reply_to.as_ref(), Some(&requester)]
            .into_iter()
            .flatten()
            .map(|mailbox| mailbox.address.as_str())
            .collect();
    let is_participant = sender_addresses
        .iter()
        .any(|address| ticket.participants.iter().any(|known| known == address));
    let actor = mail
        .from
        .as_ref()
        .map_or(requester.address.clone(), |from| from.address.clone());
    let mut events = Vec::new();
    let mut new_participants = Vec::new();
    let visibility = if is_participant {
        Visibility::Public
    } else {
        match policy.strangers {
            StrangerPolicy::InternalNote => {
                events.push(EventDraft {
                    kind: EventKind::StrangerNote,
                    actor: actor.clone(),
                    detail: format!(
                        "{actor} is not a participant of #{}: kept as an internal note, not copied on correspondence",
                        ticket.number
                    ),
                });
                Visibility::Internal
            }
            StrangerPolicy::Join => {
                new_participants.push((requester.clone(), Role::Cc));
                Visibility::Public
            }
        }
    };
    events.insert(
        0,
        EventDraft {
            kind: EventKind::Correspondence,
            actor: actor.clone(),
            detail: format!("{} mail from {actor}", visibility.as_str()),
        },
    );
    let reopen =
        ticket.status.is_done() && policy.reopen_on_reply && visibility == Visibility::Public;
    if reopen {
        events.push(EventDraft {
            kind: EventKind::Reopened,
            actor,
            detail: format!("reply on a {} ticket reopens it", ticket.status),
        });
    }
    IntakePlan {
        ticket: ticket.number,
        change: TicketChange::Append { reopen },
        visibility,
        new_participants,
        events,
        outgoing: Vec::new(),
        auto_reply,
    }
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
) -> OutgoingMail {
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
    ]
    .into_iter()
    .collect();
    let (subject, body) = policy
        .templates
        .get(TemplateKind::Acknowledgement, language)
        .render(&values);
    let mut references: Vec<String> = mail.references.clone();
    if let Some(id) = &mail.message_id {
        if !references.contains(id) {
            references.push(id.clone());
        }
    }
    OutgoingMail {
        kind: OutgoingKind::Acknowledgement,
        ticket: number,
        from: policy.support.clone(),
        to: vec![requester.clone()],
        cc: Vec::new(),
        reply_to: None,
        envelope_from: None,
        subject,
        body,
        message_id: our_message_id(
            number,
            OutgoingKind::Acknowledgement,
            input.id_seed,
            policy.support.domain(),
        ),
        in_reply_to: mail.message_id.clone(),
        references,
        auto_submitted: Some("auto-replied"),
        language,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::loops::{Suppression, DEFAULT_ROLE_SENDERS};
    use crate::core::mail::LoopSignals;
    use crate::core::threading::{NewTicketReason, ThreadVia};

    fn policy() -> IntakePolicy {
        IntakePolicy {
            tags: TagFormat::new("Helpdesk"),
            support: Mailbox::new(Some("Example Helpdesk"), "support@desk.example.test"),
            loops: LoopPolicy {
                own_addresses: vec!["support@desk.example.test".into()],
                role_senders: DEFAULT_ROLE_SENDERS.iter().map(|s| s.to_string()).collect(),
                max_auto_replies_per_hour: 5,
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
    fn a_mail_without_any_sender_is_unticketable() {
        let mail = InboundMail::default();
        let thread = new_thread();
        assert_eq!(
            decide_intake(&policy(), &input(&mail, &thread, None)),
            Err(Unticketable::NoSender)
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
                number: TicketNumber(7),
                status,
                participants: vec!["alice@example.test".into()],
            },
        )
    }

    #[test]
    fn a_participants_reply_joins_and_reopens() {
        let mail = request();
        let (thread, view) = existing(Status::Resolved);
        let plan = decide_intake(&policy(), &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(plan.change, TicketChange::Append { reopen: true });
        assert_eq!(plan.visibility, Visibility::Public);
        assert!(plan.outgoing.is_empty(), "replies are not acknowledged");
        assert!(plan.events.iter().any(|e| e.kind == EventKind::Reopened));

        let mut keep_resolved = policy();
        keep_resolved.reopen_on_reply = false;
        let plan = decide_intake(&keep_resolved, &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(plan.change, TicketChange::Append { reopen: false });
    }

    #[test]
    fn a_strangers_reply_is_an_internal_note() {
        let mut mail = request();
        mail.from = Some(Mailbox::new(None, "mallory@evil.example"));
        let (thread, view) = existing(Status::Resolved);
        let plan = decide_intake(&policy(), &input(&mail, &thread, Some(&view))).unwrap();
        assert_eq!(plan.visibility, Visibility::Internal);
        assert_eq!(
            plan.change,
            TicketChange::Append { reopen: false },
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
        assert_eq!(plan.new_participants[0].0.address, "mallory@evil.example");
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

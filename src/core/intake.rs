//! The intake decision: given a parsed mail, what the store already knows and the time, what to
//! change and what to send. Pure: the pipeline carries the plan out in one transaction.

use std::collections::BTreeMap;

use super::address::{without_subaddress, Mailbox};
use super::attachments::{self, carry, with_attached_mails};
use super::commands::CHEAT_SHEET;
use super::forward::visible_with_forward;
use super::language::{guess_language, Language};
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

/// The language a new ticket is answered in: the mail's, when it can be told, else the default.
pub fn choose_language(policy: &IntakePolicy, mail: &InboundMail) -> Language {
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
    use crate::core::commands::Vocabulary;
    use crate::core::loops::{LoopPolicy, Suppression, DEFAULT_ROLE_SENDERS};
    use crate::core::mail::LoopSignals;
    use crate::core::people::{Directory, Trust};
    use crate::core::sla::SlaPolicy;
    use crate::core::subject::TagFormat;
    use crate::core::templates::TemplateSet;
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
            knowledge: Default::default(),
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

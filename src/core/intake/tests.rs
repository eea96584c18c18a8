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
        replies: Vec::new(),
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
        knowledge: &crate::core::knowledge::mail::NO_KNOWLEDGE,
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

mod knowledge {
    use super::*;
    use crate::core::knowledge::mail::{ArticleMatch, KnowledgeInput, ResolvedTicket};
    use crate::core::knowledge::{ArticleId, ArticleText};

    fn article(id: u64, queue: Option<&str>, visibility: ArticleVisibility) -> Article {
        Article {
            id: ArticleId(id),
            text: ArticleText {
                slug: format!("jam-{id}-en"),
                title: format!("Paper jam {id}"),
                body: "Open tray 2 and pull the sheet.".into(),
                language: "en".into(),
                tags: vec![],
                queue: queue.map(str::to_string),
                visibility,
            },
            state: ArticleState::Published,
            version: 1,
            useful: 0,
            updated_at: 0,
        }
    }

    fn decide_with(policy: &IntakePolicy, knowledge: &KnowledgeInput) -> IntakePlan {
        let mail = request();
        let thread = new_thread();
        let mut input = input(&mail, &thread, None);
        input.knowledge = knowledge;
        decide_intake(policy, &input).unwrap()
    }

    fn with_triager() -> IntakePolicy {
        let mut policy = policy();
        policy.directory.queues.push(crate::core::people::Queue {
            name: "general".into(),
            triagers: vec!["triage@desk.example.test".into()],
            assignment: Default::default(),
        });
        policy
    }

    #[test]
    fn the_acknowledgement_offers_confident_articles_of_the_queue_and_links_them() {
        let knowledge = KnowledgeInput {
            suggestions: vec![
                article(12, None, ArticleVisibility::Public),
                article(13, Some("facilities"), ArticleVisibility::Public),
                article(14, Some("general"), ArticleVisibility::Public),
            ],
            ..KnowledgeInput::NONE
        };
        let plan = decide_with(&policy(), &knowledge);
        let ack = &plan.outgoing[0];
        assert_eq!(ack.kind, OutgoingKind::Acknowledgement);
        assert!(
            ack.body
                .contains("These articles may already answer your question:"),
            "{}",
            ack.body
        );
        assert!(ack
            .body
            .contains("[KB-12] Paper jam 12\n\nOpen tray 2 and pull the sheet."));
        assert!(ack.body.contains("[KB-14] Paper jam 14"));
        assert!(!ack.body.contains("KB-13"), "another queue's article");
        assert!(ack
            .body
            .contains("If one of these answers your question, reply with #solved."));
        let linked: Vec<ArticleId> = plan
            .knowledge
            .iter()
            .map(|action| match action {
                KnowledgeAction::Link {
                    id,
                    link: ArticleLink::Suggested,
                    ticket,
                } => {
                    assert_eq!(*ticket, TicketNumber(1042));
                    *id
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(linked, [ArticleId(12), ArticleId(14)]);
        assert_eq!(
            plan.events
                .iter()
                .filter(|e| e.kind == EventKind::ArticleSuggested)
                .count(),
            2
        );
    }

    #[test]
    fn without_a_confident_match_the_acknowledgement_is_as_it_always_was() {
        let plain = decide_with(&policy(), &KnowledgeInput::NONE);
        assert!(plain.knowledge.is_empty());
        assert!(plain.outgoing[0].body.ends_with("this message and keep [Helpdesk #1042] in the subject line.\n\n-- \nExample Helpdesk\n"),
            "{:?}", plain.outgoing[0].body);
        // Internal articles, another language, or suggestions turned off: nothing offered.
        let mut french = article(15, None, ArticleVisibility::Public);
        french.text.language = "fr".into();
        let knowledge = KnowledgeInput {
            suggestions: vec![article(16, None, ArticleVisibility::Internal), french],
            ..KnowledgeInput::NONE
        };
        assert_eq!(
            decide_with(&policy(), &knowledge).outgoing[0].body,
            plain.outgoing[0].body
        );
        let mut quiet = policy();
        quiet.knowledge.suggest = false;
        let knowledge = KnowledgeInput {
            suggestions: vec![article(12, None, ArticleVisibility::Public)],
            ..KnowledgeInput::NONE
        };
        let plan = decide_with(&quiet, &knowledge);
        assert_eq!(plan.outgoing[0].body, plain.outgoing[0].body);
        assert!(plan.knowledge.is_empty());
    }

    #[test]
    fn the_new_ticket_notice_lists_articles_and_similar_tickets() {
        let knowledge = KnowledgeInput {
            matches: vec![ArticleMatch {
                article: article(20, None, ArticleVisibility::Internal),
                score: 9.0,
                confident: false,
            }],
            similar: vec![ResolvedTicket {
                number: TicketNumber(1001),
                subject: "Printer jammed again".into(),
                resolution: "Replaced the fuser".into(),
            }],
            ..KnowledgeInput::NONE
        };
        let plan = decide_with(&with_triager(), &knowledge);
        let notice = plan
            .outgoing
            .iter()
            .find(|m| m.kind == OutgoingKind::NewTicketNotice)
            .unwrap();
        assert!(
            notice
                .body
                .contains("[KB-20] Paper jam 20 (internal) (score 9.0)"),
            "{}",
            notice.body
        );
        assert!(notice
            .body
            .contains("#1001 Printer jammed again — Replaced the fuser"));
        let ack = &plan.outgoing[0];
        assert!(
            !ack.body.contains("KB-20"),
            "agents' matches never reach the requester"
        );

        let bare = decide_with(&with_triager(), &KnowledgeInput::NONE);
        let notice = bare
            .outgoing
            .iter()
            .find(|m| m.kind == OutgoingKind::NewTicketNotice)
            .unwrap();
        assert!(notice.body.contains("Thanks\n\n-- \n"), "{}", notice.body);
    }
}

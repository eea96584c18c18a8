//! The knowledge base's commands on a ticket: `#solved`, `#answer`, `#reply`, `#kb`,
//! `#publish` / `#retire`, each decided as a plain function call.

use super::tests::{mail_from, passing, passing_for, policy, ticket, updates};
use super::*;
use crate::core::knowledge::mail::{ArticleLink, KnowledgeAction, KnowledgeInput, KnownArticle};
use crate::core::knowledge::{
    Article, ArticleId, ArticleState, ArticleText, ArticleVisibility, KnowledgePolicy,
};
use crate::core::plan::HistoryEntry;
use crate::core::replies::SavedReply;

fn article(
    id: u64,
    title: &str,
    visibility: ArticleVisibility,
    state: ArticleState,
) -> KnownArticle {
    KnownArticle {
        article: Article {
            id: ArticleId(id),
            text: ArticleText {
                slug: format!("a{id}-en"),
                title: title.into(),
                body: format!("How to fix: {title}."),
                language: "en".into(),
                tags: vec![],
                queue: None,
                visibility,
            },
            state,
            version: 1,
            useful: 0,
            updated_at: 0,
        },
        drafted_by: "import".into(),
        source: None,
    }
}

fn knowledge() -> KnowledgeInput {
    KnowledgeInput {
        articles: vec![
            article(
                12,
                "Paper jam",
                ArticleVisibility::Public,
                ArticleState::Published,
            ),
            article(
                13,
                "Toner",
                ArticleVisibility::Public,
                ArticleState::Published,
            ),
            article(
                20,
                "Admin console",
                ArticleVisibility::Internal,
                ArticleState::Published,
            ),
            article(21, "Fuser", ArticleVisibility::Public, ArticleState::Draft),
        ],
        suggested: vec![ArticleId(12), ArticleId(13)],
        next_article: ArticleId(30),
        ..KnowledgeInput::NONE
    }
}

fn kb_policy() -> IntakePolicy {
    let mut policy = policy();
    policy.knowledge = KnowledgePolicy {
        editors: vec!["alice".into()],
        ..KnowledgePolicy::default()
    };
    policy.replies = vec![SavedReply {
        name: "password".into(),
        text: "Hello {requester_name}, reset it at https://id.example.com. {agent_name}".into(),
        translations: vec![],
    }];
    policy
}

fn decide_with(
    policy: &IntakePolicy,
    mail: &InboundMail,
    view: &TicketView,
    knowledge: &KnowledgeInput,
) -> IntakePlan {
    super::tests::decide_knowing(policy, mail, view, &[], 1_700_000_000, knowledge)
}

fn requester_mail(body: &str) -> InboundMail {
    mail_from("carla@client.example", body, passing_for("client.example"))
}

fn kinds_of(plan: &IntakePlan) -> Vec<EventKind> {
    plan.events.iter().map(|e| e.kind).collect()
}

#[test]
fn solved_resolves_the_ticket_by_the_first_suggested_article() {
    let plan = decide_with(
        &kb_policy(),
        &requester_mail("#solved\nThanks!"),
        &ticket(),
        &knowledge(),
    );
    let updates = updates(&plan);
    assert!(
        updates.contains(&TicketUpdate::Status(Status::Resolved)),
        "{updates:?}"
    );
    assert!(updates.iter().any(|u| matches!(u,
        TicketUpdate::Resolution(text) if text.contains("KB-12") && text.contains("Paper jam"))));
    assert_eq!(
        plan.knowledge,
        [KnowledgeAction::Link {
            id: ArticleId(12),
            ticket: TicketNumber(7),
            link: ArticleLink::Solved
        }]
    );
    assert!(kinds_of(&plan).contains(&EventKind::SolvedByArticle));
}

#[test]
fn solved_may_name_a_suggested_article_in_any_language() {
    for line in ["#solved KB-13", "#réglé KB-13", "#sistemato kb13"] {
        let plan = decide_with(&kb_policy(), &requester_mail(line), &ticket(), &knowledge());
        assert!(
            matches!(
                plan.knowledge.as_slice(),
                [KnowledgeAction::Link {
                    id: ArticleId(13),
                    link: ArticleLink::Solved,
                    ..
                }]
            ),
            "{line}: {:?}",
            plan.knowledge
        );
    }
}

#[test]
fn solved_without_a_suggestion_or_naming_another_article_changes_nothing() {
    let none = KnowledgeInput {
        suggested: vec![],
        ..knowledge()
    };
    let plan = decide_with(&kb_policy(), &requester_mail("#solved"), &ticket(), &none);
    assert!(plan.knowledge.is_empty());
    assert!(!updates(&plan).contains(&TicketUpdate::Status(Status::Resolved)));
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::CommandRefused
            && e.detail.contains("no article was suggested")));
    assert!(
        plan.outgoing
            .iter()
            .any(|m| m.kind == OutgoingKind::CommandReply && m.body.contains("#solved")),
        "the requester learns what she may do"
    );

    let plan = decide_with(
        &kb_policy(),
        &requester_mail("#solved KB-20"),
        &ticket(),
        &knowledge(),
    );
    assert!(plan.knowledge.is_empty());
    let stranger = mail_from(
        "mallory@evil.example",
        "#solved",
        passing_for("evil.example"),
    );
    let plan = decide_with(&kb_policy(), &stranger, &ticket(), &knowledge());
    assert!(plan.knowledge.is_empty() && plan.outgoing.is_empty());
}

#[test]
fn agents_cannot_say_solved() {
    let plan = decide_with(
        &kb_policy(),
        &mail_from("bob@corp.example", "#solved", passing()),
        &ticket(),
        &knowledge(),
    );
    assert!(plan.knowledge.is_empty());
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::CommandRefused));
}

#[test]
fn answer_sends_the_article_below_the_agents_words() {
    let mail = mail_from(
        "bob@corp.example",
        "#answer KB-12\nHello Carla, this should do it:",
        passing(),
    );
    let plan = decide_with(&kb_policy(), &mail, &ticket(), &knowledge());
    let relay = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::Relay)
        .expect("an answer");
    assert_eq!(relay.to[0].address, "carla@client.example");
    let words = relay.body.find("Hello Carla").unwrap();
    let article = relay.body.find("[KB-12] Paper jam").unwrap();
    assert!(words < article, "{}", relay.body);
    assert!(relay.body.contains("How to fix: Paper jam."));
    assert_eq!(
        plan.knowledge,
        [KnowledgeAction::Link {
            id: ArticleId(12),
            ticket: TicketNumber(7),
            link: ArticleLink::Answered
        }]
    );
    assert!(kinds_of(&plan).contains(&EventKind::ArticleAnswered));

    // With a link configured, the link goes instead of the text; alone, it is the whole answer.
    let mut linked = kb_policy();
    linked.knowledge.link = Some("https://kb.example.com/{slug}".into());
    let plan = decide_with(
        &linked,
        &mail_from("bob@corp.example", "#answer KB-12", passing()),
        &ticket(),
        &knowledge(),
    );
    let relay = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::Relay)
        .expect("an answer");
    assert!(
        relay.body.contains("https://kb.example.com/a12-en"),
        "{}",
        relay.body
    );
    assert!(!relay.body.contains("How to fix"));
}

#[test]
fn internal_drafts_and_unknown_articles_are_not_sent() {
    for (line, why) in [
        ("#answer KB-20", "internal"),
        ("#answer KB-21", "draft"),
        ("#answer KB-99", "there is no article KB-99"),
    ] {
        let plan = decide_with(
            &kb_policy(),
            &mail_from("bob@corp.example", line, passing()),
            &ticket(),
            &knowledge(),
        );
        assert!(
            !plan.outgoing.iter().any(|m| m.kind == OutgoingKind::Relay),
            "{line}"
        );
        let reply = plan
            .outgoing
            .iter()
            .find(|m| m.kind == OutgoingKind::CommandReply)
            .expect(line);
        assert_eq!(reply.to[0].address, "bob@corp.example");
        assert!(reply.body.contains(why), "{line}: {}", reply.body);
        assert!(plan.knowledge.is_empty());
    }
}

#[test]
fn a_saved_reply_is_filled_in_or_the_known_names_are_listed() {
    let plan = decide_with(
        &kb_policy(),
        &mail_from("bob@corp.example", "#reply PASSWORD", passing()),
        &ticket(),
        &knowledge(),
    );
    let relay = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::Relay)
        .expect("an answer");
    assert!(
        relay
            .body
            .contains("Hello Carla, reset it at https://id.example.com. bob Martin"),
        "{}",
        relay.body
    );
    assert!(kinds_of(&plan).contains(&EventKind::SavedReplySent));

    let plan = decide_with(
        &kb_policy(),
        &mail_from("bob@corp.example", "#reply vpn", passing()),
        &ticket(),
        &knowledge(),
    );
    let reply = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::CommandReply)
        .expect("a refusal");
    assert!(
        reply.body.contains("there is no saved reply called vpn"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("saved replies: password"),
        "{}",
        reply.body
    );
}

fn resolved_ticket() -> TicketView {
    let mut view = ticket();
    view.requester = Mailbox::new(Some("Carla Rossi"), "carla@client.example");
    view.status = Status::Resolved;
    view.assignee = Some("bob".into());
    view.resolution =
        Some("Replaced the fuser; call Carla at +33 6 12 34 56 78 if it jams.".into());
    view.history.push(HistoryEntry {
        at: 0,
        from: "carla@client.example".into(),
        visibility: Visibility::Public,
        text: "Hello, I am Carla Rossi (carla@client.example). The printer jams on every page."
            .into(),
        attachments: vec![],
    });
    view
}

#[test]
fn kb_drafts_a_scrubbed_article_and_mails_it_to_the_editors_and_assignee() {
    let view = resolved_ticket();
    let plan = decide_with(
        &kb_policy(),
        &mail_from(
            "bob@corp.example",
            "#kb Printer jams on every page",
            passing(),
        ),
        &view,
        &knowledge(),
    );
    let [KnowledgeAction::Create {
        id,
        text,
        by,
        source,
        ..
    }] = plan.knowledge.as_slice()
    else {
        panic!("{:?}", plan.knowledge)
    };
    assert_eq!(
        (*id, by.as_str(), *source),
        (ArticleId(30), "bob", Some(TicketNumber(7)))
    );
    assert_eq!(text.title, "Printer jams on every page");
    assert_eq!(text.language, "en");
    assert_eq!(text.queue.as_deref(), Some("general"));
    assert_eq!(text.visibility, ArticleVisibility::Public);
    assert!(
        text.body.contains("The printer jams on every page."),
        "{}",
        text.body
    );
    assert!(text.body.contains("Replaced the fuser"), "{}", text.body);
    for personal in ["Carla", "Rossi", "carla@client.example", "12 34 56 78"] {
        assert!(
            !text.body.contains(personal),
            "{personal} left in {}",
            text.body
        );
    }
    let draft = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::ArticleDraft)
        .expect("a draft mail");
    assert_eq!(draft.subject, "[KB-30] Printer jams on every page");
    assert_eq!(draft.ticket, None);
    assert!(
        draft.message_id.starts_with("guichet.kb-30."),
        "{}",
        draft.message_id
    );
    let to: Vec<&str> = draft.to.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(
        to,
        ["alice@corp.example", "bob@corp.example"],
        "the editor, then the drafter and assignee"
    );
    assert!(draft.body.contains("#publish") && draft.body.contains("Replaced the fuser"));
    assert!(kinds_of(&plan).contains(&EventKind::ArticleDrafted));
}

#[test]
fn kb_with_resolve_in_the_same_mail_and_kb_internal() {
    let mut view = resolved_ticket();
    view.status = Status::Open;
    view.resolution = None;
    let mail = mail_from(
        "bob@corp.example",
        "#resolve Cleaned the rollers.\n#kb internal",
        passing(),
    );
    let plan = decide_with(&kb_policy(), &mail, &view, &knowledge());
    let [KnowledgeAction::Create { text, .. }] = plan.knowledge.as_slice() else {
        panic!("{:?}", plan.events)
    };
    assert_eq!(
        text.title, "Printer",
        "the ticket's subject when #kb names no title"
    );
    assert_eq!(text.visibility, ArticleVisibility::Internal);
    assert!(text.body.contains("Cleaned the rollers."));
}

#[test]
fn kb_on_an_open_ticket_is_refused() {
    let mut view = resolved_ticket();
    view.status = Status::Open;
    let plan = decide_with(
        &kb_policy(),
        &mail_from("bob@corp.example", "#kb", passing()),
        &view,
        &knowledge(),
    );
    assert!(plan.knowledge.is_empty());
    let reply = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::CommandReply)
        .expect("a refusal");
    assert!(
        reply.body.contains("#kb drafts from a resolved ticket"),
        "{}",
        reply.body
    );
}

#[test]
fn only_editors_and_the_drafter_publish_from_a_ticket() {
    let mut input = knowledge();
    input.articles[3].drafted_by = "carol".into();
    let view = ticket();
    let plan = decide_with(
        &kb_policy(),
        &mail_from("bob@corp.example", "#publish KB-21", passing()),
        &view,
        &input,
    );
    assert!(plan.knowledge.is_empty());
    assert!(plan
        .outgoing
        .iter()
        .any(|m| m.kind == OutgoingKind::CommandReply
            && m.body.contains("only the knowledge editors (alice)")));

    let plan = decide_with(
        &kb_policy(),
        &mail_from("alice@corp.example", "#publish KB-21", passing()),
        &view,
        &input,
    );
    assert_eq!(
        plan.knowledge,
        [KnowledgeAction::SetState {
            id: ArticleId(21),
            state: ArticleState::Published,
            by: "alice".into()
        }]
    );
    assert!(kinds_of(&plan).contains(&EventKind::ArticlePublished));

    input.articles[3].drafted_by = "bob".into();
    let plan = decide_with(
        &kb_policy(),
        &mail_from("bob@corp.example", "#publier KB-21", passing()),
        &view,
        &input,
    );
    assert_eq!(plan.knowledge.len(), 1, "the drafter may publish");

    let plan = decide_with(
        &kb_policy(),
        &mail_from("alice@corp.example", "#publish", passing()),
        &view,
        &input,
    );
    assert!(
        plan.knowledge.is_empty(),
        "a ticket's #publish names its article"
    );
    let plan = decide_with(
        &kb_policy(),
        &mail_from("alice@corp.example", "#retire KB-21", passing()),
        &view,
        &input,
    );
    assert_eq!(plan.knowledge.len(), 1, "a draft may be retired");
    let plan = decide_with(
        &kb_policy(),
        &mail_from("alice@corp.example", "#publish KB-12", passing()),
        &view,
        &input,
    );
    assert!(plan.knowledge.is_empty(), "already published");
}

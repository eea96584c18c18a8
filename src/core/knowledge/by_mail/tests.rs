use super::*;
use crate::core::auth_results::parse_header;
use crate::core::knowledge::mail::KnowledgeAction;
use crate::core::knowledge::{Article, ArticleVisibility};
use crate::core::people::{AgentRole, Trust};

fn policy() -> IntakePolicy {
    let mut policy = crate::core::intake::tests::policy_for("support@desk.example.test");
    policy.knowledge.address = Some("kb@desk.example.test".into());
    policy.knowledge.editors = vec!["alice".into()];
    policy.trust = Trust::AuthenticationResults(vec!["mx.desk.example.test".into()]);
    policy.directory.agents = ["alice", "bob"]
        .iter()
        .map(|name| Agent {
            name: name.to_string(),
            display_name: format!("{name} Agent"),
            addresses: vec![format!("{name}@corp.example")],
            role: AgentRole::Agent,
            queues: vec![],
            levels: vec![],
            token: None,
            language: None,
            away: false,
            external: None,
        })
        .collect();
    policy
}

fn mail(from: &str, subject: &str, body: &str, authenticated: bool) -> InboundMail {
    InboundMail {
        from: Some(Mailbox::new(None, from)),
        to: vec![Mailbox::new(None, "support@desk.example.test")],
        subject: subject.into(),
        text: body.into(),
        message_id: Some("m1@corp.example".into()),
        auth_results: match authenticated {
            true => {
                vec![parse_header("mx.desk.example.test; dkim=pass header.d=corp.example").unwrap()]
            }
            false => vec![],
        },
        ..InboundMail::default()
    }
}

fn draft(drafted_by: &str) -> KnownArticle {
    KnownArticle {
        article: Article {
            id: ArticleId(12),
            text: ArticleText {
                slug: "vpn-en".into(),
                title: "VPN certificate".into(),
                body: "Renew it from the portal.".into(),
                language: "en".into(),
                tags: vec![],
                queue: Some("it".into()),
                visibility: ArticleVisibility::Public,
            },
            state: ArticleState::Draft,
            version: 1,
            useful: 0,
            updated_at: 0,
        },
        drafted_by: drafted_by.into(),
        source: Some(TicketNumber(7)),
    }
}

fn plan(
    mail: &InboundMail,
    route: ArticleRoute,
    article: Option<&KnownArticle>,
) -> ArticleMailPlan {
    let input = ArticleMailInput {
        mail,
        route,
        article,
        next_article: ArticleId(40),
        auto_replies_last_hour: 0,
        id_seed: "seed",
    };
    plan_article_mail(&policy(), &input)
}

fn applied(plan: ArticleMailPlan) -> ArticlePlan {
    match plan {
        ArticleMailPlan::Apply(plan) => plan,
        other => panic!("expected a plan: {other:?}"),
    }
}

#[test]
fn an_agents_mail_to_the_knowledge_address_drafts_an_article() {
    let mut to_kb = mail(
        "bob@corp.example",
        "Fwd: Réserver une salle",
        "Pour réserver une salle de réunion, ouvrez le calendrier et choisissez la salle.",
        true,
    );
    to_kb.to = vec![Mailbox::new(None, "kb@desk.example.test")];
    let plan = applied(plan(&to_kb, ArticleRoute::NewDraft, None));
    let [KnowledgeAction::Create {
        id,
        text,
        by,
        source,
        ..
    }] = plan.actions.as_slice()
    else {
        panic!("{plan:?}")
    };
    assert_eq!((*id, by.as_str(), *source), (ArticleId(40), "bob", None));
    assert_eq!(text.title, "Réserver une salle");
    assert_eq!(text.language, "fr", "guessed from the text");
    assert_eq!(text.visibility, ArticleVisibility::Public);
    let [draft] = plan.outgoing.as_slice() else {
        panic!("{:?}", plan.outgoing)
    };
    assert_eq!(draft.kind, OutgoingKind::ArticleDraft);
    assert_eq!(draft.subject, "[KB-40] Réserver une salle");
    let to: Vec<&str> = draft.to.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(to, ["alice@corp.example", "bob@corp.example"]);
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::ArticleDrafted));

    let internal = mail(
        "bob@corp.example",
        "VPN",
        "#kb internal\nUse the admin console.",
        true,
    );
    let plan = applied(plan_article_mail(
        &policy(),
        &ArticleMailInput {
            mail: &internal,
            route: ArticleRoute::NewDraft,
            article: None,
            next_article: ArticleId(41),
            auto_replies_last_hour: 0,
            id_seed: "s",
        },
    ));
    assert!(
        matches!(&plan.actions[..], [KnowledgeAction::Create { text, .. }]
        if text.visibility == ArticleVisibility::Internal && text.body == "Use the admin console.")
    );
}

#[test]
fn strangers_are_quarantined_and_never_publish() {
    for route in [ArticleRoute::NewDraft, ArticleRoute::Article(ArticleId(12))] {
        let stranger = mail("mallory@evil.example", "Re: [KB-12] VPN", "#publish", true);
        let ArticleMailPlan::Quarantine(reason) = plan(&stranger, route, Some(&draft("bob")))
        else {
            panic!("{route:?}")
        };
        assert!(
            reason.contains("mallory@evil.example") && reason.contains("not an agent"),
            "{reason}"
        );
    }
}

#[test]
fn an_unauthenticated_agent_changes_nothing_and_gets_no_reply() {
    let forged = mail("alice@corp.example", "Re: [KB-12] VPN", "#publish", false);
    let plan = applied(plan(
        &forged,
        ArticleRoute::Article(ArticleId(12)),
        Some(&draft("bob")),
    ));
    assert!(
        plan.actions.is_empty() && plan.outgoing.is_empty(),
        "{plan:?}"
    );
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::CommandRefused));
    assert_eq!(
        plan.ticket,
        Some(TicketNumber(7)),
        "events go to the source ticket"
    );
}

#[test]
fn editors_and_the_drafter_publish_others_are_told_why_not() {
    let route = ArticleRoute::Article(ArticleId(12));
    let publish = mail(
        "alice@corp.example",
        "Re: [KB-12] VPN",
        "#publish\n\nLooks good.",
        true,
    );
    let plan = applied(plan(&publish, route, Some(&draft("carol"))));
    assert_eq!(
        plan.actions,
        [KnowledgeAction::SetState {
            id: ArticleId(12),
            state: ArticleState::Published,
            by: "alice".into()
        }]
    );
    assert!(
        plan.outgoing.is_empty(),
        "a command is applied silently, like on tickets"
    );

    let by_bob = mail("bob@corp.example", "Re: [KB-12] VPN", "#publish", true);
    let plan = applied(self::plan(&by_bob, route, Some(&draft("carol"))));
    assert!(plan.actions.is_empty());
    let [reply] = plan.outgoing.as_slice() else {
        panic!("{:?}", plan.outgoing)
    };
    assert_eq!(reply.kind, OutgoingKind::CommandReply);
    assert_eq!(reply.to[0].address, "bob@corp.example");
    assert_eq!(reply.in_reply_to.as_deref(), Some("m1@corp.example"));
    assert!(
        reply.body.contains("only the knowledge editors (alice)"),
        "{}",
        reply.body
    );
    assert!(reply.subject.starts_with("[KB-12]"), "{}", reply.subject);

    let plan = applied(self::plan(&by_bob, route, Some(&draft("bob"))));
    assert_eq!(plan.actions.len(), 1, "the drafter may publish");
    let retire = mail("alice@corp.example", "Re: [KB-12] VPN", "#retirer", true);
    assert_eq!(
        applied(self::plan(&retire, route, Some(&draft("bob"))))
            .actions
            .len(),
        1
    );
    let other = mail(
        "alice@corp.example",
        "Re: [KB-12] VPN",
        "#publish KB-13",
        true,
    );
    assert!(applied(self::plan(&other, route, Some(&draft("bob"))))
        .actions
        .is_empty());
    let missing = applied(self::plan(
        &publish,
        ArticleRoute::Article(ArticleId(99)),
        None,
    ));
    assert!(missing.actions.is_empty());
    assert!(missing.outgoing[0]
        .body
        .contains("there is no article KB-99"));
}

#[test]
fn a_corrected_text_is_the_next_version_mailed_back() {
    let route = ArticleRoute::Article(ArticleId(12));
    let reply = mail(
        "alice@corp.example",
        "Re: [KB-12] VPN certificate",
        "Title: VPN certificate expired\nRenew it from the portal, then restart the client.\n\n\
         On Monday, Helpdesk <support@desk.example.test> wrote:\n> Renew it from the portal.",
        true,
    );
    let plan = applied(plan(&reply, route, Some(&draft("bob"))));
    let [KnowledgeAction::Revise { id, text, by, .. }] = plan.actions.as_slice() else {
        panic!("{plan:?}")
    };
    assert_eq!((*id, by.as_str()), (ArticleId(12), "alice"));
    assert_eq!(text.title, "VPN certificate expired");
    assert_eq!(
        text.body, "Renew it from the portal, then restart the client.",
        "quotes cut"
    );
    assert_eq!(text.slug, "vpn-en");
    let [again] = plan.outgoing.as_slice() else {
        panic!("{:?}", plan.outgoing)
    };
    assert_eq!(again.kind, OutgoingKind::ArticleDraft);
    assert!(again.body.contains("version 2 of KB-12"), "{}", again.body);
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::ArticleRevised));

    let by_bob = mail(
        "carol@corp.example",
        "Re: [KB-12] VPN certificate",
        "New text",
        true,
    );
    assert!(
        matches!(
            plan_article_mail(
                &policy(),
                &ArticleMailInput {
                    mail: &by_bob,
                    route,
                    article: Some(&draft("bob")),
                    next_article: ArticleId(40),
                    auto_replies_last_hour: 0,
                    id_seed: "s",
                }
            ),
            ArticleMailPlan::Quarantine(_)
        ),
        "carol is no agent"
    );
}

#[test]
fn an_agents_out_of_office_changes_nothing() {
    let mut away = mail(
        "alice@corp.example",
        "Re: [KB-12] VPN",
        "I am away until Monday.",
        true,
    );
    away.loop_signals.auto_submitted = Some("auto-replied".into());
    let plan = applied(plan(
        &away,
        ArticleRoute::Article(ArticleId(12)),
        Some(&draft("bob")),
    ));
    assert!(plan.actions.is_empty() && plan.outgoing.is_empty());
}

#[test]
fn the_knowledge_language_is_guessed_else_the_default() {
    let policy = policy();
    assert_eq!(
        knowledge_language(&policy, "Buongiorno, non riesco a stampare il documento"),
        "it"
    );
    assert_eq!(knowledge_language(&policy, "12345"), "en");
    let mut french_only = policy.clone();
    french_only.knowledge.languages = vec!["fr".into()];
    assert_eq!(
        knowledge_language(&french_only, "Hello, the printer is broken"),
        "fr"
    );
}

#[test]
fn a_thank_you_reply_leaves_the_article_and_says_why() {
    let route = ArticleRoute::Article(ArticleId(12));
    let mut long = draft("bob");
    long.article.text.body =
        "Open the VPN portal, sign in, choose Renew certificate, wait for the \
                              mail that confirms it, then restart the VPN client."
            .into();
    let thanks = mail(
        "alice@corp.example",
        "Re: [KB-12] VPN",
        "Thanks, fine by me.",
        true,
    );
    let plan = applied(plan(&thanks, route, Some(&long)));
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let [reply] = plan.outgoing.as_slice() else {
        panic!("{:?}", plan.outgoing)
    };
    assert_eq!(reply.kind, OutgoingKind::CommandReply);
    assert!(reply.body.contains("much shorter"), "{}", reply.body);
}

use super::*;
use crate::core::people::Agent;

fn policy() -> IntakePolicy {
    let mut policy = crate::core::intake::tests::policy_for("support@desk.example.test");
    policy.knowledge.address = Some("kb@desk.example.test".into());
    policy.knowledge.editors = vec!["alice".into()];
    policy.knowledge.queue_editors = vec![("facilities".into(), vec!["fred".into()])];
    policy.directory.agents = ["alice", "bob", "fred", "root"]
        .iter()
        .map(|name| agent(name))
        .collect();
    policy.directory.agents[3].role = AgentRole::Admin;
    policy
}

fn agent(name: &str) -> Agent {
    Agent {
        name: name.into(),
        display_name: format!("{name} Agent"),
        addresses: vec![format!("{name}@desk.example.test")],
        role: AgentRole::Agent,
        queues: vec![],
        levels: vec![],
        token: None,
        language: None,
        away: false,
        external: None,
    }
}

fn known(queue: Option<&str>, drafted_by: &str) -> KnownArticle {
    KnownArticle {
        article: Article {
            id: ArticleId(12),
            text: ArticleText {
                slug: "badge-lost-en".into(),
                title: "Lost badge".into(),
                body: "Call the front desk.".into(),
                language: "en".into(),
                tags: vec![],
                queue: queue.map(str::to_string),
                visibility: ArticleVisibility::Public,
            },
            state: ArticleState::Draft,
            version: 1,
            useful: 0,
            updated_at: 0,
        },
        drafted_by: drafted_by.into(),
        source: None,
    }
}

fn mail(subject: &str) -> InboundMail {
    InboundMail {
        from: Some(Mailbox::new(None, "bob@desk.example.test")),
        to: vec![Mailbox::new(None, "support@desk.example.test")],
        subject: subject.into(),
        ..InboundMail::default()
    }
}

#[test]
fn article_tags_and_message_ids_name_articles() {
    assert_eq!(article_tag("Re: [KB-12] Lost badge"), Some(ArticleId(12)));
    assert_eq!(article_tag("RE: [kb-7]"), Some(ArticleId(7)));
    assert_eq!(article_tag("[Helpdesk #12] Lost badge"), None);
    assert_eq!(article_tag("[KB-x] [KB-0] no"), None);
    assert_eq!(subject_tag(ArticleId(3)), "[KB-3]");
    let id = article_message_id(
        ArticleId(42),
        OutgoingKind::ArticleDraft,
        "s.1",
        "desk.example.test",
    );
    assert_eq!(id, "guichet.kb-42.article_draft.s.1@desk.example.test");
    assert_eq!(
        article_of_message_id(&id, "desk.example.test"),
        Some(ArticleId(42))
    );
    assert_eq!(
        article_of_message_id(&id, "evil.example"),
        None,
        "only our own domain"
    );
    assert_eq!(
        article_of_message_id(
            "guichet.1042.relay.s@desk.example.test",
            "desk.example.test"
        ),
        None
    );
}

#[test]
fn mail_about_an_article_or_to_the_knowledge_address_is_routed_there() {
    let policy = policy();
    assert_eq!(
        article_route(&mail("Re: [KB-12] Lost badge"), &policy),
        Some(ArticleRoute::Article(ArticleId(12)))
    );
    let mut reply = mail("Re: Lost badge");
    reply.in_reply_to = vec!["guichet.kb-5.article_draft.x@desk.example.test".into()];
    assert_eq!(
        article_route(&reply, &policy),
        Some(ArticleRoute::Article(ArticleId(5)))
    );
    let mut to_kb = mail("How to book a room");
    to_kb.to = vec![Mailbox::new(None, "kb+rooms@desk.example.test")];
    assert_eq!(article_route(&to_kb, &policy), Some(ArticleRoute::NewDraft));
    assert_eq!(
        article_route(&mail("Re: [Helpdesk #7] about [KB-12]"), &policy),
        None,
        "a ticket's tag wins"
    );
    assert_eq!(article_route(&mail("Printer"), &policy), None);
    let mut no_address = policy.clone();
    no_address.knowledge.address = None;
    assert_eq!(article_route(&to_kb, &no_address), None);
}

#[test]
fn editors_admins_and_the_drafter_may_edit_no_one_else() {
    let policy = policy();
    let by = |name: &str| policy.directory.agent_by_name(name).unwrap().clone();
    let article = known(Some("facilities"), "import");
    assert_eq!(
        edit_refusal(&policy, &by("alice"), &article),
        None,
        "editor of every queue"
    );
    assert_eq!(
        edit_refusal(&policy, &by("fred"), &article),
        None,
        "the queue's editor"
    );
    assert_eq!(edit_refusal(&policy, &by("root"), &article), None, "admin");
    let refusal = edit_refusal(&policy, &by("bob"), &article).unwrap();
    assert!(
        refusal.contains("(fred, alice)") && refusal.contains("KB-12"),
        "{refusal}"
    );
    assert_eq!(
        edit_refusal(&policy, &by("bob"), &known(Some("it"), "bob")),
        None,
        "drafter"
    );
    assert!(
        edit_refusal(&policy, &by("fred"), &known(Some("it"), "bob")).is_some(),
        "another queue's editor"
    );
}

#[test]
fn a_draft_from_a_ticket_is_scrubbed_and_in_the_tickets_language() {
    let names = ["Hélène Marchand", "Bob Agent"];
    let text = draft_from_ticket(&TicketDraft {
        title: None,
        subject: "Badge perdu pour Hélène",
        internal: false,
        question: "Bonjour, j'ai perdu mon badge. Hélène Marchand, 06 12 34 56 78",
        resolution:
            "Badge désactivé par Bob Agent, nouveau badge à l'accueil (accueil@corp.example).",
        language: Language::Fr,
        queue: "facilities",
        names: &names,
    });
    assert_eq!(text.title, "Badge perdu pour [name]");
    assert_eq!(text.slug, "badge-perdu-pour-name-fr");
    assert_eq!(text.language, "fr");
    assert_eq!(text.queue.as_deref(), Some("facilities"));
    assert_eq!(
        text.body,
        "**Question**\n\nBonjour, j'ai perdu mon badge. [name], [phone]\n\n**Solution**\n\n\
         Badge désactivé par [name], nouveau badge à l'accueil ([address])."
    );
    assert!(super::super::check_article(&text, &["fr".into()]).is_ok());
    let italian = draft_from_ticket(&TicketDraft {
        title: Some("Badge smarrito"),
        internal: true,
        language: Language::It,
        ..TicketDraft {
            title: None,
            subject: "x",
            internal: false,
            question: "q",
            resolution: "r",
            language: Language::En,
            queue: "q",
            names: &[],
        }
    });
    assert_eq!(italian.title, "Badge smarrito");
    assert!(italian.body.starts_with("**Domanda**"));
    assert_eq!(italian.visibility, ArticleVisibility::Internal);
}

#[test]
fn a_reply_becomes_the_next_version_and_may_retitle() {
    let current = known(None, "bob").article.text;
    let next = revised_text(
        &current,
        "Title: Lost or stolen badge\n\nCall the desk, then HR.",
    )
    .unwrap();
    assert_eq!(next.title, "Lost or stolen badge");
    assert_eq!(next.body, "Call the desk, then HR.");
    assert_eq!(
        next.slug, current.slug,
        "the slug stays: links keep working"
    );
    let body_only = revised_text(&current, "Call the front desk at once.").unwrap();
    assert_eq!(
        (body_only.title.as_str(), body_only.body.as_str()),
        ("Lost badge", "Call the front desk at once.")
    );
    let title_only = revised_text(&current, "Titre : Badge perdu").unwrap();
    assert_eq!(
        (title_only.title.as_str(), title_only.body.as_str()),
        ("Badge perdu", "Call the front desk.")
    );
    assert_eq!(revised_text(&current, "  \n"), None);
}

#[test]
fn a_short_remark_is_not_a_new_text() {
    let mut current = known(None, "bob").article.text;
    current.body =
        "1. Call the front desk.\n2. Block the badge in the portal.\n3. Collect a new one.".into();
    let thanks = revised_text(&current, "Thanks, looks good").unwrap();
    let refusal = revision_refusal(&current, &thanks).unwrap();
    assert!(refusal.contains("much shorter"), "{refusal}");
    let corrected = revised_text(
        &current,
        "1. Call the front desk.\n2. Block the badge in the portal.\n3. Collect it at HR.",
    )
    .unwrap();
    assert_eq!(revision_refusal(&current, &corrected), None);
    let retitled = revised_text(&current, "Title: Lost or stolen badge").unwrap();
    assert_eq!(revision_refusal(&current, &retitled), None);
}

#[test]
fn suggestions_read_as_before_when_there_are_none() {
    assert_eq!(suggestions_text(&[], Language::En, None), "");
    let article = known(None, "bob").article;
    let one = suggestions_text(&[&article], Language::En, None);
    assert!(
        one.contains("[KB-12] Lost badge\n\nCall the front desk."),
        "{one}"
    );
    assert!(one.contains("If one of these answers your question, reply with #solved."));
    assert!(!one.contains("#solved KB-12"), "one article needs no name");
    let mut other = article.clone();
    other.id = ArticleId(13);
    let two = suggestions_text(
        &[&article, &other],
        Language::Fr,
        Some("https://kb.example.com/{id}"),
    );
    assert!(
        two.contains("Si l'un d'eux répond à votre question, répondez avec #solved."),
        "{two}"
    );
    assert!(two.contains("https://kb.example.com/12") && two.contains("https://kb.example.com/13"));
    assert!(
        !two.contains("Call the front desk"),
        "the link instead of the text"
    );
    assert!(two.contains("#solved KB-12"));
    assert!(suggestions_text(&[&article], Language::It, None).contains("risponda con #solved"));
}

#[test]
fn agents_see_matches_internal_marked_and_similar_tickets_on_one_line() {
    let mut internal = known(None, "bob").article;
    internal.text.visibility = ArticleVisibility::Internal;
    let found = [ArticleMatch {
        article: internal,
        score: 12.34,
        confident: true,
    }];
    let similar = [ResolvedTicket {
        number: TicketNumber(1042),
        subject: "Badge lost".into(),
        resolution: "Disabled it;\nnew one at the desk".into(),
    }];
    let text = agents_text(&found.iter().collect::<Vec<_>>(), &similar, Language::En);
    assert!(
        text.contains("[KB-12] Lost badge (internal) (score 12.3, confident)"),
        "{text}"
    );
    assert!(
        text.contains("#1042 Badge lost — Disabled it; new one at the desk\n"),
        "{text}"
    );
    assert_eq!(agents_text(&[], &[], Language::En), "");
}

use super::*;
use crate::core::auth_results::{parse_header, AuthResultsHeader};
use crate::core::intake::decide_intake;
use crate::core::people::{AgentRole, Directory, Queue};
use crate::core::personal_thread::ThreadMessage;
use crate::core::plan::IntakeInput;
use crate::core::threading::{ThreadDecision, ThreadVia};

pub(super) fn public_mail(id: &str, from: &str, to: &str) -> ThreadMessage {
    ThreadMessage {
        message_id: id.into(),
        from: from.into(),
        recipients: vec![to.into()],
        visibility: Visibility::Public,
    }
}

pub(super) fn agent(name: &str, role: AgentRole, levels: &[u8]) -> Agent {
    Agent {
        name: name.into(),
        display_name: format!("{name} Martin"),
        addresses: vec![format!("{name}@corp.example")],
        role,
        queues: vec![],
        levels: levels.iter().map(|l| Level::new(*l).unwrap()).collect(),
        token: None,
        language: None,
        away: false,
        external: None,
    }
}

pub(super) fn policy() -> IntakePolicy {
    let mut policy = crate::core::intake::tests::policy_for("support@corp.example");
    policy.guess_language = false;
    policy.support.name = Some("Helpdesk".into());
    policy.directory = Directory {
        agents: vec![
            agent("alice", AgentRole::Triager, &[1, 2]),
            agent("bob", AgentRole::Agent, &[1, 2]),
            agent("acme", AgentRole::Agent, &[4]),
        ],
        queues: vec![Queue {
            name: "hardware".into(),
            triagers: vec!["hw-lead@corp.example".into()],
            assignment: Default::default(),
        }],
        ..Directory::default()
    };
    policy.trust = Trust::AuthenticationResults(vec!["mx.corp.example".into()]);
    policy.comment_address = Some("support-comment@corp.example".into());
    policy
}

pub(super) fn passing_for(domain: &str) -> Vec<AuthResultsHeader> {
    vec![parse_header(&format!("mx.corp.example; dkim=pass header.d={domain}")).unwrap()]
}

pub(super) fn passing() -> Vec<AuthResultsHeader> {
    passing_for("corp.example")
}

pub(super) fn mail_from(from: &str, body: &str, auth: Vec<AuthResultsHeader>) -> InboundMail {
    InboundMail {
        from: Some(Mailbox::new(None, from)),
        to: vec![Mailbox::new(None, "support@corp.example")],
        subject: "Re: [Helpdesk #7] Printer".into(),
        text: body.into(),
        auth_results: auth,
        ..InboundMail::default()
    }
}

pub(super) fn ticket() -> TicketView {
    let mut view = TicketView::new(
        TicketNumber(7),
        Mailbox::new(Some("Carla"), "carla@client.example"),
    );
    view.subject = "Printer".into();
    view.cc = vec![Mailbox::new(None, "dan@client.example")];
    view.participants.push("dan@client.example".into());
    view
}

pub(super) fn decide(mail: &InboundMail, view: &TicketView, others: &[TicketView]) -> IntakePlan {
    decide_at(&policy(), mail, view, others, 1_700_000_000)
}

pub(super) fn decide_at(
    policy: &IntakePolicy,
    mail: &InboundMail,
    view: &TicketView,
    others: &[TicketView],
    now: i64,
) -> IntakePlan {
    decide_knowing(
        policy,
        mail,
        view,
        others,
        now,
        &crate::core::knowledge::mail::NO_KNOWLEDGE,
    )
}

/// A mail on `view`'s ticket, by its tag, with what the store found in the knowledge base.
pub(super) fn decide_knowing(
    policy: &IntakePolicy,
    mail: &InboundMail,
    view: &TicketView,
    others: &[TicketView],
    now: i64,
    knowledge: &crate::core::knowledge::mail::KnowledgeInput,
) -> IntakePlan {
    let thread = ThreadDecision::Existing {
        ticket: view.number,
        via: ThreadVia::SubjectTag {
            tagged: view.number,
        },
    };
    let input = IntakeInput {
        mail,
        thread: &thread,
        ticket: Some(view),
        next_number: TicketNumber(99),
        auto_replies_last_hour: 0,
        now,
        id_seed: "seed",
        queue: None,
        others,
        workloads: &[],
        knowledge,
    };
    decide_intake(policy, &input).unwrap()
}

pub(super) fn updates(plan: &IntakePlan) -> Vec<TicketUpdate> {
    match &plan.change {
        TicketChange::Append { updates } => updates.clone(),
        other => panic!("{other:?}"),
    }
}

fn kinds(plan: &IntakePlan) -> Vec<OutgoingKind> {
    plan.outgoing.iter().map(|m| m.kind).collect()
}

#[test]
fn a_triager_assigns_and_prioritises_and_the_requester_sees_none_of_it() {
    let plan = decide(
        &mail_from(
            "alice@corp.example",
            "#assign bob\n#priority high\n",
            passing(),
        ),
        &ticket(),
        &[],
    );
    assert_eq!(
        updates(&plan),
        vec![
            TicketUpdate::Assignee(Some("bob".into())),
            TicketUpdate::Status(Status::Open),
            TicketUpdate::Priority(Priority::High)
        ]
    );
    assert_eq!(
        kinds(&plan),
        vec![OutgoingKind::AssignmentNotice],
        "no relay: the mail had no text"
    );
    assert_eq!(plan.outgoing[0].to[0].address, "bob@corp.example");
    assert!(plan.outgoing[0]
        .subject
        .starts_with("[Helpdesk #7] Assigned to you"));
    assert_eq!(
        plan.events
            .iter()
            .filter(|e| e.kind == EventKind::CommandApplied)
            .count(),
        2
    );
    assert!(plan.events.iter().all(|e| e.actor == "alice@corp.example"));
}

/// Issue 9: command lines above the quoted notice, and nothing else, relay nothing: not
/// the notice, not its cheat-sheet.
#[test]
fn commands_above_a_quoted_notice_relay_nothing() {
    for quoted in [
        "On Mon, Mar 4, 2024 at 9:12 AM Helpdesk <support@corp.example> wrote:\n\n> [Helpdesk #7] New ticket from carla@client.example\n> Commands: #assign NAME, #priority LEVEL\n",
        "________________________________\nFrom: Helpdesk <support@corp.example>\nSent: Monday, March 4, 2024 9:12 AM\nTo: alice <alice@corp.example>\nSubject: [Helpdesk #7] New ticket\n\nCommands: #assign NAME, #priority LEVEL\n",
        "Am 04.03.2024 um 09:12 schrieb Helpdesk:\nCommands: #assign NAME, #priority LEVEL\n",
    ] {
        let body = format!("#assign bob\n#priority high\n\n{quoted}");
        let plan = decide(&mail_from("alice@corp.example", &body, passing()), &ticket(), &[]);
        assert_eq!(kinds(&plan), vec![OutgoingKind::AssignmentNotice], "{quoted}");
        assert_eq!(plan.stored_text, "", "{quoted}");
        assert!(plan.outgoing.iter().all(|m| !m.body.contains("Commands: #assign")));
    }
}

#[test]
fn an_agents_answer_goes_to_the_requester_without_the_command_lines_or_quotes() {
    let body =
        "#status pending\nHello Carla, please restart it.\n\nOn Mon, Carla wrote:\n> it is broken";
    let plan = decide(
        &mail_from("bob@corp.example", body, passing()),
        &ticket(),
        &[],
    );
    let relay = plan
        .outgoing
        .iter()
        .find(|m| m.kind == OutgoingKind::Relay)
        .unwrap();
    assert_eq!(relay.to[0].address, "carla@client.example");
    assert_eq!(relay.cc[0].address, "dan@client.example");
    assert_eq!(relay.from.address, "support@corp.example");
    assert_eq!(relay.from.name.as_deref(), Some("bob Martin (Helpdesk)"));
    assert!(
        relay.body.starts_with("Hello Carla, please restart it."),
        "{}",
        relay.body
    );
    assert!(!relay.body.contains("#status") && !relay.body.contains("it is broken"));
    assert_eq!(relay.auto_submitted, None);
    assert_eq!(plan.stored_text, "Hello Carla, please restart it.");
    assert_eq!(plan.visibility, Visibility::Public);
}

#[test]
fn notes_and_the_comment_address_stay_internal() {
    let plan = decide(
        &mail_from("bob@corp.example", "#note called her back", passing()),
        &ticket(),
        &[],
    );
    assert_eq!(plan.visibility, Visibility::Internal);
    assert!(kinds(&plan).is_empty());
    assert_eq!(plan.stored_text, "called her back");
    let mut mail = mail_from("bob@corp.example", "Looks like a fuser problem.", passing());
    mail.to = vec![Mailbox::new(None, "support-comment@corp.example")];
    let plan = decide(&mail, &ticket(), &[]);
    assert_eq!(plan.visibility, Visibility::Internal);
    assert!(kinds(&plan).is_empty());
}

#[test]
fn one_bad_command_applies_none_and_the_agent_is_told_why() {
    let plan = decide(
        &mail_from(
            "alice@corp.example",
            "#priority high\n#assign nobody\nDone.",
            passing(),
        ),
        &ticket(),
        &[],
    );
    assert!(updates(&plan).is_empty());
    assert_eq!(
        kinds(&plan),
        vec![OutgoingKind::CommandReply],
        "nothing relayed, only the explanation"
    );
    let reply = &plan.outgoing[0];
    assert_eq!(reply.to[0].address, "alice@corp.example");
    assert!(reply.body.contains("> #assign nobody"), "{}", reply.body);
    assert!(
        reply
            .body
            .contains("no agent is called nobody; agents: alice, bob, acme"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("#assign NAME|me"),
        "the cheat-sheet: {}",
        reply.body
    );
    assert_eq!(
        plan.events
            .iter()
            .filter(|e| e.kind == EventKind::CommandRefused)
            .count(),
        1
    );
    assert_eq!(plan.visibility, Visibility::Internal);
}

#[test]
fn a_forged_agent_is_refused_and_audited() {
    let plan = decide(
        &mail_from("alice@corp.example", "#close\nClosing.", vec![]),
        &ticket(),
        &[],
    );
    assert!(updates(&plan).is_empty());
    assert!(
        kinds(&plan).is_empty(),
        "a forged From gets no mail: {:?}",
        plan.outgoing
    );
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::CommandRefused
            && e.detail.contains("could not be authenticated")));
    assert!(plan
        .events
        .iter()
        .any(|e| e.kind == EventKind::AutoReplySuppressed
            && e.detail.contains("refusal goes to no one")));
    // Even without commands, an unauthenticated "agent" answer never reaches the requester.
    let plan = decide(
        &mail_from("bob@corp.example", "Please send me your password.", vec![]),
        &ticket(),
        &[],
    );
    assert!(!kinds(&plan).contains(&OutgoingKind::Relay));
}

#[test]
fn escalation_to_the_vendor_and_back() {
    let mut view = ticket();
    view.level = Level::new(3).unwrap();
    let plan = decide(
        &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
        &view,
        &[],
    );
    assert_eq!(updates(&plan), vec![TicketUpdate::Level(Level::VENDOR)]);
    let notice = &plan.outgoing[0];
    assert_eq!(notice.kind, OutgoingKind::EscalationNotice);
    assert_eq!(notice.to[0].address, "acme@corp.example");
    assert!(notice.body.contains("Reason: firmware bug"));
    view.level = Level::VENDOR;
    let plan = decide(
        &mail_from("alice@corp.example", "#escalate", passing()),
        &view,
        &[],
    );
    assert!(plan.outgoing[0].body.contains("already at level 4"));
}

fn with_files(mut view: TicketView) -> TicketView {
    let file = |name: &str, size: u64| crate::core::mail::AttachmentMeta {
        filename: name.into(),
        content_type: "application/octet-stream".into(),
        size,
        sha256: format!("{name}-hash"),
    };
    let entry = |internal: bool, files| crate::core::plan::HistoryEntry {
        at: 0,
        from: "x".into(),
        visibility: if internal {
            Visibility::Internal
        } else {
            Visibility::Public
        },
        text: "t".into(),
        attachments: files,
    };
    view.history = vec![
        entry(false, vec![file("shot.png", 1000)]),
        entry(true, vec![file("internal-notes.txt", 10)]),
        entry(false, vec![file("dump.bin", 30 * 1024 * 1024)]),
    ];
    view
}

fn names(mail: &OutgoingMail) -> Vec<&str> {
    mail.attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect()
}

#[test]
fn the_vendor_gets_public_files_only_and_agents_all_that_fit() {
    let mut view = with_files(ticket());
    view.level = Level::new(3).unwrap();
    let plan = decide(
        &mail_from("alice@corp.example", "#escalate", passing()),
        &view,
        &[],
    );
    assert_eq!(names(&plan.outgoing[0]), vec!["shot.png"]);
    assert!(plan.outgoing[0].body.contains("dump.bin (30.0 MB)"));
    assert!(!plan.outgoing[0].body.contains("internal-notes"));
    let plan = decide(
        &mail_from("alice@corp.example", "#assign bob", passing()),
        &view,
        &[],
    );
    assert_eq!(
        names(&plan.outgoing[0]),
        vec!["shot.png", "internal-notes.txt"]
    );
    assert!(plan.outgoing[0].body.contains("#attachments"));
}

#[test]
fn hash_attachments_mails_every_file_within_the_per_mail_limit() {
    let view = with_files(ticket());
    let mut policy = policy();
    policy.attachment_limits.max_mail_bytes = 40 * 1024 * 1024;
    let plan = decide_at(
        &policy,
        &mail_from("alice@corp.example", "#attachments", passing()),
        &view,
        &[],
        1_700_000_000,
    );
    assert_eq!(plan.outgoing.len(), 1);
    assert_eq!(plan.outgoing[0].kind, OutgoingKind::AttachmentDelivery);
    assert_eq!(plan.outgoing[0].to[0].address, "alice@corp.example");
    assert_eq!(
        names(&plan.outgoing[0]),
        vec!["shot.png", "internal-notes.txt", "dump.bin"]
    );
    assert!(
        !kinds(&plan).contains(&OutgoingKind::Relay),
        "nothing reaches the requester"
    );
    // Under the default 20 MB per mail the dump cannot go and is named.
    let plan = decide(
        &mail_from("alice@corp.example", "#attachments", passing()),
        &view,
        &[],
    );
    assert_eq!(
        names(&plan.outgoing[0]),
        vec!["shot.png", "internal-notes.txt"]
    );
    assert!(plan.outgoing[0].body.contains("dump.bin (30.0 MB)"));
}

#[test]
fn resolving_tells_the_requester_and_merging_tells_both() {
    let plan = decide(
        &mail_from("bob@corp.example", "#resolve replaced the fuser", passing()),
        &ticket(),
        &[],
    );
    assert_eq!(
        updates(&plan),
        vec![
            TicketUpdate::Status(Status::Resolved),
            TicketUpdate::Resolution("replaced the fuser".into())
        ]
    );
    let notice = &plan.outgoing[0];
    assert_eq!(notice.kind, OutgoingKind::ResolutionNotice);
    assert!(notice.body.contains("replaced the fuser") && notice.body.contains("reopened"));

    let mut target = TicketView::new(TicketNumber(3), Mailbox::new(None, "erin@client.example"));
    target.subject = "Printers down".into();
    let plan = decide(
        &mail_from("alice@corp.example", "#merge 3", passing()),
        &ticket(),
        &[target],
    );
    assert_eq!(
        updates(&plan),
        vec![TicketUpdate::MergeInto(TicketNumber(3))]
    );
    let told: Vec<&str> = plan
        .outgoing
        .iter()
        .map(|m| m.to[0].address.as_str())
        .collect();
    assert_eq!(told, ["carla@client.example", "erin@client.example"]);
    assert!(plan.outgoing[0].subject.starts_with("[Helpdesk #3]"));
    let plan = decide(
        &mail_from("bob@corp.example", "#merge 3", passing()),
        &ticket(),
        &[],
    );
    assert!(plan.outgoing[0]
        .body
        .contains("only triagers merge tickets"));
}

#[test]
fn a_requesters_reply_goes_to_the_assignee_and_their_commands_are_limited() {
    let mut view = ticket();
    view.assignee = Some("bob".into());
    let plan = decide(
        &mail_from("carla@client.example", "Still broken.\n\n> old", passing()),
        &view,
        &[],
    );
    let relay = &plan.outgoing[0];
    assert_eq!(relay.kind, OutgoingKind::RelayToAgents);
    assert_eq!(relay.to[0].address, "bob@corp.example");
    assert_eq!(relay.body.lines().next(), Some("Still broken."));

    let client_pass = passing_for("client.example");
    let plan = decide(
        &mail_from(
            "carla@client.example",
            "#close\nThanks, fixed.",
            client_pass.clone(),
        ),
        &view,
        &[],
    );
    assert_eq!(updates(&plan), vec![TicketUpdate::Status(Status::Closed)]);
    let forged = decide(
        &mail_from("carla@client.example", "#close\nThanks, fixed.", vec![]),
        &view,
        &[],
    );
    assert!(
        updates(&forged).is_empty(),
        "a forged requester cannot close"
    );
    // A stranger authenticated for his own domain, naming the requester in Reply-To, is still
    // a stranger: nothing closes, and his words are a stranger's note, not the requester's.
    let mut spoof = mail_from(
        "mallory@evil.example",
        "#close\nThanks, fixed.",
        passing_for("evil.example"),
    );
    spoof.reply_to = Some(Mailbox::new(Some("Carla"), "carla@client.example"));
    let plan = decide(&spoof, &view, &[]);
    assert!(updates(&plan).is_empty(), "{:?}", plan.change);
    assert_eq!(plan.visibility, Visibility::Stranger);
    assert!(
        plan.events
            .iter()
            .any(|e| e.kind == EventKind::StrangerNote),
        "{:?}",
        plan.events
    );
    let plan = decide(
        &mail_from(
            "carla@client.example",
            "#priority urgent\nPlease hurry",
            client_pass.clone(),
        ),
        &view,
        &[],
    );
    assert!(updates(&plan).is_empty());
    assert!(kinds(&plan).contains(&OutgoingKind::CommandReply));
    assert!(
        kinds(&plan).contains(&OutgoingKind::RelayToAgents),
        "their words still reach the agent"
    );
}

/// Carla's new ticket as intake decides it: the mail Guichet sent (acknowledgement, notice).
fn new_ticket_mail() -> Vec<OutgoingMail> {
    let mut mail = mail_from(
        "carla@client.example",
        "The printer on floor 3 eats every sheet of paper since this morning.\n\
         It shows error 13.2 and the tray light blinks orange.",
        passing_for("client.example"),
    );
    mail.subject = "Printer".into();
    let thread = ThreadDecision::New {
        reason: crate::core::threading::NewTicketReason::NoThreadClues,
    };
    let input = IntakeInput {
        mail: &mail,
        thread: &thread,
        ticket: None,
        next_number: TicketNumber(7),
        auto_replies_last_hour: 0,
        now: 1_700_000_000,
        id_seed: "new",
        queue: None,
        others: &[],
        workloads: &[],
        knowledge: &crate::core::knowledge::mail::NO_KNOWLEDGE,
    };
    let outgoing = decide_intake(&policy(), &input).unwrap().outgoing;
    assert_eq!(
        outgoing.iter().map(|m| m.kind).collect::<Vec<_>>(),
        [OutgoingKind::Acknowledgement, OutgoingKind::NewTicketNotice]
    );
    outgoing
}

fn ticket_with_sent_mail() -> (TicketView, String, String) {
    let sent = new_ticket_mail();
    let mut view = ticket();
    view.sent_texts = sent.iter().rev().map(|m| m.body.clone()).collect();
    (view, sent[0].body.clone(), sent[1].body.clone())
}

#[test]
fn commands_above_our_own_quoted_notice_relay_nothing() {
    let (view, _, notice) = ticket_with_sent_mail();
    let quoted: String = notice.lines().map(|l| format!("> {l}\n")).collect();
    let body = format!(
        "#status pending\n\nOn Tue, 14 Nov 2023 at 23:14, Helpdesk <support@corp.example> wrote:\n{quoted}"
    );
    let plan = decide(&mail_from("bob@corp.example", &body, passing()), &view, &[]);
    assert_eq!(updates(&plan)[0], TicketUpdate::Status(Status::Pending));
    assert!(kinds(&plan).is_empty(), "{:?}", plan.outgoing);
    // The quote stripper already finds nothing new above the attribution.
    assert_eq!(plan.stored_text, "");
}

#[test]
fn a_pasted_acknowledgement_relays_only_the_requesters_new_lines() {
    let (mut view, acknowledgement, _) = ticket_with_sent_mail();
    view.assignee = Some("bob".into());
    let body = format!("I forgot: it is the HP 4200 next to the kitchen.\n\n{acknowledgement}\n");
    let plan = decide(
        &mail_from("carla@client.example", &body, vec![]),
        &view,
        &[],
    );
    let relay = &plan.outgoing[0];
    assert_eq!(relay.kind, OutgoingKind::RelayToAgents);
    assert!(
        relay
            .body
            .starts_with("I forgot: it is the HP 4200 next to the kitchen.\n\n-- "),
        "{}",
        relay.body
    );
    assert!(!relay.body.contains("We have received"), "{}", relay.body);
    assert_eq!(
        plan.stored_text,
        "I forgot: it is the HP 4200 next to the kitchen."
    );
}

#[test]
fn an_agents_own_text_mentioning_a_line_of_the_notice_is_relayed_whole() {
    let (view, _, _) = ticket_with_sent_mail();
    let body = "Hello Carla,\n\
        You wrote \"It shows error 13.2 and the tray light blinks orange.\" and that means\n\
        the fuser is worn. I will bring a new one tomorrow.\n\
        It shows error 13.2 and the tray light blinks orange.\n";
    let plan = decide(&mail_from("bob@corp.example", body, passing()), &view, &[]);
    assert_eq!(kinds(&plan), [OutgoingKind::Relay]);
    assert_eq!(plan.stored_text, body.trim());
    assert!(plan.outgoing[0].body.starts_with(body.trim()));
    assert!(plan.events.iter().all(|e| e.kind != EventKind::IntakeCut));
}

#[test]
fn a_vendors_answer_above_a_pasted_escalation_notice_reaches_the_requester_alone() {
    let mut view = ticket();
    view.level = Level::new(3).unwrap();
    view.sent_texts = new_ticket_mail().into_iter().map(|m| m.body).collect();
    let escalation = decide(
        &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
        &view,
        &[],
    );
    view.sent_texts
        .insert(0, escalation.outgoing[0].body.clone());
    view.level = Level::VENDOR;
    // The notice pasted under the answer without `>` nor attribution: no quote marker tells
    // it apart from the vendor's words.
    let body = format!(
        "Please install firmware 4.2.1 and restart the printer twice.\n\n{}",
        escalation.outgoing[0].body
    );
    let plan = decide(
        &mail_from("acme@corp.example", &body, passing()),
        &view,
        &[],
    );
    let relay = &plan.outgoing[0];
    assert_eq!(relay.kind, OutgoingKind::Relay);
    assert_eq!(relay.to[0].address, "carla@client.example");
    assert_eq!(
        plan.stored_text,
        "Please install firmware 4.2.1 and restart the printer twice."
    );
    assert!(
        relay.body.starts_with(&plan.stored_text) && !relay.body.contains("firmware bug"),
        "{}",
        relay.body
    );
}

#[test]
fn a_requester_learns_only_what_they_may_do_in_their_language() {
    let client_pass = passing_for("client.example");
    for (language, greeting, may) in [
        (Language::En, "Hello Carla,", ["#close", "#reopen"]),
        (Language::Fr, "Bonjour Carla,", ["#fermer", "#rouvrir"]),
        (Language::It, "Buongiorno Carla,", ["#chiudi", "#riapri"]),
    ] {
        let mut view = ticket();
        view.language = language;
        let mut mail = mail_from(
            "carla@client.example",
            "#escalate BUY PILLS http://pills.example\nHello",
            client_pass.clone(),
        );
        mail.from = Some(Mailbox::new(Some("Carla"), "carla@client.example"));
        let plan = decide(&mail, &view, &[]);
        let reply = plan
            .outgoing
            .iter()
            .find(|m| m.kind == OutgoingKind::CommandReply)
            .expect("the requester is answered");
        assert_eq!(reply.to[0].address, "carla@client.example");
        assert!(reply.body.starts_with(greeting), "{}", reply.body);
        for word in may {
            assert!(reply.body.contains(word), "{language:?}: {}", reply.body);
        }
        for unwanted in ["#assign", "#priority", "PILLS", "whole mail", "Commands ("] {
            assert!(
                !reply.body.contains(unwanted) && !reply.subject.contains(unwanted),
                "{language:?} {unwanted}: {}",
                reply.body
            );
        }
    }
}

#[test]
fn forged_requesters_and_other_participants_get_no_refusal() {
    for (from, auth) in [
        // The requester's From without the MTA's word for it.
        ("carla@client.example", vec![]),
        // A copied participant may give no command at all: nothing to tell them.
        ("dan@client.example", passing_for("client.example")),
    ] {
        let plan = decide(
            &mail_from(from, "#escalate BUY PILLS http://pills.example", auth),
            &ticket(),
            &[],
        );
        assert!(
            !kinds(&plan).contains(&OutgoingKind::CommandReply),
            "{from}: {:?}",
            plan.outgoing
        );
        assert!(plan
            .events
            .iter()
            .any(|e| e.kind == EventKind::CommandRefused));
    }
}

#[test]
fn release_makes_held_spam_a_new_ticket_acknowledged_and_announced() {
    let mut view = ticket();
    view.status = Status::Spam;
    view.thread = vec![public_mail(
        "spam-1@client.example",
        "carla@client.example",
        "support@corp.example",
    )];
    view.history = vec![crate::core::plan::HistoryEntry {
        at: 0,
        from: "carla@client.example".into(),
        visibility: crate::core::visibility::Visibility::Public,
        text: "Is this spam? No, a real question.".into(),
        attachments: Vec::new(),
    }];
    let mut policy = policy();
    policy.directory.queues.push(Queue {
        name: "general".into(),
        triagers: vec!["alice@corp.example".into()],
        assignment: Default::default(),
    });
    let plan = decide_at(
        &policy,
        &mail_from("alice@corp.example", "#release", passing()),
        &view,
        &[],
        1_700_000_000,
    );
    assert_eq!(updates(&plan)[0], TicketUpdate::Status(Status::New));
    assert_eq!(
        kinds(&plan),
        vec![OutgoingKind::Acknowledgement, OutgoingKind::NewTicketNotice]
    );
    assert_eq!(plan.outgoing[0].to[0].address, "carla@client.example");
    assert_eq!(plan.outgoing[0].envelope_from, None);
    assert_eq!(
        plan.outgoing[0].in_reply_to.as_deref(),
        Some("spam-1@client.example")
    );
    assert_eq!(plan.outgoing[1].to[0].address, "alice@corp.example");
    assert_eq!(plan.outgoing[1].in_reply_to, None, "Alice never saw it");
    assert!(plan.outgoing[1].references.is_empty());
    assert!(plan.outgoing[1]
        .body
        .contains("Is this spam? No, a real question."));

    // Only a held ticket can be released; and a requester cannot release.
    let plan = decide(
        &mail_from("alice@corp.example", "#release", passing()),
        &ticket(),
        &[],
    );
    assert!(updates(&plan).is_empty());
    assert!(plan.outgoing[0].body.contains("not held as spam"));
    let plan = decide(
        &mail_from(
            "carla@client.example",
            "#release",
            passing_for("client.example"),
        ),
        &view,
        &[],
    );
    assert!(updates(&plan).is_empty());
}

#[test]
fn held_spam_is_relayed_to_nobody() {
    let mut view = ticket();
    view.status = Status::Spam;
    let plan = decide(
        &mail_from("carla@client.example", "More pills, cheap.", vec![]),
        &view,
        &[],
    );
    assert!(plan.outgoing.is_empty(), "{:?}", plan.outgoing);
    assert!(!updates(&plan)
        .iter()
        .any(|u| matches!(u, TicketUpdate::Sla(_) | TicketUpdate::Status(_))));
}

#[test]
fn deadlines_move_with_the_conversation() {
    use crate::core::calendar::SlaClock;
    use crate::core::sla::{SlaPlan, SlaState};
    let mut policy = policy();
    policy.sla.plans = vec![SlaPlan {
        queue: None,
        priority: None,
        first_response: Some(3600),
        next_response: Some(7200),
        resolution: Some(86_400),
        clock: SlaClock::WallClock,
    }];
    let decide_with = |policy: &IntakePolicy, mail: &InboundMail, view: &TicketView| {
        decide_at(policy, mail, view, &[], 10_000)
    };
    let sla_of = |plan: &IntakePlan| {
        updates(plan).into_iter().find_map(|u| match u {
            TicketUpdate::Sla(state) => Some(state),
            _ => None,
        })
    };
    let mut view = ticket();
    view.created_at = 0;
    view.sla = SlaState {
        first_response_due: Some(3600),
        resolution_due: Some(86_400),
        ..SlaState::default()
    };
    // Bob answers: the first-response deadline is met.
    let plan = decide_with(
        &policy,
        &mail_from("bob@corp.example", "Try this.", passing()),
        &view,
    );
    assert_eq!(sla_of(&plan).unwrap().first_response_due, None);
    // Waiting on Carla pauses the clock; her answer resumes it with the time left.
    view.sla.first_response_due = None;
    let plan = decide_with(
        &policy,
        &mail_from(
            "bob@corp.example",
            "#status waiting\nWhich model?",
            passing(),
        ),
        &view,
    );
    assert_eq!(sla_of(&plan).unwrap().paused_at, Some(10_000));
    view.status = Status::Waiting;
    view.sla.paused_at = Some(4_000);
    let plan = decide_with(
        &policy,
        &mail_from("carla@client.example", "An HP 4200.", passing()),
        &view,
    );
    let resumed = sla_of(&plan).unwrap();
    assert_eq!(resumed.paused_at, None);
    assert_eq!(
        resumed.resolution_due,
        Some(86_400 + 6_000),
        "shifted by the 6,000 s it stood still"
    );
    assert_eq!(
        resumed.next_response_due,
        Some(10_000 + 7_200),
        "her mail awaits an answer"
    );
    assert!(updates(&plan).contains(&TicketUpdate::AwaitingSince(Some(10_000))));
}

fn history(view: &mut TicketView) {
    use crate::core::plan::HistoryEntry;
    let entry = |from: &str, visibility, text: &str| HistoryEntry {
        at: 1_700_000_000,
        from: from.into(),
        visibility,
        text: text.into(),
        attachments: Vec::new(),
    };
    view.history = vec![
        entry(
            "carla@client.example",
            Visibility::Public,
            "The printer jams.",
        ),
        entry(
            "bob@corp.example",
            Visibility::Internal,
            "SECRET-NOTE customer owes us",
        ),
        entry(
            "mallory@evil.example",
            Visibility::Stranger,
            "STRANGER-TEXT buy pills",
        ),
    ];
}

#[test]
fn the_vendor_gets_the_public_history_and_the_reason_only() {
    let mut view = ticket();
    view.level = Level::new(3).unwrap();
    history(&mut view);
    let plan = decide(
        &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
        &view,
        &[],
    );
    let notice = &plan.outgoing[0];
    assert_eq!(notice.to[0].address, "acme@corp.example");
    assert!(
        notice.body.contains("Reason: firmware bug"),
        "{}",
        notice.body
    );
    assert!(notice.body.contains("The printer jams."), "{}", notice.body);
    assert!(
        !notice.body.contains("SECRET-NOTE")
            && !notice.body.contains("STRANGER-TEXT")
            && !notice.body.contains("(internal)"),
        "{}",
        notice.body
    );
    // Staff at the same level still read everything, in a mail of their own.
    let mut policy = policy();
    policy.directory.level_addresses[3] = vec!["l4-lead@corp.example".into()];
    policy.directory.external_levels[3] = false;
    policy.directory.agents[2].external = Some(true);
    let plan = decide_at(
        &policy,
        &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
        &view,
        &[],
        1_700_000_000,
    );
    assert_eq!(plan.outgoing.len(), 2);
    let staff = &plan.outgoing[0];
    assert_eq!(staff.to.len(), 1);
    assert_eq!(staff.to[0].address, "l4-lead@corp.example");
    assert!(staff.body.contains("SECRET-NOTE") && staff.body.contains("STRANGER-TEXT"));
    let vendor = &plan.outgoing[1];
    assert_eq!(vendor.to[0].address, "acme@corp.example");
    assert!(!vendor.body.contains("SECRET-NOTE") && !vendor.body.contains("STRANGER-TEXT"));
    assert_ne!(staff.message_id, vendor.message_id);
    // Assigning the ticket to the vendor follows the same rule.
    let plan = decide(
        &mail_from("alice@corp.example", "#assign acme", passing()),
        &view,
        &[],
    );
    assert_eq!(plan.outgoing[0].kind, OutgoingKind::AssignmentNotice);
    assert!(!plan.outgoing[0].body.contains("SECRET-NOTE"));
    let plan = decide(
        &mail_from("alice@corp.example", "#assign bob", passing()),
        &view,
        &[],
    );
    assert!(plan.outgoing[0].body.contains("SECRET-NOTE"));
}

#[test]
fn a_strangers_mail_is_stored_as_a_strangers() {
    let plan = decide(
        &mail_from("mallory@evil.example", "Buy pills", vec![]),
        &ticket(),
        &[],
    );
    assert_eq!(plan.visibility, Visibility::Stranger);
    assert!(kinds(&plan).is_empty());
}

#[test]
fn the_assignee_acts_on_their_ticket_at_any_level() {
    let mut view = ticket();
    view.level = Level::VENDOR;
    view.assignee = Some("bob".into());
    let plan = decide(
        &mail_from(
            "bob@corp.example",
            "#resolve vendor patch applied",
            passing(),
        ),
        &view,
        &[],
    );
    assert!(
        updates(&plan).contains(&TicketUpdate::Status(Status::Resolved)),
        "{:?}",
        plan.outgoing.first().map(|m| &m.body)
    );
    let plan = decide(
        &mail_from("bob@corp.example", "#level 1", passing()),
        &view,
        &[],
    );
    assert_eq!(updates(&plan), vec![TicketUpdate::Level(Level::FIRST)]);
    // A queue's triager who is a plain agent owns its tickets too.
    let mut policy = policy();
    policy.directory.queues[0].triagers = vec!["bob@corp.example".into()];
    let mut hardware = ticket();
    hardware.level = Level::VENDOR;
    hardware.queue = "hardware".into();
    let plan = decide_at(
        &policy,
        &mail_from("bob@corp.example", "#close", passing()),
        &hardware,
        &[],
        1_700_000_000,
    );
    assert_eq!(updates(&plan), vec![TicketUpdate::Status(Status::Closed)]);
    // Others keep their restrictions.
    view.assignee = None;
    let plan = decide(
        &mail_from("bob@corp.example", "#resolve done", passing()),
        &view,
        &[],
    );
    assert!(updates(&plan).is_empty());
    assert!(plan.outgoing[0]
        .body
        .contains("you do not work queue general at level L4"));
    view.assignee = Some("bob".into());
    let plan = decide(
        &mail_from("bob@corp.example", "#assign alice", passing()),
        &view,
        &[],
    );
    assert!(updates(&plan).is_empty(), "the assignee is no triager");
}

#[test]
fn the_command_reply_answers_the_command_mail() {
    let mut view = ticket();
    view.thread = vec![
        public_mail(
            "old@corp.example",
            "alice@corp.example",
            "support@corp.example",
        ),
        public_mail(
            "last-stored@corp.example",
            "alice@corp.example",
            "support@corp.example",
        ),
    ];
    let mut mail = mail_from("alice@corp.example", "#assign nobody", passing());
    mail.message_id = Some("cmd@corp.example".into());
    mail.in_reply_to = vec!["notice@corp.example".into()];
    mail.references = vec!["first@client.example".into(), "notice@corp.example".into()];
    let plan = decide(&mail, &view, &[]);
    let reply = &plan.outgoing[0];
    assert_eq!(reply.kind, OutgoingKind::CommandReply);
    assert_eq!(reply.in_reply_to.as_deref(), Some("cmd@corp.example"));
    assert_eq!(
        reply.references,
        [
            "first@client.example",
            "notice@corp.example",
            "cmd@corp.example"
        ]
    );
}

#[test]
fn a_merge_tells_each_requester_on_their_own_thread_and_topic() {
    let mut source = ticket();
    source.thread = vec![
        public_mail(
            "carla-1@client.example",
            "carla@client.example",
            "support@corp.example",
        ),
        public_mail(
            "notice-1@corp.example",
            "support@corp.example",
            "alice@corp.example",
        ),
    ];
    let mut target = TicketView::new(TicketNumber(3), Mailbox::new(None, "erin@client.example"));
    target.subject = "Erin's private payroll question".into();
    target.thread = vec![
        public_mail(
            "erin-1@client.example",
            "erin@client.example",
            "support@corp.example",
        ),
        public_mail(
            "ack-3@corp.example",
            "support@corp.example",
            "erin@client.example",
        ),
    ];
    let plan = decide(
        &mail_from("alice@corp.example", "#merge 3", passing()),
        &source,
        &[target],
    );
    let carla = &plan.outgoing[0];
    let erin = &plan.outgoing[1];
    assert_eq!(carla.to[0].address, "carla@client.example");
    assert_eq!(carla.in_reply_to.as_deref(), Some("carla-1@client.example"));
    assert_eq!(carla.references, ["carla-1@client.example"]);
    assert!(!carla.subject.contains("payroll") && !carla.body.contains("payroll"));
    assert!(carla.subject.starts_with("[Helpdesk #3] Printer"));
    assert_eq!(erin.to[0].address, "erin@client.example");
    assert_eq!(erin.in_reply_to.as_deref(), Some("ack-3@corp.example"));
    assert!(!erin.subject.contains("Printer") && !erin.body.contains("Printer"));
    assert!(
        erin.cc.is_empty() && carla.cc.is_empty(),
        "nobody else is copied"
    );
}

//! Triage and agent work by email, end to end over the real Postfix and Dovecot: commands in
//! replies, answers relayed both ways, notices in agents' and the vendor's mailboxes.

mod common;

use std::time::Duration;

use common::{
    agent_toml, event_lines, header, mailstack, request, unique, wait_until, Instance, MailStack,
    AUTHENTICATED, TRUSTED_MTA,
};
use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::Store;
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

/// A helpdesk with a triager (alice), an agent (bob) and a level-4 vendor, whose MTA stamps
/// `Authentication-Results: mx.example.test`.
struct Desk {
    stack: MailStack,
    desk: Instance,
    store: Store,
    alice: String,
    bob: String,
    vendor: String,
}

fn desk() -> Option<Desk> {
    let stack = mailstack()?;
    let alice = format!("{}@example.test", unique("alice"));
    let bob = format!("{}@example.test", unique("bob"));
    let vendor = format!("{}@example.test", unique("vendor"));
    let extra = format!(
        "{TRUSTED_MTA}{}{}{}",
        agent_toml("alice", "Alice Triage", &alice, "triager", &[]),
        agent_toml("bob", "Bob Martin", &bob, "agent", &[1, 2, 3]),
        agent_toml("acme", "ACME Support", &vendor, "agent", &[4]),
    );
    let mut desk = Instance::new(&stack, "agents", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    Some(Desk {
        stack,
        desk,
        store,
        alice,
        bob,
        vendor,
    })
}

impl Desk {
    /// A reply by someone on our side: the MTA vouches for example.test with DKIM.
    /// Returns the mail's Message-ID, without angle brackets.
    fn agent_mail(&self, from: &str, subject: &str, body: &str, authenticated: bool) -> String {
        let stamp = if authenticated { AUTHENTICATED } else { "" };
        let id = unique("agent@example.test");
        let raw = format!(
            "{stamp}From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\n{body}\r\n",
            self.desk.support,
        );
        self.stack.send(from, &self.desk.support, raw.as_bytes());
        id
    }

    fn open_ticket(&self, requester: &str, subject: &str) -> u64 {
        let before = self.store.read().list_tickets(None).unwrap().len();
        self.stack.send(
            requester,
            &self.desk.support,
            &request(
                requester,
                &self.desk.support,
                subject,
                &unique("req@c"),
                "It is broken, please help.",
            ),
        );
        wait_until(WAIT, "the new ticket", || {
            let rows = self.store.read().list_tickets(None).unwrap();
            (rows.len() > before)
                .then(|| rows.iter().find(|t| t.subject == subject).map(|t| t.number))
                .flatten()
        })
    }

    fn ticket(&self, number: u64) -> guichet::adapters::store::TicketDetail {
        self.store
            .read()
            .ticket(TicketNumber(number))
            .unwrap()
            .unwrap()
    }

    fn events(&self, number: u64) -> Vec<String> {
        event_lines(&self.ticket(number))
    }
}

fn text_of(raw: &str) -> String {
    parse_mail(raw.as_bytes()).unwrap().mail.text
}

#[test]
fn triage_assign_answer_and_reply_go_round_by_mail() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("carla"));
    let n = d.open_ticket(&requester, "Printer jammed");
    let tag = format!("[Helpdesk #{n}]");

    // The triager is told, and answers with commands only.
    d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("New ticket") && raw.contains(&tag)
    });
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} New ticket: Printer jammed"),
        "#assign bob\n#priority high\n",
        true,
    );
    let notice = d
        .stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("Assigned to you"));
    assert!(header(&notice, "Subject").unwrap().contains(&tag));
    assert!(
        text_of(&notice).contains("It is broken, please help."),
        "the ticket so far"
    );
    let row = wait_until(WAIT, "assignee and priority stored", || {
        let t = d.ticket(n).ticket;
        (t.assignee.as_deref() == Some("bob")).then_some(t)
    });
    assert_eq!(row.priority, "high");
    assert!(
        d.events(n)
            .iter()
            .any(|e| e == "command_applied #assign bob"),
        "{:?}",
        d.events(n)
    );

    // Bob answers: the requester gets it from the support address, tagged, without Bob's address.
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Assigned to you: Printer jammed"),
        "Hello Carla, open tray 2 and pull the sheet.\n\nOn Monday Alice wrote:\n> #assign bob",
        true,
    );
    let answer = d
        .stack
        .wait_for_mail(&requester, WAIT, |raw| raw.contains("open tray 2"));
    let from = parse_mail(answer.as_bytes()).unwrap().mail.from.unwrap();
    assert_eq!(from.address, d.desk.support);
    assert_eq!(from.name.as_deref(), Some("Bob Martin (Example Helpdesk)"));
    assert!(
        !answer.contains(&d.bob),
        "the agent's own address never reaches the requester"
    );
    assert!(header(&answer, "Subject").unwrap().contains(&tag));
    let answer_text = text_of(&answer);
    assert!(
        !answer_text.contains("#assign") && !answer_text.contains("Alice wrote"),
        "{answer_text}"
    );
    let seen_by_requester: Vec<String> = d
        .stack
        .mailbox(&requester)
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(
        seen_by_requester.iter().all(|m| !m.contains("#priority")),
        "the requester sees nothing of the commands"
    );

    // The requester replies: Bob gets it.
    d.stack.send(
        &requester,
        &d.desk.support,
        &request(
            &requester,
            &d.desk.support,
            &format!("Re: {tag} Printer jammed"),
            &unique("r@c"),
            "Done, it prints again!",
        ),
    );
    let relayed = d
        .stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("it prints again"));
    assert!(header(&relayed, "Reply-To")
        .unwrap()
        .contains(&d.desk.support));

    // Resolved, then a reply reopens it.
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Printer jammed"),
        "#resolve cleared a paper jam in tray 2",
        true,
    );
    let resolution = d
        .stack
        .wait_for_mail(&requester, WAIT, |raw| raw.contains("Resolved"));
    assert!(text_of(&resolution).contains("cleared a paper jam in tray 2"));
    wait_until(WAIT, "resolved", || {
        (d.ticket(n).ticket.status == "resolved").then_some(())
    });
    d.stack.send(
        &requester,
        &d.desk.support,
        &request(
            &requester,
            &d.desk.support,
            &format!("Re: {tag} Resolved: Printer jammed"),
            &unique("r2@c"),
            "It jammed again.",
        ),
    );
    wait_until(WAIT, "reopened", || {
        (d.ticket(n).ticket.status == "open").then_some(())
    });
    d.desk.stop();
}

#[test]
fn escalation_reaches_the_vendor_and_the_vendors_answer_reaches_the_requester() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("dan"));
    let n = d.open_ticket(&requester, "Firmware crash");
    let tag = format!("[Helpdesk #{n}]");
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} Firmware crash"),
        "#level 3\n#escalate crashes on every boot since 4.2\n",
        true,
    );
    let notice = d
        .stack
        .wait_for_mail(&d.vendor, WAIT, |raw| raw.contains("Escalated to level 4"));
    assert!(text_of(&notice).contains("crashes on every boot since 4.2"));
    wait_until(WAIT, "level 4 stored", || {
        (d.ticket(n).ticket.level == 4).then_some(())
    });
    d.agent_mail(
        &d.vendor,
        &format!("Re: {tag} Escalated to level 4: Firmware crash"),
        "Please install firmware 4.2.1.",
        true,
    );
    let answer = d
        .stack
        .wait_for_mail(&requester, WAIT, |raw| raw.contains("firmware 4.2.1"));
    let from = parse_mail(answer.as_bytes()).unwrap().mail.from.unwrap();
    assert_eq!(
        (from.name.as_deref(), from.address.as_str()),
        (
            Some("ACME Support (Example Helpdesk)"),
            d.desk.support.as_str()
        )
    );
    d.desk.stop();
}

#[test]
fn merged_tickets_keep_everything_and_both_requesters_hear_of_it() {
    let Some(mut d) = desk() else { return };
    let first = format!("{}@example.test", unique("erin"));
    let second = format!("{}@example.test", unique("fred"));
    let into = d.open_ticket(&first, "Wi-Fi down on floor 3");
    let merged = d.open_ticket(&second, "No Wi-Fi floor 3");
    d.agent_mail(
        &d.alice,
        &format!("Re: [Helpdesk #{merged}] No Wi-Fi floor 3"),
        &format!("#merge {into}"),
        true,
    );
    for requester in [&first, &second] {
        d.stack.wait_for_mail(requester, WAIT, |raw| {
            raw.contains("merged into ticket") && raw.contains(&format!("[Helpdesk #{into}]"))
        });
    }
    let target = d.ticket(into);
    assert!(
        target.participants.iter().any(|p| p.address == second),
        "{:?}",
        target.participants
    );
    assert!(
        target
            .messages
            .iter()
            .any(|m| m.subject == "No Wi-Fi floor 3"),
        "the merged mail moved"
    );
    assert_eq!(d.ticket(merged).ticket.merged_into, Some(into));
    let history = d.events(into);
    assert!(
        history
            .iter()
            .any(|e| e.starts_with("created ticket #") && e.contains(&format!("#{merged}"))),
        "the merged ticket's history shows on the target: {history:?}"
    );
    // Mail to the old number lands on the new one.
    d.stack.send(
        &second,
        &d.desk.support,
        &request(
            &second,
            &d.desk.support,
            &format!("Re: [Helpdesk #{merged}] No Wi-Fi floor 3"),
            &unique("m@c"),
            "Still down here.",
        ),
    );
    wait_until(WAIT, "the reply on the target", || {
        d.ticket(into)
            .messages
            .iter()
            .any(|m| m.text.contains("Still down here."))
            .then_some(())
    });
    d.desk.stop();
}

#[test]
fn forged_and_malformed_commands_change_nothing() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("gina"));
    let n = d.open_ticket(&requester, "Laptop stolen");
    let tag = format!("[Helpdesk #{n}]");

    // A From of alice's, without the MTA's word for it.
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} Laptop stolen"),
        "#close\nClosing this.",
        false,
    );
    // Audited, and nothing mailed: a forged From must not make us write to the address it names.
    wait_until(WAIT, "the refusal audited", || {
        let events = d.events(n);
        (events.iter().any(|e| {
            e.starts_with("command_refused #close") && e.contains("could not be authenticated")
        }) && events
            .iter()
            .any(|e| e.contains("the refusal goes to no one")))
        .then_some(())
    });
    assert_eq!(d.ticket(n).ticket.status, "new");

    // One bad command among good ones: none applies.
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} Laptop stolen"),
        "#priority urgent\n#assign nobody\nOn it.",
        true,
    );
    let refusal = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("About your commands") && raw.contains("nobody")
    });
    assert!(text_of(&refusal).contains("no agent is called nobody"));
    wait_until(WAIT, "the second refusal audited", || {
        d.events(n)
            .iter()
            .any(|e| e.starts_with("command_refused #assign nobody"))
            .then_some(())
    });
    let ticket = d.ticket(n).ticket;
    assert_eq!(
        (ticket.priority.as_str(), ticket.assignee.as_deref()),
        ("normal", None)
    );
    let requester_mail = d.stack.mailbox(&requester);
    assert_eq!(
        requester_mail.len(),
        1,
        "only the acknowledgement: \"On it.\" was not relayed"
    );
    d.desk.stop();
}

#[test]
fn round_robin_spreads_nine_tickets_three_each_and_skips_an_agent_who_is_away() {
    let Some(stack) = mailstack() else { return };
    let agents: Vec<String> = ["xavier", "yara", "zoe"]
        .iter()
        .map(|name| format!("{}@example.test", unique(name)))
        .collect();
    let mut extra = String::from(
        "[commands]\ntrusted_authserv_ids = [\"mx.example.test\"]\n[[queue]]\nname = \"general\"\nassignment = \"round-robin\"\n",
    );
    for (name, address) in ["xavier", "yara", "zoe"].iter().zip(&agents) {
        extra.push_str(&format!(
            "[[agent]]\nname = \"{name}\"\naddresses = [{address:?}]\n"
        ));
    }
    let mut desk = Instance::new(&stack, "rr", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    let send_requests = |count: usize| {
        for i in 0..count {
            let requester = format!("{}@example.test", unique("rr"));
            stack.send(
                &requester,
                &desk.support,
                &request(
                    &requester,
                    &desk.support,
                    &format!("Request {i}"),
                    &unique("rr@c"),
                    "help",
                ),
            );
        }
    };
    let counts = |store: &Store| -> Vec<usize> {
        let rows = store.read().list_tickets(None).unwrap();
        ["xavier", "yara", "zoe"]
            .iter()
            .map(|name| {
                rows.iter()
                    .filter(|t| t.assignee.as_deref() == Some(*name))
                    .count()
            })
            .collect()
    };
    send_requests(9);
    wait_until(WAIT, "nine tickets assigned", || {
        (store
            .read()
            .list_tickets(None)
            .unwrap()
            .iter()
            .filter(|t| t.assignee.is_some())
            .count()
            == 9)
            .then_some(())
    });
    assert_eq!(counts(&store), vec![3, 3, 3]);
    for agent in &agents {
        wait_until(WAIT, "three assignment notices each", || {
            let notices = stack
                .mailbox(agent)
                .iter()
                .filter(|m| String::from_utf8_lossy(m).contains("Assigned to you"))
                .count();
            (notices == 3).then_some(())
        });
    }

    // Zoe goes away by replying to one of her tickets; the next tickets skip her.
    let zoes = store
        .read()
        .list_tickets(None)
        .unwrap()
        .into_iter()
        .find(|t| t.assignee.as_deref() == Some("zoe"))
        .unwrap();
    let away = format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\nFrom: {}\r\nTo: {}\r\n\
         Subject: Re: [Helpdesk #{}] {}\r\nMessage-ID: <{}>\r\n\r\n#away\r\n",
        agents[2],
        desk.support,
        zoes.number,
        zoes.subject,
        unique("away@example.test")
    );
    stack.send(&agents[2], &desk.support, away.as_bytes());
    wait_until(WAIT, "zoe away", || {
        store
            .read()
            .workloads()
            .unwrap()
            .iter()
            .any(|w| w.name == "zoe" && w.away == Some(true))
            .then_some(())
    });
    send_requests(4);
    wait_until(WAIT, "thirteen tickets assigned", || {
        (store
            .read()
            .list_tickets(None)
            .unwrap()
            .iter()
            .filter(|t| t.assignee.is_some())
            .count()
            == 13)
            .then_some(())
    });
    assert_eq!(counts(&store), vec![5, 5, 3], "zoe got none while away");
    desk.stop();
}

#[test]
fn an_unanswered_ticket_is_warned_then_escalated_up_to_the_vendor_and_a_restart_sends_nothing_twice(
) {
    let Some(stack) = mailstack() else { return };
    let [bob, tech, specialists, vendor] =
        ["bob", "tech", "spec", "vendor"].map(|name| format!("{}@example.test", unique(name)));
    let extra = format!(
        "[commands]\ntrust = \"none\"\n\
         [[agent]]\nname = \"bob\"\naddresses = [{bob:?}]\nlevels = [1]\n\
         [[agent]]\nname = \"tech\"\naddresses = [{tech:?}]\nlevels = [2]\n\
         [[agent]]\nname = \"acme\"\naddresses = [{vendor:?}]\nlevels = [4]\n\
         [[level]]\nlevel = 3\naddresses = [{specialists:?}]\n\
         [[rule]]\nname = \"bob-first\"\nconditions = [{{ field = \"subject\", contains = \"Server\" }}]\nactions = {{ assign = \"bob\" }}\n\
         [[sla]]\nfirst_response = \"6s\"\n\
         [escalation]\nwarn_at = 0.5\ncheck_interval_secs = 1\n"
    );
    let mut desk = Instance::new(&stack, "clock", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    let requester = format!("{}@example.test", unique("waiting"));
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            "Server room too hot",
            &unique("hot@c"),
            "38 degrees.",
        ),
    );
    let notices = |address: &str, marker: &str| {
        stack
            .mailbox(address)
            .iter()
            .filter(|m| String::from_utf8_lossy(m).contains(marker))
            .count()
    };
    stack.wait_for_mail(&bob, WAIT, |raw| raw.contains("SLA warning"));
    stack.wait_for_mail(&tech, WAIT, |raw| raw.contains("Escalated to level 2"));
    // Restart right after the first escalation: it is not sent again.
    desk.stop();
    desk.start();
    stack.wait_for_mail(&specialists, WAIT, |raw| {
        raw.contains("Escalated to level 3")
    });
    let to_vendor = stack.wait_for_mail(&vendor, WAIT, |raw| raw.contains("Escalated to level 4"));
    assert!(
        text_of(&to_vendor).contains("first response target was missed"),
        "{}",
        text_of(&to_vendor)
    );
    assert!(
        text_of(&to_vendor).contains("38 degrees."),
        "the history travels with it"
    );
    desk.stop();
    assert_eq!(
        notices(&tech, "Escalated to level 2"),
        1,
        "never twice, restart or not"
    );
    // One warning per deadline (each escalation re-arms it), none repeated.
    let number = store.read().list_tickets(None).unwrap()[0].number;
    let events = store
        .read()
        .ticket(TicketNumber(number))
        .unwrap()
        .unwrap()
        .events;
    let warnings: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "sla_warning")
        .map(|e| e.detail.as_str())
        .collect();
    let mut distinct = warnings.clone();
    distinct.dedup();
    assert_eq!(warnings, distinct, "a deadline warned twice");
    assert_eq!(
        notices(&bob, "SLA warning"),
        warnings.len(),
        "the mailbox holds exactly what was decided"
    );
    assert_eq!(events.iter().filter(|e| e.kind == "sla_breach").count(), 3);
    let ticket = store
        .read()
        .list_tickets(None)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    assert_eq!((ticket.level, ticket.priority.as_str()), (4, "urgent"));
}

#[test]
fn waiting_on_the_requester_stops_the_clock_until_they_answer() {
    let Some(stack) = mailstack() else { return };
    let [bob, tech] = ["bob", "tech"].map(|name| format!("{}@example.test", unique(name)));
    let extra = format!(
        "[commands]\ntrust = \"none\"\n\
         [[agent]]\nname = \"bob\"\naddresses = [{bob:?}]\nlevels = [1]\n\
         [[agent]]\nname = \"tech\"\naddresses = [{tech:?}]\nlevels = [2]\n\
         [[sla]]\nfirst_response = \"4s\"\nnext_response = \"4s\"\n\
         [escalation]\nwarn_at = 1.0\ncheck_interval_secs = 1\n"
    );
    let mut desk = Instance::new(&stack, "pause", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    let requester = format!("{}@example.test", unique("dana"));
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            "VPN drops",
            &unique("v@c"),
            "Every hour.",
        ),
    );
    let number = wait_until(WAIT, "the ticket", || {
        store
            .read()
            .list_tickets(None)
            .unwrap()
            .first()
            .map(|t| t.number)
    });
    let tag = format!("[Helpdesk #{number}]");
    // Bob answers with a question and waits on the requester: the clock stops.
    let question = format!(
        "From: {bob}\r\nTo: {}\r\nSubject: Re: {tag} VPN drops\r\nMessage-ID: <{}>\r\n\r\n#status waiting\r\nWhich VPN client version?\r\n",
        desk.support,
        unique("q@example.test")
    );
    stack.send(&bob, &desk.support, question.as_bytes());
    wait_until(WAIT, "waiting", || {
        (store
            .read()
            .ticket(TicketNumber(number))
            .unwrap()
            .unwrap()
            .ticket
            .status
            == "waiting")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        stack.mailbox(&tech).len(),
        0,
        "no escalation while waiting on the requester"
    );
    // The requester answers: the clock runs again, and with nobody answering it escalates.
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            &format!("Re: {tag} VPN drops"),
            &unique("r@c"),
            "Version 5.2.",
        ),
    );
    stack.wait_for_mail(&tech, WAIT, |raw| {
        raw.contains("Escalated to level 2") && raw.contains("next response")
    });
    desk.stop();
}

#[test]
fn the_vendor_never_receives_notes_or_strangers_mail() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("hana"));
    let n = d.open_ticket(&requester, "Scanner offline");
    let tag = format!("[Helpdesk #{n}]");
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} Scanner offline"),
        "#note SECRET-NOTE the customer is on credit hold",
        true,
    );
    let stranger = format!("{}@elsewhere.test", unique("mallory"));
    d.stack.send(
        &stranger,
        &d.desk.support,
        &request(
            &stranger,
            &d.desk.support,
            &format!("Re: {tag} Scanner offline"),
            &unique("s@e"),
            "STRANGER-TEXT I know this customer, call me.",
        ),
    );
    wait_until(WAIT, "the note and the stranger's mail stored", || {
        let messages = d.ticket(n).messages;
        let note = messages.iter().any(|m| m.visibility == "internal");
        let strange = messages.iter().any(|m| m.visibility == "stranger");
        (note && strange).then_some(())
    });
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} Scanner offline"),
        "#level 3\n#escalate driver bug in 7.1\n",
        true,
    );
    let notice = d
        .stack
        .wait_for_mail(&d.vendor, WAIT, |raw| raw.contains("Escalated to level 4"));
    let text = text_of(&notice);
    assert!(text.contains("driver bug in 7.1"), "the reason: {text}");
    assert!(text.contains("It is broken, please help."), "{text}");
    for raw in d.stack.mailbox(&d.vendor) {
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            !raw.contains("SECRET-NOTE") && !raw.contains("STRANGER-TEXT"),
            "{raw}"
        );
        assert!(!raw.contains("(internal)"), "{raw}");
    }
    d.desk.stop();
}

#[test]
fn the_assignee_at_level_1_resolves_a_level_4_ticket_and_replies_answer_the_command_mail() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("ivan"));
    let n = d.open_ticket(&requester, "VPN drops");
    let tag = format!("[Helpdesk #{n}]");
    // Not his ticket yet: refused, and the refusal answers the very mail that carried it.
    let command = d.agent_mail(
        &d.bob,
        &format!("Re: {tag} VPN drops"),
        "#level 4\n#resolve nothing to do",
        true,
    );
    let reply = d.stack.wait_for_mail(&d.bob, WAIT, |raw| {
        raw.contains("About your commands") && raw.contains(&tag)
    });
    assert_eq!(
        header(&reply, "In-Reply-To").as_deref(),
        Some(format!("<{command}>").as_str())
    );
    assert!(header(&reply, "References")
        .unwrap()
        .contains(&format!("<{command}>")));
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} VPN drops"),
        "#assign bob\n#level 4\n",
        true,
    );
    wait_until(WAIT, "assigned to bob at level 4", || {
        let t = d.ticket(n).ticket;
        (t.level == 4 && t.assignee.as_deref() == Some("bob")).then_some(())
    });
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} VPN drops"),
        "#resolve the vendor's patch fixed it",
        true,
    );
    wait_until(WAIT, "resolved by its assignee", || {
        (d.ticket(n).ticket.status == "resolved").then_some(())
    });
    d.stack.wait_for_mail(&requester, WAIT, |raw| {
        raw.contains("the vendor's patch fixed it")
    });
    d.desk.stop();
}

#[test]
fn a_merge_never_sends_one_requesters_words_to_the_other() {
    let Some(mut d) = desk() else { return };
    let erin = format!("{}@example.test", unique("erin"));
    let fred = format!("{}@example.test", unique("fred"));
    let fred_cc = format!("{}@example.test", unique("gus"));
    let into = d.open_ticket(&erin, "Payroll export fails");
    let before = d.store.read().list_tickets(None).unwrap().len();
    let fred_request = String::from_utf8(request(
        &fred,
        &d.desk.support,
        "Export button greyed out",
        &unique("f@c"),
        "FRED-PRIVATE my salary file will not export.",
    ))
    .unwrap()
    .replacen("\r\nSubject:", &format!("\r\nCc: {fred_cc}\r\nSubject:"), 1);
    d.stack
        .send(&fred, &d.desk.support, fred_request.as_bytes());
    let merged = wait_until(WAIT, "fred's ticket", || {
        let rows = d.store.read().list_tickets(None).unwrap();
        (rows.len() > before)
            .then(|| {
                rows.iter()
                    .find(|t| t.subject == "Export button greyed out")
                    .map(|t| t.number)
            })
            .flatten()
    });
    let fred_ack = d.stack.wait_for_mail(&fred, WAIT, |raw| {
        raw.contains(&format!("[Helpdesk #{merged}]"))
    });
    d.agent_mail(
        &d.alice,
        &format!("Re: [Helpdesk #{merged}] Export button greyed out"),
        &format!("#merge {into}"),
        true,
    );
    let notice = d
        .stack
        .wait_for_mail(&fred, WAIT, |raw| raw.contains("merged into ticket"));
    // Fred's notice threads on mail Fred has, under his own topic.
    assert_eq!(
        header(&notice, "In-Reply-To"),
        header(&fred_ack, "Message-ID"),
        "{notice}"
    );
    assert!(!notice.contains("Payroll export fails"), "{notice}");
    let target = d.ticket(into);
    for merged_in in [&fred, &fred_cc] {
        let row = target
            .participants
            .iter()
            .find(|p| &p.address == merged_in)
            .unwrap_or_else(|| panic!("{merged_in}: {:?}", target.participants));
        assert_eq!(row.role, "merged", "kept, not copied");
    }
    // Later answers on the target go to its requester only.
    d.agent_mail(
        &d.bob,
        &format!("Re: [Helpdesk #{into}] Payroll export fails"),
        "ANSWER-FOR-ERIN please clear the export cache.",
        true,
    );
    d.stack
        .wait_for_mail(&erin, WAIT, |raw| raw.contains("ANSWER-FOR-ERIN"));
    let erin_mail: Vec<String> = d
        .stack
        .mailbox(&erin)
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(erin_mail
        .iter()
        .all(|m| !m.contains("FRED-PRIVATE") && !m.contains("Export button greyed out")));
    assert!(erin_mail
        .iter()
        .all(|m| !m.contains(&fred) && !m.contains(&fred_cc)));
    let relay = d
        .ticket(into)
        .messages
        .into_iter()
        .find(|m| m.kind == "relay")
        .unwrap();
    assert_eq!(relay.to, vec![erin.clone()]);
    for raw in d.stack.mailbox(&fred) {
        let raw = String::from_utf8_lossy(&raw);
        assert!(!raw.contains("ANSWER-FOR-ERIN"), "{raw}");
    }
    d.desk.stop();
}

/// An agent's reply as a mail program writes it: answering `answered`, the body as given.
fn reply_as_client(
    from: &str,
    to: &str,
    subject: &str,
    answered: &str,
    body: &str,
) -> (String, String) {
    let id = unique("client@example.test");
    let raw = format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n\
         From: Alice Triage <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         In-Reply-To: {answered}\r\nReferences: {answered}\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    );
    (id, raw)
}

#[test]
fn commands_above_a_quoted_notice_send_the_requester_nothing() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("hugo"));
    let n = d.open_ticket(&requester, "Scanner offline");
    let tag = format!("[Helpdesk #{n}]");
    let notice = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("New ticket") && raw.contains(&tag)
    });
    let notice_id = header(&notice, "Message-ID").unwrap();
    let notice_text = text_of(&notice);
    assert!(
        notice_text.contains("It is broken, please help."),
        "{notice_text}"
    );
    let subject = format!("Re: {tag} New ticket: Scanner offline");

    // Gmail's form: commands, an attribution naming the helpdesk, the notice quoted with `>`.
    let quoted: String = notice_text
        .lines()
        .map(|line| format!("> {line}\n").replace("> \n", ">\n"))
        .collect();
    let gmail = format!(
        "#assign bob\n#priority high\n\nOn Tue, Nov 24, 2026 at 9:01 AM Example Helpdesk <{}> wrote:\n\n{quoted}",
        d.desk.support
    );
    // Outlook's form: a header block, then the notice as it was, without `>`.
    let outlook = format!(
        "#tag scanner\n\n________________________________\nFrom: Example Helpdesk <{}>\n\
         Sent: Tuesday, November 24, 2026 9:01 AM\nTo: Alice Triage <{}>\n\
         Subject: {tag} New ticket: Scanner offline\n\n{notice_text}",
        d.desk.support, d.alice
    );
    for (form, body) in [("gmail", gmail), ("outlook", outlook)] {
        let (id, raw) = reply_as_client(&d.alice, &d.desk.support, &subject, &notice_id, &body);
        // `inspect` reads the ticket's sent mail from the store before the reply is stored.
        let file = d.desk.dir.join(format!("{form}.eml"));
        std::fs::write(&file, &raw).unwrap();
        let (code, out, err) = d.desk.cli(&["inspect", file.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["visible_text"], "", "{form}: {out}");

        d.stack.send(&d.alice, &d.desk.support, raw.as_bytes());
        let stored = wait_until(WAIT, "the reply stored", || {
            d.ticket(n)
                .messages
                .into_iter()
                .find(|m| m.message_id.as_deref() == Some(id.as_str()))
        });
        assert_eq!(stored.text, "", "{form}: the stored visible text");
    }
    let ticket = d.ticket(n);
    assert_eq!(
        (
            ticket.ticket.assignee.as_deref(),
            ticket.ticket.priority.as_str()
        ),
        (Some("bob"), "high"),
        "the commands were applied"
    );
    assert!(
        ticket
            .messages
            .iter()
            .all(|m| m.direction == "in" || m.kind != "relay"),
        "no relay queued: {:?}",
        ticket.messages.iter().map(|m| &m.kind).collect::<Vec<_>>()
    );
    // A later real answer reaches the requester; nothing came before it but the acknowledgement.
    d.stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("Assigned to you"));
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Scanner offline"),
        "Hello, the scanner is back online.",
        true,
    );
    d.stack
        .wait_for_mail(&requester, WAIT, |raw| raw.contains("back online"));
    let received: Vec<String> = d
        .stack
        .mailbox(&requester)
        .iter()
        .map(|m| text_of(&String::from_utf8_lossy(m)))
        .collect();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert!(
        received
            .iter()
            .all(|text| !text.contains("#assign") && !text.contains("New ticket #")),
        "{received:#?}"
    );
    d.desk.stop();
}

/// Issue 9: only the MTA's own Authentication-Results counts. The MTA's `dkim=fail` on top and
/// an attacker's `dkim=pass` below, with the same authserv-id, or a pass hidden in a quoted
/// reason, leave the forged command refused.
#[test]
fn a_forged_lower_authentication_result_is_ignored() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("iris"));
    let n = d.open_ticket(&requester, "Badge reader");
    let tag = format!("[Helpdesk #{n}]");
    for stamps in [
        "Authentication-Results: mx.example.test; dkim=fail header.d=example.test\r\n\
         Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n",
        "Authentication-Results: mx.example.test; dkim=fail reason=\"x; dkim=pass header.d=example.test\" header.d=evil.test\r\n",
        "Authentication-Results: mx.example.test; dkim=pass header.d=test\r\n",
    ] {
        let raw = format!(
            "{stamps}From: {}\r\nTo: {}\r\nSubject: Re: {tag} Badge reader\r\nMessage-ID: <{}>\r\n\r\n#close\r\nClosing.\r\n",
            d.alice,
            d.desk.support,
            unique("forged@example.test")
        );
        d.stack.send(&d.alice, &d.desk.support, raw.as_bytes());
    }
    wait_until(WAIT, "three refusals audited", || {
        (d.events(n)
            .iter()
            .filter(|e| e.starts_with("command_refused #close"))
            .count()
            == 3)
            .then_some(())
    });
    assert_eq!(d.ticket(n).ticket.status, "new", "nothing was closed");
    // The real MTA's pass on top is obeyed: the test would pass for the wrong reason otherwise.
    d.agent_mail(
        &d.alice,
        &format!("Re: {tag} Badge reader"),
        "#close\nDone.",
        true,
    );
    wait_until(WAIT, "the authenticated #close", || {
        (d.ticket(n).ticket.status == "closed").then_some(())
    });
    d.desk.stop();
}

/// Issue 9: Reply-To is where to answer, never who someone is. A stranger authenticated for his
/// own domain, naming the requester in Reply-To, closes nothing and his text is a stranger's
/// note, not the requester's words relayed to the agents.
#[test]
fn reply_to_spoofing_is_a_strangers_note() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("jade"));
    let n = d.open_ticket(&requester, "Printer toner");
    let mallory = format!("{}@elsewhere.test", unique("mallory"));
    let raw = format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=elsewhere.test\r\n\
         From: Mallory <{mallory}>\r\nReply-To: <{requester}>\r\nTo: {}\r\n\
         Subject: Re: [Helpdesk #{n}] Printer toner\r\nMessage-ID: <{}>\r\n\r\n#close\r\nSPOOFED-TEXT all fine now.\r\n",
        d.desk.support,
        unique("spoof@elsewhere.test")
    );
    d.stack.send(&mallory, &d.desk.support, raw.as_bytes());
    let stored = wait_until(WAIT, "the spoofed mail stored", || {
        d.ticket(n)
            .messages
            .into_iter()
            .find(|m| m.from.as_deref() == Some(mallory.as_str()))
    });
    assert_eq!(stored.visibility, "stranger");
    assert_eq!(d.ticket(n).ticket.status, "new", "nothing was closed");
    assert!(
        d.events(n).iter().any(|e| e.starts_with("stranger_note")),
        "{:?}",
        d.events(n)
    );
    // Nothing relayed as the requester's words: no relay to agents carries the text.
    assert!(
        !d.ticket(n)
            .messages
            .iter()
            .any(|m| m.direction == "out" && m.text.contains("SPOOFED-TEXT")),
        "{:?}",
        d.ticket(n).messages
    );
    d.desk.stop();
}

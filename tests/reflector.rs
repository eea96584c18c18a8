//! No reflector, end to end over the real Postfix and Dovecot: floods from sub-addresses or
//! through Reply-To get at most the cap of acknowledgements in the real mailbox, forged commands
//! make no mail at all, and mail the spam filter marked waits for an agent's `#release`.

mod common;

use std::time::Duration;

use common::{
    agent_toml, event_lines, mailstack, request, unique, wait_until, Instance, MailStack,
    TRUSTED_MTA,
};
use guichet::adapters::store::Store;
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(90);
/// The default cap on automatic replies to one person per hour.
const CAP: usize = 5;

struct Desk {
    stack: MailStack,
    desk: Instance,
    store: Store,
    alice: String,
}

/// A helpdesk whose triager is alice, and whose MTA stamps `Authentication-Results:
/// mx.example.test`.
fn desk() -> Option<Desk> {
    let stack = mailstack()?;
    let alice = format!("{}@example.test", unique("alice"));
    let extra = format!(
        "{TRUSTED_MTA}{}[[queue]]\nname = \"general\"\ntriagers = [{alice:?}]\n",
        agent_toml("alice", "Alice Triage", &alice, "triager", &[]),
    );
    let mut desk = Instance::new(&stack, "reflector", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    Some(Desk {
        stack,
        desk,
        store,
        alice,
    })
}

impl Desk {
    fn tickets(&self) -> usize {
        self.store.read().list_tickets(None).unwrap().len()
    }

    /// Waits until `count` tickets exist and every mail Guichet queued has left the outbox and
    /// the Postfix queue: what will ever arrive has arrived.
    fn settle(&self, count: usize) {
        wait_until(WAIT, &format!("{count} tickets"), || {
            (self.tickets() >= count).then_some(())
        });
        wait_until(WAIT, "the outbox to drain", || {
            let reader = self.store.read();
            let pending = reader
                .list_tickets(None)
                .unwrap()
                .iter()
                .flat_map(|t| {
                    reader
                        .ticket(TicketNumber(t.number))
                        .unwrap()
                        .unwrap()
                        .messages
                })
                .filter(|m| m.direction == "out" && m.delivery.as_deref() != Some("sent"))
                .count();
            (pending == 0).then_some(())
        });
        self.stack.wait_queue_empty(WAIT);
    }

    /// Mails in `user`'s real INBOX that contain `needle`.
    fn count(&self, user: &str, needle: &str) -> usize {
        self.stack
            .mailbox(user)
            .iter()
            .filter(|raw| String::from_utf8_lossy(raw).contains(needle))
            .count()
    }

    fn events(&self, number: u64) -> Vec<String> {
        event_lines(
            &self
                .store
                .read()
                .ticket(TicketNumber(number))
                .unwrap()
                .unwrap(),
        )
    }
}

#[test]
fn thirty_sub_addresses_get_at_most_the_cap_of_acknowledgements() {
    let Some(mut d) = desk() else { return };
    let person = unique("x");
    for i in 1..=30 {
        let from = format!("{person}+{i}@example.test");
        d.stack.send(
            &from,
            &d.desk.support,
            &request(
                &from,
                &d.desk.support,
                &format!("Question {i}"),
                &unique("sub@c"),
                "Hello, a question.",
            ),
        );
    }
    d.settle(30);
    // Dovecot delivers x+N@ into x's INBOX: count what really arrived.
    let acknowledgements = d.count(
        &format!("{person}@example.test"),
        "Auto-Submitted: auto-replied",
    );
    assert_eq!(acknowledgements, CAP);
    d.desk.stop();
}

#[test]
fn thirty_reply_to_victims_get_at_most_the_cap() {
    let Some(mut d) = desk() else { return };
    let victim = unique("victim");
    for i in 1..=30 {
        let from = format!("{}@example.test", unique("spoofer"));
        let mut raw = format!("Reply-To: {victim}+{i}@example.test\r\n").into_bytes();
        raw.extend(request(
            &from,
            &d.desk.support,
            &format!("Free offer {i}"),
            &unique("rt@c"),
            "Click here.",
        ));
        d.stack.send(&from, &d.desk.support, &raw);
    }
    d.settle(30);
    assert_eq!(
        d.count(
            &format!("{victim}@example.test"),
            "Auto-Submitted: auto-replied"
        ),
        CAP
    );
    d.desk.stop();
}

#[test]
fn twenty_forged_refusals_send_nothing() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("gina"));
    d.stack.send(
        &requester,
        &d.desk.support,
        &request(
            &requester,
            &d.desk.support,
            "Laptop stolen",
            &unique("req@c"),
            "My laptop was stolen.",
        ),
    );
    d.settle(1);
    let number = d.store.read().list_tickets(None).unwrap()[0].number;
    let tag = format!("[Helpdesk #{number}]");
    // Forged in the triager's name and in the requester's: no Authentication-Results from our MTA.
    for i in 0..20 {
        let from = if i % 2 == 0 { &d.alice } else { &requester };
        let raw = format!(
            "From: {from}\r\nTo: {}\r\nSubject: Re: {tag} Laptop stolen\r\nMessage-ID: <{}>\r\n\r\n\
             #escalate BUY PILLS http://pills.example/{i}\r\n",
            d.desk.support,
            unique("forged@c")
        );
        d.stack.send(from, &d.desk.support, raw.as_bytes());
    }
    wait_until(WAIT, "20 audited refusals", || {
        let refused = d
            .events(number)
            .iter()
            .filter(|e| e.starts_with("command_refused #escalate BUY PILLS"))
            .count();
        (refused == 20).then_some(())
    });
    d.settle(1);
    for user in [d.alice.as_str(), requester.as_str()] {
        assert_eq!(d.count(user, "PILLS"), 0, "{user}");
        assert_eq!(d.count(user, "About your commands"), 0, "{user}");
    }
    let silent = d
        .events(number)
        .iter()
        .filter(|e| e.contains("the refusal goes to no one"))
        .count();
    assert_eq!(silent, 20);
    d.desk.stop();
}

#[test]
fn spam_waits_without_acknowledgement_until_released() {
    let Some(mut d) = desk() else { return };
    let sender = format!("{}@example.test", unique("maybe"));
    let mut raw = b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=6.2 required=5.0\r\n".to_vec();
    raw.extend(request(
        &sender,
        &d.desk.support,
        "Invoice overdue",
        &unique("spam@c"),
        "Please find the invoice attached.",
    ));
    d.stack.send(&sender, &d.desk.support, &raw);
    d.settle(1);
    let ticket = d.store.read().list_tickets(None).unwrap()[0].clone();
    assert_eq!(ticket.status, "spam");
    let local = sender.as_str();
    let alice = d.alice.clone();
    assert_eq!(d.count(local, "Invoice overdue"), 0, "no acknowledgement");
    assert_eq!(d.count(&alice, "Invoice overdue"), 0, "no notice");
    let (code, listed, _) = d.desk.cli(&["tickets", "list", "--status", "spam"]);
    assert_eq!(code, 0);
    assert!(listed.contains("Invoice overdue"), "{listed}");

    // The triager releases it: acknowledged and announced now.
    let raw = format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n\
         From: {}\r\nTo: {}\r\nSubject: Re: [Helpdesk #{}] Invoice overdue\r\nMessage-ID: <{}>\r\n\r\n#release\r\n",
        d.alice,
        d.desk.support,
        ticket.number,
        unique("release@c")
    );
    d.stack.send(&d.alice, &d.desk.support, raw.as_bytes());
    let ack = d.stack.wait_for_mail(local, WAIT, |raw| {
        raw.contains("Invoice overdue") && raw.contains("Auto-Submitted: auto-replied")
    });
    assert!(ack.contains(&format!("#{}", ticket.number)));
    d.stack.wait_for_mail(&alice, WAIT, |raw| {
        raw.contains("New ticket") && raw.contains("Please find the invoice attached.")
    });
    let status = d
        .store
        .read()
        .ticket(TicketNumber(ticket.number))
        .unwrap()
        .unwrap()
        .ticket
        .status;
    assert_eq!(status, "new");
    d.settle(1);
    assert_eq!(
        d.count(local, "Auto-Submitted: auto-replied"),
        1,
        "one acknowledgement"
    );
    d.desk.stop();
}

#[test]
fn a_requesters_refused_command_gets_what_they_may_do_in_their_language() {
    let Some(mut d) = desk() else { return };
    let requester = format!("{}@example.test", unique("lucie"));
    d.stack.send(
        &requester,
        &d.desk.support,
        &request(
            &requester,
            &d.desk.support,
            "Imprimante en panne",
            &unique("fr@c"),
            "Bonjour, mon imprimante ne fonctionne plus depuis ce matin. Pouvez-vous m'aider ? Merci",
        ),
    );
    d.settle(1);
    let number = d.store.read().list_tickets(None).unwrap()[0].number;
    let raw = format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n\
         From: {requester}\r\nTo: {}\r\nSubject: Re: [Helpdesk #{number}] Imprimante en panne\r\n\
         Message-ID: <{}>\r\n\r\n#priority urgent\r\nC'est urgent.\r\n",
        d.desk.support,
        unique("prio@c")
    );
    d.stack.send(&requester, &d.desk.support, raw.as_bytes());
    let reply = d
        .stack
        .wait_for_mail(&requester, WAIT, |raw| raw.contains("commandes"));
    let text = guichet::adapters::parse::parse_mail(reply.as_bytes())
        .unwrap()
        .mail
        .text;
    assert!(
        text.contains("#fermer") && text.contains("#rouvrir"),
        "{text}"
    );
    for unwanted in ["#assign", "#priority", "urgent", "Correct it", "Commands ("] {
        assert!(!text.contains(unwanted), "{unwanted}: {text}");
    }
    d.desk.stop();
}

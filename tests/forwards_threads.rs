//! Issue 16 over the real Postfix and Dovecot: an inline forward opens a ticket whose notice, in
//! the triager's mailbox, shows the forwarded alert and its sender; the requester's client
//! threads every mail she receives on mails she sent or received.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{
    agent_toml, header, mailstack, request, unique, Instance, MailStack, AUTHENTICATED, TRUSTED_MTA,
};
use guichet::adapters::parse::parse_mail;

const WAIT: Duration = Duration::from_secs(45);

struct Desk {
    stack: MailStack,
    desk: Instance,
    alice: String,
    bob: String,
}

fn desk() -> Option<Desk> {
    let stack = mailstack()?;
    let alice = format!("{}@example.test", unique("alice"));
    let bob = format!("{}@example.test", unique("bob"));
    let extra = format!(
        "{TRUSTED_MTA}{}{}",
        agent_toml("alice", "Alice Triage", &alice, "triager", &[]),
        agent_toml("bob", "Bob Martin", &bob, "agent", &[1, 2, 3]),
    );
    let mut desk = Instance::new(&stack, "forwards", stack.smtp_port(), &extra);
    desk.start();
    Some(Desk {
        stack,
        desk,
        alice,
        bob,
    })
}

impl Desk {
    fn agent_mail(&self, from: &str, subject: &str, body: &str) {
        let raw = format!(
            "{AUTHENTICATED}\
             From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}>\r\n\r\n{body}\r\n",
            self.desk.support,
            unique("agent@example.test"),
        );
        self.stack.send(from, &self.desk.support, raw.as_bytes());
    }
}

fn text_of(raw: &str) -> String {
    parse_mail(raw.as_bytes()).unwrap().mail.text
}

const ALERT: &str = "Toner level low (5%) on tray 2. Replace the cartridge before Friday.";

#[test]
fn inline_forwards_from_mutt_and_gmail_show_the_alert_to_the_triager() {
    let Some(d) = desk() else { return };
    let carla = format!("{}@example.test", unique("carla"));
    let printer = "Printer Room 3 <printer3@printers.example>";
    let mutt = format!(
        "The printer keeps mailing me this.\n\n\
         ----- Forwarded message from {printer} -----\n\n\
         Date: Mon, 4 Mar 2024 09:12:00 +0100\nFrom: {printer}\nTo: {carla}\n\
         Subject: Toner low on P3 (mutt)\n\n{ALERT}\n\n----- End forwarded message -----\n"
    );
    let gmail = format!(
        "Can someone look at this?\n\n---------- Forwarded message ---------\n\
         From: {printer}\nDate: Mon, Mar 4, 2024 at 9:12 AM\nSubject: Toner low on P3 (gmail)\n\
         To: <{carla}>\n\n\n{ALERT}\n"
    );
    for (client, body) in [("mutt", mutt), ("gmail", gmail)] {
        let subject = format!("Fwd: Toner low on P3 ({client})");
        d.stack.send(
            &carla,
            &d.desk.support,
            &request(&carla, &d.desk.support, &subject, &unique("fwd@c"), &body),
        );
        let notice = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
            raw.contains("New ticket") && raw.contains(&format!("Toner low on P3 ({client})"))
        });
        let text = text_of(&notice);
        for shown in [
            "---------- Forwarded message ----------",
            "From: Printer Room 3 <printer3@printers.example>",
            &format!("Subject: Toner low on P3 ({client})"),
            ALERT,
        ] {
            assert!(text.contains(shown), "{client}: {shown:?} in\n{text}");
        }
        assert!(!text.contains("End forwarded message"), "{text}");
    }
}

fn ids(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split_whitespace()
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect()
}

#[test]
fn the_requester_is_threaded_on_her_own_mail_only() {
    let Some(d) = desk() else { return };
    let carla = format!("{}@example.test", unique("carla"));
    let first = unique("carla-1@c");
    d.stack.send(
        &carla,
        &d.desk.support,
        &request(
            &carla,
            &d.desk.support,
            "Printer jammed",
            &first,
            "It is broken, please help.",
        ),
    );
    let notice = d
        .stack
        .wait_for_mail(&d.alice, WAIT, |raw| raw.contains("New ticket"));
    let subject = header(&notice, "Subject").unwrap();
    let tag_end = subject.find(']').unwrap() + 1;
    let tag = subject[subject.find('[').unwrap()..tag_end].to_string();
    d.agent_mail(&d.alice, &format!("Re: {subject}"), "#assign bob\n");
    d.stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("Assigned to you"));
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Assigned to you"),
        "Hello Carla, open tray 2 and pull the sheet.",
    );
    d.stack
        .wait_for_mail(&carla, WAIT, |raw| raw.contains("open tray 2"));
    let second = unique("carla-2@c");
    d.stack.send(
        &carla,
        &d.desk.support,
        &request(
            &carla,
            &d.desk.support,
            &format!("Re: {tag} Printer jammed"),
            &second,
            "Still jammed on tray 3.",
        ),
    );
    d.stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("Still jammed"));
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Printer jammed"),
        "Then the roller is worn; I am sending a new one.",
    );
    let last = d
        .stack
        .wait_for_mail(&carla, WAIT, |raw| raw.contains("roller is worn"));

    let received: Vec<String> = d
        .stack
        .mailbox(&carla)
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(
        received.len() >= 3,
        "ack and two answers: {}",
        received.len()
    );
    let mut known: HashSet<String> = [first.clone(), second.clone()].into();
    known.extend(received.iter().flat_map(|m| ids(header(m, "Message-ID"))));
    for mail in &received {
        let parent = ids(header(mail, "In-Reply-To"));
        let references = ids(header(mail, "References"));
        assert!(!parent.is_empty(), "every mail threads: {mail}");
        for id in parent.iter().chain(&references) {
            assert!(known.contains(id), "{id} is no mail Carla saw, in:\n{mail}");
        }
        assert_eq!(references.first(), Some(&first), "under her first mail");
    }
    assert_eq!(ids(header(&last, "In-Reply-To")), [second]);
}

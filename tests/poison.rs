//! Poison mail over the real Postfix and Dovecot: a mail whose names decode to line breaks and
//! whose Cc holds undeliverable addresses, followed by a normal one, through the pipe transport
//! and through a watched IMAP mailbox. Both end in the store, both are acknowledged, the agent's
//! answer on the poison ticket still reaches everyone it can, and nothing is left in the INBOX.

mod common;

use std::time::Duration;

use common::{
    agent_toml, header, mailstack, request, unique, wait_until, Instance, MailStack, TRUSTED_MTA,
};
use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::Store;
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

fn address(prefix: &str) -> String {
    format!("{}@example.test", unique(prefix))
}

/// The mail of issue 8: a From whose name decodes to `a\nb`, a Cc whose name decodes to a line
/// break and a Bcc header, and Cc addresses that cannot be delivered to.
fn poison(from: &str, carol: &str, support: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?a=0Ab?= <{from}>\r\nTo: {support}\r\n\
         Cc: =?UTF-8?Q?Carol=0D=0ABcc=3A_victim=40example=2Etest?= <{carol}>, <x..y@example.test>, <.x@example.test>, <x.@example.test>, \"x@example.test\r\n\
         Subject: =?UTF-8?Q?Printer=0Adown?=\r\nMessage-ID: <{}>\r\n\r\nThe printer is down.\r\n",
        unique("poison@evil")
    )
    .into_bytes()
}

fn agent_extra(bob: &str) -> String {
    format!(
        "{TRUSTED_MTA}{}",
        agent_toml("bob", "Bob Martin", bob, "triager", &[])
    )
}

/// Checks both mails were stored and acknowledged; returns the poison mail's ticket number
/// (Postfix may deliver the two in either order).
fn check_both_stored(
    store: &Store,
    stack: &MailStack,
    requester: &str,
    other: &str,
    carol: &str,
) -> u64 {
    let tickets = wait_until(WAIT, "both tickets", || {
        let tickets = store.read().list_tickets(None).unwrap();
        (tickets.len() == 2).then_some(tickets)
    });
    let number = |who: &str| {
        tickets
            .iter()
            .find(|t| t.requester == who)
            .unwrap_or_else(|| panic!("no ticket from {who}: {tickets:?}"))
            .number
    };
    let (poison_number, other_number) = (number(requester), number(other));
    let poison = store
        .read()
        .ticket(TicketNumber(poison_number))
        .unwrap()
        .unwrap();
    assert_eq!(poison.ticket.requester, requester);
    assert_eq!(poison.ticket.requester_name.as_deref(), Some("a b"));
    assert_eq!(poison.ticket.subject, "Printer down");
    let addresses: Vec<&str> = poison
        .participants
        .iter()
        .map(|p| p.address.as_str())
        .collect();
    assert!(addresses.contains(&carol), "{addresses:?}");
    assert!(
        !addresses
            .iter()
            .any(|a| a.contains("x..y") || a.starts_with(".x") || a.contains("x.@")),
        "{addresses:?}"
    );
    let cuts = poison
        .events
        .iter()
        .filter(|e| e.kind == "intake_cut")
        .count();
    assert!(cuts >= 3, "{:?}", poison.events);
    // Both acknowledged, each in its requester's own mailbox.
    let tag = |n: u64| format!("[Helpdesk #{n}]");
    let ack = stack.wait_for_mail(requester, WAIT, |raw| raw.contains(&tag(poison_number)));
    assert!(!ack.to_ascii_lowercase().contains("\r\nbcc:"), "{ack}");
    stack.wait_for_mail(other, WAIT, |raw| raw.contains(&tag(other_number)));
    poison_number
}

#[test]
fn a_poison_mail_through_the_pipe_does_not_stop_the_next_and_answers_still_go_out() {
    let Some(stack) = mailstack() else { return };
    let bob = address("bob");
    let mut desk = Instance::new(&stack, "poison", stack.smtp_port(), &agent_extra(&bob));
    desk.start();
    let requester = address("req");
    let carol = address("carol");
    let other = address("other");
    stack.send(
        &requester,
        &desk.support,
        &poison(&requester, &carol, &desk.support),
    );
    stack.send(
        &other,
        &desk.support,
        &request(
            &other,
            &desk.support,
            "Wi-Fi drops",
            &unique("n@client"),
            "It drops.",
        ),
    );
    stack.wait_queue_empty(WAIT);
    let store = desk.store();
    let n = check_both_stored(&store, &stack, &requester, &other, &carol);

    // Bob's answer reaches the requester and Carol, with clean headers.
    let answer = format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n\
         From: Bob <{bob}>\r\nTo: {}\r\nSubject: Re: [Helpdesk #{n}] Printer down\r\nMessage-ID: <{}>\r\n\r\nPlease restart it.\r\n",
        desk.support,
        unique("answer@example")
    );
    stack.send(&bob, &desk.support, answer.as_bytes());
    let relayed = stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("Please restart it."));
    let cc = header(&relayed, "Cc").unwrap_or_default();
    assert!(cc.contains(&carol) && !cc.contains("x..y"), "{cc}");
    stack.wait_for_mail(&carol, WAIT, |raw| raw.contains("Please restart it."));
    let parsed = parse_mail(relayed.as_bytes()).unwrap().mail;
    assert_eq!(parsed.to[0].address, requester);
    let detail = store.read().ticket(TicketNumber(n)).unwrap().unwrap();
    assert!(
        !detail.events.iter().any(|e| e.kind == "mail_not_rendered"),
        "{:?}",
        detail.events
    );
    desk.stop();
}

#[test]
fn a_poison_mail_in_a_watched_mailbox_does_not_stop_the_next() {
    let Some(stack) = mailstack() else { return };
    let support = address("poisonbox");
    let bob = address("bob");
    let mailbox = stack.mailbox_toml("support", &support, "INBOX", stack.master_password(), "");
    let mut desk = Instance::with_support(
        &stack,
        &unique("poisonimap"),
        &support,
        stack.smtp_port(),
        &format!("{mailbox}{}", agent_extra(&bob)),
    );
    let requester = address("req");
    let carol = address("carol");
    let other = address("other");
    stack.append(
        &support,
        "INBOX",
        &[
            poison(&requester, &carol, &support),
            request(
                &other,
                &support,
                "Wi-Fi drops",
                &unique("n@client"),
                "It drops.",
            ),
        ],
    );
    desk.start();
    let store = desk.store();
    check_both_stored(&store, &stack, &requester, &other, &carol);
    wait_until(WAIT, "both mails filed in Processed", || {
        (stack.count(&support, "INBOX") == 0 && stack.count(&support, "Processed") == 2)
            .then_some(())
    });
    let log = desk.log();
    assert!(!log.contains("panicked"), "{log}");
    desk.stop();
}

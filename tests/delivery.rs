//! Delivery per recipient, end to end over the real Postfix and Dovecot: one refused Cc does not
//! stop an agent's answer, the refusal is recorded and told to the agent; a relay that never
//! greets costs a timeout and a retry, not the mail.

mod common;

use std::time::Duration;

use common::{
    event_lines, header, mailstack, request, unique, wait_until, Instance, AUTHENTICATED,
};
use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::TicketDetail;
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

fn ticket(store: &guichet::adapters::store::Store, number: u64) -> TicketDetail {
    store.read().ticket(TicketNumber(number)).unwrap().unwrap()
}

#[test]
fn an_answer_reaches_everyone_but_the_refused_cc_and_the_agent_is_told() {
    let Some(stack) = mailstack() else { return };
    let bob = format!("{}@example.test", unique("bob"));
    let extra = format!(
        "[commands]\ntrusted_authserv_ids = [\"mx.example.test\"]\n\
         [[agent]]\nname = \"bob\"\ndisplay_name = \"Bob Martin\"\naddresses = [{bob:?}]\nrole = \"agent\"\n"
    );
    let mut desk = Instance::new(&stack, "delivery", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();

    // A request copying a colleague and an address no server takes mail for.
    let carla = format!("{}@example.test", unique("carla"));
    let dan = format!("{}@example.test", unique("dan"));
    let nowhere = format!("{}@nowhere.invalid", unique("ghost"));
    let raw = format!(
        "From: Carla <{carla}>\r\nTo: {}\r\nCc: Dan <{dan}>, Ghost <{nowhere}>\r\nSubject: Scanner offline\r\n\
         Message-ID: <{}>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0100\r\n\r\nThe scanner is offline.\r\n",
        desk.support,
        unique("req@client")
    );
    stack.send(&carla, &desk.support, raw.as_bytes());
    let number = wait_until(WAIT, "the ticket", || {
        let rows = store.read().list_tickets(None).unwrap();
        rows.iter()
            .find(|t| t.subject == "Scanner offline")
            .map(|t| t.number)
    });
    let tag = format!("[Helpdesk #{number}]");

    // Bob answers: the relay goes to Carla, copying Dan and the ghost.
    let answer = format!(
        "{AUTHENTICATED}\
         From: Bob Martin <{bob}>\r\nTo: {}\r\nSubject: Re: {tag} Scanner offline\r\nMessage-ID: <{}>\r\n\r\n\
         Please power-cycle the scanner.\r\n",
        desk.support,
        unique("bob@example.test")
    );
    stack.send(&bob, &desk.support, answer.as_bytes());

    // The two reachable recipients get it in their real mailboxes.
    for person in [&carla, &dan] {
        let got = stack.wait_for_mail(person, WAIT, |raw| raw.contains("power-cycle"));
        assert!(header(&got, "Subject").unwrap().contains(&tag));
    }

    // The refusal is recorded with the server's reason, per recipient and in the audit trail.
    let relay = wait_until(WAIT, "the relay's outcome", || {
        let detail = ticket(&store, number);
        let relay = detail.messages.iter().find(|m| m.kind == "relay")?.clone();
        relay
            .delivery
            .as_deref()
            .is_some_and(|d| d.starts_with("sent"))
            .then_some(relay)
    });
    let recipients = store.read().recipients_of(relay.id).unwrap();
    let states: Vec<(&str, &str)> = recipients
        .iter()
        .map(|r| (r.address.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![
            (carla.as_str(), "delivered"),
            (dan.as_str(), "delivered"),
            (nowhere.as_str(), "refused")
        ]
    );
    let reason = recipients[2].last_error.clone().unwrap();
    assert!(
        reason.starts_with("554") && reason.contains("Relay access denied"),
        "the server's own words: {reason}"
    );
    assert!(
        relay.delivery.as_deref().unwrap().contains(&nowhere),
        "{:?}",
        relay.delivery
    );
    let trail = event_lines(&ticket(&store, number));
    assert!(
        trail
            .iter()
            .any(|e| e.starts_with("correspondence answer from bob queued")),
        "{trail:?}"
    );
    assert!(
        trail
            .iter()
            .any(|e| e.starts_with("delivered relay delivered to")
                && e.contains(&carla)
                && e.contains(&dan)),
        "{trail:?}"
    );
    assert!(
        trail.iter().any(|e| e.starts_with("delivery_refused")
            && e.contains(&nowhere)
            && e.contains("Relay access denied")),
        "{trail:?}"
    );

    // Bob is told who did not get his answer, and why.
    let notice = stack.wait_for_mail(&bob, WAIT, |raw| raw.contains("Not delivered"));
    let notice = parse_mail(notice.as_bytes()).unwrap().mail;
    assert!(notice.subject.contains(&tag), "{}", notice.subject);
    assert!(
        notice.text.contains(&nowhere) && notice.text.contains("Relay access denied"),
        "{}",
        notice.text
    );
    assert!(
        !notice.text.contains(&dan),
        "only who failed: {}",
        notice.text
    );
    assert_eq!(
        notice.loop_signals.auto_submitted.as_deref(),
        Some("auto-generated")
    );

    // `guichet tickets show` and `guichet status` say so too.
    let (code, shown, _) = desk.cli(&["tickets", "show", &number.to_string()]);
    assert_eq!(code, 0);
    assert!(
        shown.contains("delivery_refused") && shown.contains(&nowhere),
        "{shown}"
    );
    let (code, status, _) = desk.cli(&["status"]);
    assert_eq!(code, 0);
    assert!(
        status.contains("1 recipients refused or given up"),
        "{status}"
    );
    desk.stop();
}

#[test]
fn a_relay_that_never_greets_is_retried_not_given_up() {
    let Some(stack) = mailstack() else { return };
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming() {
            held.push(socket);
        }
    });
    let mut desk = Instance::new(&stack, "silent", port, "");
    desk.start();
    let store = desk.store();
    let requester = format!("{}@example.test", unique("silent"));
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            "Silent relay",
            &unique("s@client"),
            "Hello?",
        ),
    );
    // Two failed attempts: the first timed out and the row came back for another.
    let (acknowledgement, recipients) = wait_until(WAIT, "a second attempt", || {
        let detail = store.read().ticket(TicketNumber(1)).ok()??;
        let out = detail
            .messages
            .iter()
            .find(|m| m.kind == "acknowledgement")?
            .clone();
        let recipients = store.read().recipients_of(out.id).ok()?;
        (recipients.first()?.attempts >= 2).then_some((out, recipients))
    });
    let delivery = acknowledgement.delivery.unwrap();
    assert!(delivery.starts_with("pending: "), "{delivery}");
    assert!(delivery.contains("no answer to the greeting"), "{delivery}");
    assert_eq!(recipients[0].status, "pending");
    let trail = event_lines(&ticket(&store, 1));
    let deferred: Vec<&String> = trail
        .iter()
        .filter(|e| e.starts_with("delivery_deferred"))
        .collect();
    assert_eq!(deferred.len(), 1, "once, not at every retry: {trail:?}");
    assert!(!trail.iter().any(|e| e.starts_with("delivery_given_up")));
    assert_eq!(store.read().outbox_counts().unwrap().dead, 0);
    desk.stop();
}

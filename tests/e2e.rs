//! End to end over a real Postfix and Dovecot (scripts/mailstack.sh, started by scripts/test.sh):
//! mail goes in through Postfix's pipe transport into `guichet ingest`, the daemon sends through
//! Postfix, and what users receive is read from their Dovecot mailboxes over IMAPS.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{header, mailstack, request, unique, wait_until, Instance};
use guichet::adapters::parse::parse_mail;
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

#[test]
fn a_request_becomes_a_ticket_and_its_replies_thread_onto_it() {
    let Some(stack) = mailstack() else { return };
    let mut desk = Instance::new(&stack, "thread", stack.smtp_port(), "");
    desk.start();
    let requester = format!("{}@example.test", unique("req"));
    let first_id = format!("{}@client.example.test", unique("m"));
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            "Printer jammed on floor 2",
            &first_id,
            "Hello, the printer is jammed. Thanks",
        ),
    );

    // The acknowledgement reaches the requester's mailbox, tagged and threaded.
    let ack = stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("[Helpdesk #1]"));
    assert_eq!(
        header(&ack, "Subject").as_deref(),
        Some("[Helpdesk #1] Printer jammed on floor 2")
    );
    assert_eq!(header(&ack, "In-Reply-To"), Some(format!("<{first_id}>")));
    assert_eq!(
        header(&ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(header(&ack, "From").unwrap().contains(&desk.support));
    let ack_id = header(&ack, "Message-ID").unwrap();
    let ack_text = parse_mail(ack.as_bytes()).unwrap().mail.text;
    assert!(ack_text.contains("ticket #1"), "{ack_text}");

    let store = desk.store();
    let tickets = store.read().list_tickets(None).unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].requester, requester);
    assert_eq!(tickets[0].subject, "Printer jammed on floor 2");

    // A reply with the tag behind a French prefix, then one with only In-Reply-To.
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            "RE : [Helpdesk #1] Printer jammed on floor 2",
            &unique("r1@client"),
            "Still jammed.",
        ),
    );
    let by_header = format!(
        "From: {requester}\r\nTo: {}\r\nSubject: still broken\r\nMessage-ID: <{}>\r\nIn-Reply-To: {ack_id}\r\n\r\nAny news?\r\n",
        desk.support,
        unique("r2@client")
    );
    stack.send(&requester, &desk.support, by_header.as_bytes());

    let detail = wait_until(WAIT, "both replies on ticket #1", || {
        let detail = store.read().ticket(TicketNumber(1)).unwrap()?;
        (detail
            .messages
            .iter()
            .filter(|m| m.direction == "in")
            .count()
            == 3)
            .then_some(detail)
    });
    assert!(detail.messages.iter().all(|m| m.visibility == "public"));
    assert_eq!(
        store.read().list_tickets(None).unwrap().len(),
        1,
        "replies made no new ticket"
    );
    // What intake decided, in order; the outbox's outcomes interleave as the server answers.
    let kinds: Vec<&str> = detail
        .events
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|kind| !kind.starts_with("deliver"))
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "acknowledgement_queued",
            "correspondence",
            "correspondence"
        ]
    );
    let delivered = wait_until(WAIT, "the acknowledgement's outcome", || {
        let detail = store.read().ticket(TicketNumber(1)).unwrap()?;
        detail.events.into_iter().find(|e| e.kind == "delivered")
    });
    assert_eq!(
        delivered.detail,
        format!("acknowledgement delivered to {requester}")
    );
    desk.stop();
}

#[test]
fn a_bounce_is_stored_and_never_answered() {
    let Some(stack) = mailstack() else { return };
    let mut desk = Instance::new(&stack, "bounce", stack.smtp_port(), "");
    desk.start();
    let daemon = format!("mailer-daemon-{}@example.test", unique("x"));
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@example.test>\r\nReply-To: {daemon}\r\nTo: {}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\n\
         Final-Recipient: rfc822; gone@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n",
        desk.support,
        unique("bounce@mx")
    );
    // A bounce comes with the null reverse-path.
    stack.send("", &desk.support, bounce.as_bytes());
    // A person's mail after it proves the sender works: its acknowledgement does arrive.
    let person = format!("{}@example.test", unique("person"));
    stack.send(
        &person,
        &desk.support,
        &request(
            &person,
            &desk.support,
            "VPN down",
            &unique("p@client"),
            "VPN down",
        ),
    );
    stack.wait_for_mail(&person, WAIT, |raw| raw.contains("[Helpdesk #"));

    let store = desk.store();
    let tickets = wait_until(WAIT, "two tickets", || {
        let tickets = store.read().list_tickets(None).unwrap();
        (tickets.len() == 2).then_some(tickets)
    });
    let bounce_ticket = tickets
        .iter()
        .find(|t| t.subject.starts_with("Undelivered"))
        .unwrap();
    let detail = store
        .read()
        .ticket(TicketNumber(bounce_ticket.number))
        .unwrap()
        .unwrap();
    assert!(
        detail.messages.iter().all(|m| m.direction == "in"),
        "nothing was sent for the bounce"
    );
    let suppressed = detail
        .events
        .iter()
        .find(|e| e.kind == "auto_reply_suppressed")
        .unwrap();
    assert!(
        suppressed.detail.contains("null return path"),
        "{}",
        suppressed.detail
    );
    assert_eq!(
        store.read().outbox_counts().unwrap().sent,
        1,
        "only the person was answered"
    );
    assert!(
        stack.mailbox(&daemon).is_empty(),
        "the bounce's Reply-To got mail"
    );
    desk.stop();
}

#[test]
fn the_same_mail_delivered_twice_makes_one_ticket() {
    let Some(stack) = mailstack() else { return };
    let mut desk = Instance::new(&stack, "dup", stack.smtp_port(), "");
    desk.start();
    let requester = format!("{}@example.test", unique("dup"));
    let with_id = request(
        &requester,
        &desk.support,
        "Screen flickers",
        &unique("d@client"),
        "It flickers.",
    );
    let without_id = format!(
        "From: {requester}\r\nTo: {}\r\nSubject: Keyboard missing keys\r\nDate: Tue, 24 Nov 2026 09:00:00 +0100\r\n\r\nNo Message-ID here.\r\n",
        desk.support
    );
    for _ in 0..2 {
        stack.send(&requester, &desk.support, &with_id);
        stack.send(&requester, &desk.support, without_id.as_bytes());
    }
    stack.wait_queue_empty(WAIT);
    let store = desk.store();
    wait_until(WAIT, "two acknowledgements sent", || {
        (store.read().outbox_counts().unwrap().sent == 2).then_some(())
    });
    let tickets = store.read().list_tickets(None).unwrap();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let acks = wait_until(WAIT, "both acknowledgements in the mailbox", || {
        let mails = stack.mailbox(&requester);
        (mails.len() >= 2).then_some(mails)
    });
    assert_eq!(
        acks.len(),
        2,
        "one acknowledgement per ticket, none for the second deliveries"
    );
    desk.stop();
}

/// Copies bytes both ways between a client and Postfix: the SMTP port "reopening".
fn forward(listener: TcpListener, target: u16) {
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
            continue;
        };
        let pipe = |mut from: TcpStream, mut to: TcpStream| {
            std::thread::spawn(move || {
                let mut buffer = [0u8; 8192];
                while let Ok(n) = from.read(&mut buffer) {
                    if n == 0 || to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        };
        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
        pipe(server, client);
    }
}

#[test]
fn the_acknowledgement_waits_in_the_outbox_while_smtp_is_closed() {
    let Some(stack) = mailstack() else { return };
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut desk = Instance::new(&stack, "closed", closed_port, "");
    desk.start();
    let requester = format!("{}@example.test", unique("wait"));
    stack.send(
        &requester,
        &desk.support,
        &request(
            &requester,
            &desk.support,
            "Disk full",
            &unique("w@client"),
            "Disk full",
        ),
    );
    let store = desk.store();
    let delivery = wait_until(WAIT, "a failed delivery attempt", || {
        let detail = store.read().ticket(TicketNumber(1)).ok()??;
        let out = detail.messages.iter().find(|m| m.direction == "out")?;
        out.delivery.clone().filter(|d| d.starts_with("pending: "))
    });
    assert!(
        delivery.contains("onnection"),
        "the error says why: {delivery}"
    );
    assert!(stack.mailbox(&requester).is_empty());

    let listener = TcpListener::bind(("127.0.0.1", closed_port)).unwrap();
    let postfix = stack.smtp_port();
    std::thread::spawn(move || forward(listener, postfix));
    let ack = stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("[Helpdesk #1]"));
    assert!(ack.contains("Disk full"));
    let detail = store.read().ticket(TicketNumber(1)).unwrap().unwrap();
    let out = detail
        .messages
        .iter()
        .find(|m| m.direction == "out")
        .unwrap();
    assert_eq!(out.delivery.as_deref(), Some("sent"));
    desk.stop();
}

#[test]
fn a_french_request_is_acknowledged_in_french() {
    let Some(stack) = mailstack() else { return };
    let mut desk = Instance::new(&stack, "fr", stack.smtp_port(), "");
    desk.start();
    let requester = format!("{}@example.test", unique("fr"));
    let raw = format!(
        "From: =?UTF-8?Q?H=C3=A9l=C3=A8ne_Marchand?= <{requester}>\r\nTo: {}\r\nSubject: =?UTF-8?Q?Imprimante_bloqu=C3=A9e?=\r\n\
         Message-ID: <{}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Bonjour, je ne peux pas imprimer avec mon poste depuis ce matin. Merci d'avance, cordialement.\r\n",
        desk.support,
        unique("fr@client")
    );
    stack.send(&requester, &desk.support, raw.as_bytes());
    let ack = stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("Helpdesk"));
    let ack = parse_mail(ack.as_bytes()).unwrap().mail;
    assert_eq!(ack.subject, "[Helpdesk #1] Imprimante bloquée");
    assert!(
        ack.text.starts_with("Bonjour Hélène Marchand,"),
        "{}",
        ack.text
    );
    assert!(ack.text.contains("ticket n° 1"), "{}", ack.text);
    desk.stop();
}

#[test]
fn acknowledgements_go_out_over_starttls_and_implicit_tls_with_auth() {
    let Some(stack) = mailstack() else { return };
    for (security, port_key) in [
        ("starttls", "MAILSTACK_SUBMISSION_PORT"),
        ("tls", "MAILSTACK_SUBMISSIONS_PORT"),
    ] {
        let smtp = format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\nsecurity = {security:?}\nca_file = {:?}\n\
             username = \"support@example.test\"\npassword = \"support-pw\"\ntimeout_secs = 10\n",
            stack.port(port_key),
            stack.get("MAILSTACK_CA_CERT")
        );
        let name = unique(security);
        let support = format!("{name}@{}", stack.pipe_domain());
        let mut desk = Instance::custom(&stack, &name, &support, &smtp, "");
        desk.start();
        let requester = format!("{}@example.test", unique("tls"));
        stack.send(
            &requester,
            &desk.support,
            &request(
                &requester,
                &desk.support,
                "Over TLS",
                &unique("t@c"),
                "hello",
            ),
        );
        let ack = stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("[Helpdesk #1]"));
        assert!(ack.contains("Over TLS"), "{security}");
        desk.stop();
    }
}

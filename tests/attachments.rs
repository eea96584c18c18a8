//! Attachments travel, end to end over the real Postfix and Dovecot: a requester's screenshot
//! reaches the triager, the assignee and the requester's reply relay byte for byte; an agent's
//! file reaches the requester; a file over the notice limit is named and `#attachments` fetches
//! it; a mail forwarded as an attachment shows its text in the new-ticket notice.

mod common;

use std::time::Duration;

use common::{
    agent_toml, event_lines, mailstack, unique, wait_until, Instance, MailStack, AUTHENTICATED,
    TRUSTED_MTA,
};
use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::Store;
use guichet::core::ticket::TicketNumber;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};

const WAIT: Duration = Duration::from_secs(60);

struct Desk {
    stack: MailStack,
    desk: Instance,
    store: Store,
    alice: String,
    bob: String,
}

fn desk(extra: &str) -> Option<Desk> {
    let stack = mailstack()?;
    let alice = format!("{}@example.test", unique("alice"));
    let bob = format!("{}@example.test", unique("bob"));
    let config = format!(
        "{TRUSTED_MTA}{}{}{extra}",
        agent_toml("alice", "Alice Triage", &alice, "triager", &[]),
        agent_toml("bob", "Bob Martin", &bob, "agent", &[1, 2, 3]),
    );
    let mut desk = Instance::new(&stack, "attach", stack.smtp_port(), &config);
    desk.start();
    let store = desk.store();
    Some(Desk {
        stack,
        desk,
        store,
        alice,
        bob,
    })
}

/// A PNG's signature and IHDR, then bytes of every value (so that any re-encoding shows).
fn screenshot(len: usize) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x01\0\x08\x02\0\0\0".to_vec();
    let mut state = 0x2545_f491_u32;
    while png.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        png.push((state >> 24) as u8);
    }
    png
}

/// A mail with files, as a mail program writes it (lettre's builder: base64 parts).
fn with_files(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    files: &[(&str, &str, &[u8])],
) -> Vec<u8> {
    let mut mixed = MultiPart::mixed().singlepart(SinglePart::plain(text.to_string()));
    for (name, content_type, bytes) in files {
        mixed = mixed.singlepart(
            Attachment::new(name.to_string())
                .body(bytes.to_vec(), ContentType::parse(content_type).unwrap()),
        );
    }
    lettre::Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{}>", unique("m@example.test"))))
        .multipart(mixed)
        .unwrap()
        .formatted()
}

/// The files a received mail carries: (name, bytes).
fn files_of(raw: &str) -> Vec<(String, Vec<u8>)> {
    let parsed = parse_mail(raw.as_bytes()).unwrap();
    parsed
        .attachments()
        .map(|(meta, bytes)| (meta.filename.clone(), bytes.to_vec()))
        .collect()
}

fn text_of(raw: &str) -> String {
    parse_mail(raw.as_bytes()).unwrap().mail.text
}

impl Desk {
    fn ticket_for(&self, subject: &str) -> u64 {
        wait_until(WAIT, "the new ticket", || {
            let rows = self.store.read().list_tickets(None).unwrap();
            rows.iter().find(|t| t.subject == subject).map(|t| t.number)
        })
    }

    fn send(&self, from: &str, raw: &[u8]) {
        self.stack.send(from, &self.desk.support, raw);
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
fn a_screenshot_reaches_triager_assignee_and_back_byte_for_byte() {
    let Some(d) = desk("") else { return };
    let carla = format!("{}@example.test", unique("carla"));
    let png = screenshot(300_000);
    d.send(
        &carla,
        &with_files(
            &carla,
            &d.desk.support,
            "Screen is garbled",
            "See the screenshot.",
            &[("screenshot.png", "image/png", &png)],
        ),
    );
    let n = d.ticket_for("Screen is garbled");
    let tag = format!("[Helpdesk #{n}]");

    // The triager's new-ticket notice carries it, read back from her real mailbox.
    let notice = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("New ticket") && raw.contains(&tag)
    });
    assert_eq!(
        files_of(&notice),
        vec![("screenshot.png".to_string(), png.clone())]
    );

    // Assigned by mail: the assignee's notice hands the ticket over with its files.
    d.send(
        &d.alice,
        format!(
            "{AUTHENTICATED}From: {}\r\nTo: {}\r\nSubject: Re: {tag} New ticket\r\nMessage-ID: <{}>\r\n\r\n#assign bob\r\n",
            d.alice,
            d.desk.support,
            unique("a@example.test")
        )
        .as_bytes(),
    );
    let assigned = d
        .stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("Assigned to you"));
    assert_eq!(
        files_of(&assigned),
        vec![("screenshot.png".to_string(), png.clone())]
    );

    // The requester sends another file: the relay to the assignee carries it.
    let log = b"12:00 ERROR display\n12:01 ERROR display again\n".to_vec();
    d.send(
        &carla,
        &with_files(
            &carla,
            &d.desk.support,
            &format!("Re: {tag} Screen is garbled"),
            "Here is the log too.",
            &[("display.log", "text/plain", &log)],
        ),
    );
    let relay = d.stack.wait_for_mail(&d.bob, WAIT, |raw| {
        raw.contains("display.log") && !raw.contains("Assigned to you")
    });
    assert_eq!(files_of(&relay), vec![("display.log".to_string(), log)]);

    // The assignee answers with a file: the requester receives it.
    let fix = screenshot(5_000);
    let mut answer = AUTHENTICATED.as_bytes().to_vec();
    answer.extend(with_files(
        &d.bob,
        &d.desk.support,
        &format!("Re: {tag} Screen is garbled"),
        "Install this driver settings file, please.",
        &[("settings.png", "image/png", &fix)],
    ));
    d.send(&d.bob, &answer);
    let answered = d
        .stack
        .wait_for_mail(&carla, WAIT, |raw| raw.contains("settings.png"));
    assert!(text_of(&answered).contains("Install this driver settings file"));
    assert_eq!(files_of(&answered), vec![("settings.png".to_string(), fix)]);
}

#[test]
fn a_30_mb_file_is_named_with_its_size_and_fetched_with_hash_attachments() {
    // Notices carry files up to 10 MB (the default); each #attachments mail may hold 40 MB, so
    // the 30 MB file can be fetched (Postfix here takes 50 MB: 30 MB is 41 MB in base64).
    let Some(d) = desk("[attachments]\nmax_mail_bytes = 41943040\n") else {
        return;
    };
    let carla = format!("{}@example.test", unique("carla"));
    let dump = screenshot(30 * 1024 * 1024);
    d.send(
        &carla,
        &with_files(
            &carla,
            &d.desk.support,
            "Crash dump",
            "The dump is attached.",
            &[("crash.dmp", "application/octet-stream", &dump)],
        ),
    );
    let n = d.ticket_for("Crash dump");
    let tag = format!("[Helpdesk #{n}]");
    let notice = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("New ticket") && raw.contains(&tag)
    });
    assert!(
        files_of(&notice).is_empty(),
        "30 MB is over the notice limit"
    );
    let text = text_of(&notice);
    assert!(
        text.contains("crash.dmp (30.0 MB)") && text.contains("#attachments"),
        "{text}"
    );

    d.send(
        &d.alice,
        format!(
            "{AUTHENTICATED}From: {}\r\nTo: {}\r\nSubject: Re: {tag} New ticket\r\nMessage-ID: <{}>\r\n\r\n#attachments\r\n",
            d.alice,
            d.desk.support,
            unique("a@example.test")
        )
        .as_bytes(),
    );
    let fetched = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("Attachments of this ticket")
    });
    assert_eq!(files_of(&fetched), vec![("crash.dmp".to_string(), dump)]);
    assert!(d
        .events(n)
        .iter()
        .any(|e| e.contains("command_applied") && e.contains("#attachments")));
}

#[test]
fn a_mail_forwarded_as_an_attachment_shows_its_text_in_the_notice() {
    let Some(d) = desk("") else { return };
    let carla = format!("{}@example.test", unique("carla"));
    // As mutt forwards as an attachment: a message/rfc822 part, the alert with its own file.
    let raw = format!(
        "From: Carla <{carla}>\r\nTo: {support}\r\nSubject: Fwd: Toner low on PRN-4\r\nMessage-ID: <{id}>\r\n\
         Date: Tue, 24 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\n\r\n\
         The printer keeps sending this.\r\n\r\n\
         --outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n\
         From: PRN-4 <alerts@printers.example.test>\r\nTo: carla@example.test\r\nSubject: Toner low on PRN-4\r\n\
         Date: Mon, 23 Nov 2026 18:30:00 +0100\r\nMessage-ID: <alert-1@printers.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n\
         --inner\r\nContent-Type: text/plain\r\n\r\nBlack toner at 3%. Replace cartridge TN-421.\r\n\
         --inner\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"counters.txt\"\r\n\r\n\
         pages=48211\r\n\
         --inner--\r\n\r\n\
         --outer--\r\n",
        support = d.desk.support,
        id = unique("fwd@example.test")
    );
    d.send(&carla, raw.as_bytes());
    let n = d.ticket_for("Toner low on PRN-4");
    let tag = format!("[Helpdesk #{n}]");
    let notice = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        raw.contains("New ticket") && raw.contains(&tag)
    });
    let text = text_of(&notice);
    for expected in [
        "The printer keeps sending this.",
        "---------- Attached message ----------",
        "From: PRN-4 <alerts@printers.example.test>",
        "Subject: Toner low on PRN-4",
        "Black toner at 3%. Replace cartridge TN-421.",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    // The attached mail travels whole, and its own file is stored and travels too.
    // Read back: the .eml, the counters.txt inside it, and counters.txt carried on its own.
    let names: Vec<String> = files_of(&notice).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["Toner low on PRN-4.eml", "counters.txt", "counters.txt"]
    );
    let detail = d.store.read().ticket(TicketNumber(n)).unwrap().unwrap();
    let stored: Vec<&str> = detail.messages[0]
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(stored, vec!["Toner low on PRN-4.eml", "counters.txt"]);
    assert!(detail.messages[0]
        .text
        .contains("Black toner at 3%. Replace cartridge TN-421."));
}

//! The requester's page over the real stack: a request mailed through Postfix is acknowledged
//! with a signed link; headless Chromium opens it from the mail in the requester's Dovecot
//! mailbox, sees the public conversation only, replies with a file (which reaches the
//! assignee's mailbox, file attached, byte for byte), then closes the ticket. Forged, expired
//! and revoked links, a form without its token, and hostile text are refused or escaped.
//! Screenshots go to target/requester-screenshots/.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::webdriver::{http, Browser};
use common::{agent_toml, mailstack, unique, wait_until, Instance, AUTHENTICATED, TRUSTED_MTA};
use guichet::adapters::parse::parse_mail;
use guichet::core::requester_link::{self, LinkClaims};
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/requester-screenshots")
}

/// The requester page's link in a mail's text.
fn page_link(text: &str, base: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with(&format!("{base}/request/")))
        .map(str::to_string)
}

#[test]
fn a_requester_follows_the_mailed_link_replies_with_a_file_and_closes() {
    let Some(stack) = mailstack() else { return };
    let bob = format!("{}@example.test", unique("bob"));
    let port = common::free_port();
    let extra = format!(
        "{TRUSTED_MTA}{}[[queue]]\nname = \"general\"\nassignment = \"round-robin\"\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\nbase_path = \"/hd\"\nrequester_pages = true\n",
        agent_toml("bob", "Bob Martin", &bob, "agent", &[]),
    );
    let mut desk = Instance::new(&stack, "rpage", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    let base = format!("http://127.0.0.1:{port}/hd");

    // Carla's request, with a hostile subject, goes through Postfix; Bob gets it by round robin.
    let carla = format!("{}@example.test", unique("carla"));
    let subject = "Printer <script>alert(1)</script> jammed";
    let raw = format!(
        "From: Carla Rossi <{carla}>\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         The printer on floor 2 is jammed <b>again</b>.\r\n",
        desk.support,
        unique("c@example.test")
    );
    stack.send(&carla, &desk.support, raw.as_bytes());
    let ack = stack.wait_for_mail(&carla, WAIT, |raw| raw.contains("Printer"));
    let ack_text = parse_mail(ack.as_bytes()).unwrap().mail.text;
    let link = page_link(&ack_text, &base)
        .unwrap_or_else(|| panic!("no page link in the acknowledgement:\n{ack_text}"));
    let number = wait_until(WAIT, "the ticket", || {
        store
            .read()
            .list_tickets(None)
            .unwrap()
            .first()
            .map(|t| t.number)
    });
    // Bob notes something internal and answers; the note must never reach Carla's page.
    let agent_mail = |body: &str| {
        let raw = format!(
            "{AUTHENTICATED}From: Bob Martin <{bob}>\r\nTo: {}\r\nSubject: Re: [Helpdesk #{number}] Printer\r\nMessage-ID: <{}>\r\n\r\n{body}\r\n",
            desk.support,
            unique("b@example.test")
        );
        stack.send(&bob, &desk.support, raw.as_bytes());
    };
    agent_mail("#note the toner supplier owes us money");
    agent_mail("Hello Carla, please open tray 2 and send me a photo of it.");
    let answer = stack.wait_for_mail(&carla, WAIT, |raw| raw.contains("tray 2"));
    let answer_text = parse_mail(answer.as_bytes()).unwrap().mail.text;
    assert!(
        page_link(&answer_text, &base).is_some(),
        "the relayed answer carries the link too:\n{answer_text}"
    );

    // Headless Chromium opens the acknowledgement's link.
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::start(profile.path(), &desk.dir.join("chromedriver.log"));
    browser.goto(&link);
    let page = browser.text();
    assert!(page.contains(subject), "the subject shows as text:\n{page}");
    assert!(page.contains("floor 2 is jammed <b>again</b>."), "{page}");
    assert!(page.contains("tray 2"), "{page}");
    assert!(
        !page.contains("toner supplier"),
        "an internal note leaked:\n{page}"
    );
    assert_eq!(browser.alert(), None);
    browser.screenshot(&screenshots().join("01-request.png"));

    // A reply with a photo, from the page: it reaches Bob with the file attached.
    let photo_dir = tempfile::tempdir().unwrap();
    let photo_path = photo_dir.path().join("tray-2.png");
    let photo: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..5000u32).map(|i| (i * 7 % 251) as u8))
        .collect();
    std::fs::write(&photo_path, &photo).unwrap();
    browser.type_into("#reply-text", "Here is the photo of tray 2.");
    browser.type_into("#reply-files", photo_path.to_str().unwrap());
    browser.click("#send");
    wait_until(WAIT, "the page after sending", || {
        browser.text().contains("Your reply was sent").then_some(())
    });
    let relayed = stack.wait_for_mail(&bob, WAIT, |raw| raw.contains("photo of tray 2"));
    let parsed = parse_mail(relayed.as_bytes()).unwrap();
    let files: Vec<_> = parsed.attachments().collect();
    assert!(
        files
            .iter()
            .any(|(meta, bytes)| meta.filename == "tray-2.png" && *bytes == photo.as_slice()),
        "the photo reaches the assignee byte for byte: {:?}",
        files.iter().map(|(m, _)| &m.filename).collect::<Vec<_>>()
    );
    // Mail to agents never carries a requester's link: it would let them act as her.
    for raw in stack.mailbox(&bob) {
        let text = parse_mail(&raw).unwrap().mail.text;
        assert!(
            page_link(&text, &base).is_none(),
            "a link in Bob's mail:\n{text}"
        );
    }
    let page = browser.text();
    assert!(page.contains("Here is the photo of tray 2."), "{page}");
    assert!(page.contains("tray-2.png"), "{page}");
    browser.screenshot(&screenshots().join("02-replied.png"));
    let detail = store.read().ticket(TicketNumber(number)).unwrap().unwrap();
    let from_web = detail
        .messages
        .iter()
        .find(|m| m.source == "web")
        .expect("the reply is stored with source web");
    assert_eq!(from_web.from.as_deref(), Some(carla.as_str()));
    assert_eq!(from_web.visibility, "public");

    // She closes it from the page: her #close is hers, proven by the link.
    browser.click("#close");
    wait_until(WAIT, "the ticket closed", || {
        let detail = store.read().ticket(TicketNumber(number)).unwrap()?;
        matches!(detail.ticket.status.as_str(), "closed" | "resolved").then_some(())
    });
    wait_until(WAIT, "the page to offer reopening", || {
        browser.goto(&link);
        browser.text().contains("Reopen the request").then_some(())
    });
    browser.screenshot(&screenshots().join("03-closed.png"));

    // A form without its token, or with another link's, is refused and changes nothing.
    let path = link.trim_start_matches(&format!("http://127.0.0.1:{port}"));
    let (status, _, _) = http(
        port,
        "POST",
        &format!("{path}/reopen"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("form_token=0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(status, 403);
    let (status, _, _) = http(
        port,
        "POST",
        &format!("{path}/reopen"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(""),
    );
    assert!(
        status == 403 || status == 422,
        "a form with no token: {status}"
    );
    let status_now = store
        .read()
        .ticket(TicketNumber(number))
        .unwrap()
        .unwrap()
        .ticket
        .status;
    assert!(matches!(status_now.as_str(), "closed" | "resolved"));

    // Forged and expired links, signed as an attacker could not, are refused.
    let key = std::fs::read(desk.dir.join("state").join("web-hmac.key")).unwrap();
    let ticket = TicketNumber(number);
    let expired = requester_link::sign(
        &key,
        LinkClaims {
            ticket,
            expires: 1_000,
            generation: 0,
        },
        &carla,
    );
    let (status, _, page) = http(port, "GET", &format!("/hd/request/{expired}"), &[], None);
    assert_eq!(status, 403);
    assert!(page.contains("expired"), "{page}");
    let wrong_key = requester_link::sign(
        &[1u8; 32],
        LinkClaims {
            ticket,
            expires: i64::MAX / 2,
            generation: 0,
        },
        &carla,
    );
    let altered = {
        let mut parts: Vec<&str> = path.rsplit('/').next().unwrap().split('.').collect();
        let later = (i64::MAX / 2).to_string();
        parts[1] = &later;
        parts.join(".")
    };
    for forged in [wrong_key, altered, "1.2.3".to_string(), "x".to_string()] {
        let (status, _, page) = http(port, "GET", &format!("/hd/request/{forged}"), &[], None);
        assert_eq!(status, 404, "{forged}");
        assert!(!page.contains("Printer"), "{forged}");
    }

    // Revoked: the link that worked stops working, and says so.
    let (code, out, err) = desk.cli(&["tickets", "revoke-links", &number.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let (status, _, page) = http(port, "GET", path, &[], None);
    assert_eq!(status, 403);
    assert!(page.contains("no longer works"), "{page}");
    let detail = store.read().ticket(ticket).unwrap().unwrap();
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind == "requester_links_revoked"));
}

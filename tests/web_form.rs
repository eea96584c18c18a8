//! The public request form over the real stack: headless Chromium fills the hardware queue's
//! form with its required field and a file; nothing reaches the helpdesk until the link mailed
//! to the address (read from its Dovecot mailbox) is confirmed; then the ticket is there with
//! its field and file, acknowledged. Abuse: a second request from an unconfirmed address mails
//! nothing, a form without its token is refused, the honeypot keeps nothing, rate limits hold
//! per address and per IP, forged links fail, hostile input comes back escaped.
//! Screenshots go to target/form-screenshots/.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::webdriver::{http, Browser};
use common::{mailstack, unique, wait_until, Instance};
use guichet::adapters::parse::parse_mail;
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/form-screenshots")
}

/// A form as a browser would post it (text fields only), with the cookie and token the form
/// page handed out.
struct Poster {
    port: u16,
    cookie: String,
    token: String,
}

impl Poster {
    fn new(port: u16, path: &str) -> Poster {
        let (status, headers, page) = http(port, "GET", path, &[], None);
        assert_eq!(status, 200, "{page}");
        let cookie = headers
            .iter()
            .find(|(name, _)| name == "set-cookie")
            .map(|(_, value)| value.split(';').next().unwrap().to_string())
            .expect("the form sets its cookie");
        assert!(headers.iter().any(|(n, v)| n == "set-cookie"
            && v.contains("HttpOnly")
            && v.contains("SameSite=Strict")));
        let token = page
            .split("name=\"form_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form token")
            .to_string();
        Poster {
            port,
            cookie,
            token,
        }
    }

    fn post(&self, path: &str, fields: &[(&str, &str)], with_token: bool) -> (u16, String) {
        let boundary = "----guichet-test-boundary";
        let mut body = String::new();
        let token = [("form_token", self.token.as_str())];
        let all = fields
            .iter()
            .chain(if with_token { &token[..] } else { &[] });
        for (name, value) in all {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let (status, _, page) = http(
            self.port,
            "POST",
            path,
            &[("Content-Type", &content_type), ("Cookie", &self.cookie)],
            Some(&body),
        );
        (status, page)
    }
}

#[test]
fn a_request_from_the_form_opens_a_ticket_only_once_its_address_is_confirmed() {
    let Some(stack) = mailstack() else { return };
    let port = common::free_port();
    let extra = format!(
        "[[queue]]\nname = \"hardware\"\n\
         [[field]]\nname = \"site\"\ntype = \"choice\"\nchoices = [\"Milano\", \"Lyon\"]\nrequired = true\n\
         queues = [\"hardware\"]\nprompt = \"Site: (Milano or Lyon)\"\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\nbase_path = \"/hd\"\nrequester_pages = true\n\
         form_queues = [\"general\", \"hardware\"]\n"
    );
    let mut desk = Instance::new(&stack, "wform", stack.smtp_port(), &extra);
    desk.start();
    common::wait_until(Duration::from_secs(20), "the web server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let store = desk.store();
    let database = desk.dir.join("state/guichet.sqlite3");
    let base = format!("http://127.0.0.1:{port}/hd");
    let dario = format!("{}@example.test", unique("dario"));

    // The form speaks the browser's language.
    let (status, _, french) = http(
        port,
        "GET",
        "/hd/new",
        &[("Accept-Language", "fr-FR,fr;q=0.9")],
        None,
    );
    assert_eq!(status, 200);
    assert!(
        french.contains("Écrire au support") && french.contains("lang=\"fr\""),
        "{french}"
    );
    let (status, _, _) = http(port, "GET", "/hd/new/nope", &[], None);
    assert_eq!(status, 404, "a queue without a form");

    // Chromium fills the hardware form: the required site, a file.
    let file_dir = tempfile::tempdir().unwrap();
    let file_path = file_dir.path().join("error-log.txt");
    let file_bytes = b"E042 paper path blocked\nE043 fuser cold\n".to_vec();
    std::fs::write(&file_path, &file_bytes).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::start(profile.path(), &desk.dir.join("chromedriver.log"));
    browser.goto(&format!("{base}/new/hardware"));
    assert!(browser.text().contains("Site"), "{}", browser.text());
    browser.type_into("#name", "Dario Bianchi");
    browser.type_into("#address", &dario);
    browser.type_into("#subject", "Plotter <script>alert(1)</script> offline");
    browser.type_into("#text", "The plotter in room 4 shows E042.");
    browser.type_into("#field-site", "Lyon");
    browser.type_into("#files", file_path.to_str().unwrap());
    browser.screenshot(&screenshots().join("01-form.png"));
    browser.click("#send");
    wait_until(WAIT, "the check-your-mail page", || {
        browser.text().contains("Check your mail").then_some(())
    });
    browser.screenshot(&screenshots().join("02-check-mail.png"));
    assert_eq!(browser.alert(), None);

    // Nothing reaches the helpdesk yet; one mail goes to Dario, with the link.
    assert!(store.read().list_tickets(None).unwrap().is_empty());
    let mail = stack.wait_for_mail(&dario, WAIT, |raw| raw.contains("/hd/new/confirm/"));
    let text = parse_mail(mail.as_bytes()).unwrap().mail.text;
    let link = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(&format!("{base}/new/confirm/")))
        .unwrap_or_else(|| panic!("no link in:\n{text}"))
        .to_string();

    // A second request from the still unconfirmed address is kept, but mails nobody.
    browser.goto(&format!("{base}/new"));
    browser.type_into("#address", &dario);
    browser.type_into("#subject", "Also the scanner");
    browser.type_into("#text", "And the scanner.");
    browser.click("#send");
    wait_until(WAIT, "the second check-your-mail page", || {
        browser.text().contains("Check your mail").then_some(())
    });
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_submissions WHERE address = ?1",
            &dario
        ),
        2
    );
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM messages WHERE kind = 'request_confirmation' AND to_addrs LIKE '%' || ?1 || '%'",
            &dario
        ),
        1,
        "an address that never confirmed is mailed once"
    );

    // Dario follows the link and confirms: the ticket opens with its field and file.
    browser.goto(&link);
    browser.click("#confirm");
    wait_until(WAIT, "the request opened", || {
        browser
            .text()
            .contains("Your request is open")
            .then_some(())
    });
    browser.screenshot(&screenshots().join("03-opened.png"));
    let tickets = store.read().list_tickets(None).unwrap();
    assert_eq!(tickets.len(), 1, "only the confirmed request is a ticket");
    let number = tickets[0].number;
    assert!(browser.text().contains(&format!("[Helpdesk #{number}]")));
    let detail = store.read().ticket(TicketNumber(number)).unwrap().unwrap();
    assert_eq!(detail.ticket.queue, "hardware");
    assert_eq!(detail.ticket.requester, dario);
    assert_eq!(
        detail.ticket.subject,
        "Plotter <script>alert(1)</script> offline"
    );
    assert_eq!(detail.fields.get("site").map(String::as_str), Some("Lyon"));
    let first = &detail.messages[0];
    assert_eq!(first.source, "web");
    assert!(first.text.contains("room 4 shows E042"), "{}", first.text);
    assert!(first
        .attachments
        .iter()
        .any(|a| a.filename == "error-log.txt" && a.size == file_bytes.len() as u64));
    stack.wait_for_mail(&dario, WAIT, |raw| raw.contains(&format!("#{number}]")));
    // The page it links to is hers.
    browser.click("#page-link");
    wait_until(WAIT, "the requester page", || {
        browser.text().contains("room 4 shows E042").then_some(())
    });

    // Confirming again finds the same ticket.
    let token = link.rsplit('/').next().unwrap();
    let (status, _, page) = http(
        port,
        "POST",
        "/hd/new/confirm",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&format!("token={token}")),
    );
    assert_eq!(status, 200);
    assert!(page.contains(&format!("#{number}]")), "{page}");
    assert_eq!(store.read().list_tickets(None).unwrap().len(), 1);
    // A forged link does nothing.
    let (status, _, _) = http(
        port,
        "POST",
        "/hd/new/confirm",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&format!("token={}", "ab".repeat(32))),
    );
    assert_eq!(status, 403);

    // Without its cookie-bound token the form is refused, and keeps nothing.
    let poster = Poster::new(port, "/hd/new");
    let erin = format!("{}@example.test", unique("erin"));
    let post = |extra: &[(&str, &str)], address: &str, with_token: bool| {
        let mut all = vec![
            ("name", "Erin"),
            ("subject", "Mouse broken"),
            ("text", "The mouse is broken."),
            ("address", address),
        ];
        all.extend_from_slice(extra);
        poster.post("/hd/new", &all, with_token)
    };
    let (status, _) = post(&[], &erin, false);
    assert_eq!(status, 403);
    let (status, _, _) = http(
        port,
        "POST",
        "/hd/new",
        &[("Content-Type", "multipart/form-data; boundary=x")],
        Some(
            "--x\r\nContent-Disposition: form-data; name=\"form_token\"\r\n\r\nforged\r\n--x--\r\n",
        ),
    );
    assert_eq!(status, 403);
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_submissions WHERE address = ?1",
            &erin
        ),
        0
    );

    // The honeypot: answered as anyone, nothing kept, nothing mailed.
    let (status, page) = post(&[("website", "http://spam.example")], &erin, true);
    assert_eq!(status, 200);
    assert!(page.contains("Check your mail"));
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_submissions WHERE address = ?1",
            &erin
        ),
        0
    );

    // Hostile input comes back escaped with the problems; a required field is enforced.
    let (status, page) = poster.post(
        "/hd/new/hardware",
        &[
            ("address", &erin),
            ("subject", "\"><script>alert(2)</script>"),
            ("text", "x"),
        ],
        true,
    );
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("Site: required"), "{page}");
    assert!(!page.contains("<script>alert(2)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(2)"), "{page}");

    // Per address: three an hour (Dario has two already).
    let (status, _) = post(&[], &dario, true);
    assert_eq!(status, 200);
    let (status, page) = post(&[], &dario, true);
    assert_eq!(status, 429, "{page}");
    // Per IP: ten an hour, whoever they claim to be.
    let mut accepted = common::sql_count(
        &database,
        "SELECT count(*) FROM web_submissions WHERE ip = ?1",
        "127.0.0.1",
    );
    assert_eq!(accepted, 3);
    loop {
        let (status, _) = post(&[], &format!("{}@example.test", unique("ip")), true);
        if status == 429 {
            break;
        }
        assert_eq!(status, 200);
        accepted += 1;
        assert!(accepted <= 10, "more than ten an hour from one IP");
    }
    assert_eq!(accepted, 10);
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_submissions WHERE ip = ?1",
            "127.0.0.1"
        ),
        10
    );
    // Nothing of it reached the helpdesk.
    assert_eq!(store.read().list_tickets(None).unwrap().len(), 1);
}

//! The dashboard in a real browser over the real stack: `guichet run` with `[web]` under a base
//! path, tickets mailed through Postfix (one with a hostile subject, name and body), an agent's
//! internal note and answer; headless Chromium asks for a sign-in link, follows the link read
//! from the agent's Dovecot mailbox, opens the work list, a ticket and the reports, and checks
//! what they show. Screenshots go to target/dashboard-screenshots/.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::webdriver::{http, Browser};
use common::{
    agent_toml, mailstack, request, unique, wait_until, Instance, AUTHENTICATED, TRUSTED_MTA,
};
use guichet::adapters::parse::parse_mail;
use sha2::Digest;

const WAIT: Duration = Duration::from_secs(45);
const HOSTILE_SUBJECT: &str = "<script>alert(1)</script> Invoice <img src=x onerror=alert(2)>";
const HOSTILE_BODY: &str =
    "Please see <script>alert(3)</script> and <img src=x onerror=\"document.title='pwned'\"> thanks";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots")
}

#[test]
fn staff_sign_in_by_mail_and_see_tickets_history_and_charts() {
    let Some(stack) = mailstack() else { return };
    let bob = format!("{}@example.test", unique("bob"));
    let port = common::free_port();
    let extra = format!(
        "{TRUSTED_MTA}{}[[sla]]\nfirst_response = \"1h\"\nresolution = \"3d\"\n[web]\nlisten = \"127.0.0.1:{port}\"\nbase_path = \"/desk\"\n",
        agent_toml("bob", "Bob Martin", &bob, "agent", &[]),
    );
    let mut desk = Instance::new(&stack, "dash", stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();
    let database = desk.dir.join("state/guichet.sqlite3");

    // Three requests through Postfix, one of them hostile in its subject, name and body.
    let carla = format!("{}@example.test", unique("carla"));
    for (subject, body) in [
        ("Printer jammed", "The printer on floor 2 is jammed."),
        ("VPN down", "I cannot connect to the VPN."),
    ] {
        stack.send(
            &carla,
            &desk.support,
            &request(&carla, &desk.support, subject, &unique("m@c"), body),
        );
    }
    let eve = format!("{}@example.test", unique("eve"));
    let hostile = format!(
        "From: \"<img src=x onerror=alert(4)>\" <{eve}>\r\nTo: {}\r\nSubject: {HOSTILE_SUBJECT}\r\n\
         Message-ID: <{}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{HOSTILE_BODY}\r\n",
        desk.support,
        unique("h@e")
    );
    stack.send(&eve, &desk.support, hostile.as_bytes());
    let numbers = wait_until(WAIT, "three tickets", || {
        let rows = store.read().list_tickets(None).unwrap();
        let find = |s: &str| {
            rows.iter()
                .find(|t| t.subject.starts_with(s))
                .map(|t| t.number)
        };
        Some((find("Printer")?, find("VPN")?, find("<script>")?))
    });
    let (printer, vpn, invoice) = numbers;

    // Bob notes something internal on the printer ticket and answers the VPN one.
    let agent_mail = |subject: String, body: &str| {
        let raw = format!(
            "{AUTHENTICATED}From: Bob Martin <{bob}>\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}>\r\n\r\n{body}\r\n",
            desk.support,
            unique("b@example.test")
        );
        stack.send(&bob, &desk.support, raw.as_bytes());
    };
    agent_mail(
        format!("Re: [Helpdesk #{printer}] Printer jammed"),
        "#note toner checked, waiting for the part",
    );
    agent_mail(
        format!("Re: [Helpdesk #{vpn}] VPN down"),
        "Hello Carla, please restart the VPN client.",
    );
    wait_until(WAIT, "the note and the answer", || {
        let note = store
            .read()
            .ticket(guichet::core::ticket::TicketNumber(printer))
            .unwrap()?;
        let answer = store
            .read()
            .ticket(guichet::core::ticket::TicketNumber(vpn))
            .unwrap()?;
        (note
            .messages
            .iter()
            .any(|m| m.visibility == "internal" && m.text.contains("toner checked"))
            && answer.messages.iter().any(|m| m.kind == "relay"))
        .then_some(())
    });

    // Headers on every page, and nothing but the sign-in page without a session.
    let (status, headers, _) = http(port, "GET", "/desk/work", &[], None);
    assert_eq!(status, 303);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("location").as_deref(), Some("/desk/sign-in"));
    let (status, headers, page) = http(port, "GET", "/desk/sign-in", &[], None);
    assert_eq!(status, 200);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let csp = header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"));
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert!(!page.contains("Printer jammed"));
    for path in [format!("/desk/tickets/{printer}"), "/desk/reports".into()] {
        let (status, _, page) = http(port, "GET", &path, &[], None);
        assert_eq!(status, 303, "{path}");
        assert!(!page.contains("Printer"));
    }
    // An address that is nobody's gets the same answer, and no mail.
    let stranger = format!("{}@example.test", unique("mallory"));
    let (status, _, page) = http(
        port,
        "POST",
        "/desk/sign-in",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&format!("address={}", stranger.replace('@', "%40"))),
    );
    assert_eq!(status, 200);
    assert!(page.contains("Check your mail"));
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_sign_in_links WHERE address = ?1",
            &stranger
        ),
        0
    );

    // The browser: sign in with the link mailed to Bob.
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::start(profile.path(), &desk.dir.join("chromedriver.log"));
    let base = format!("http://127.0.0.1:{port}/desk");
    browser.goto(&format!("{base}/reports"));
    assert_eq!(browser.url(), format!("{base}/sign-in"));
    browser.screenshot(&screenshots().join("01-sign-in.png"));
    browser.type_into("#address", &bob);
    browser.click("button[type=submit]");
    wait_until(WAIT, "the check-your-mail page", || {
        browser.text().contains("Check your mail").then_some(())
    });
    let mail = stack.wait_for_mail(&bob, WAIT, |raw| raw.contains("sign-in link"));
    let text = parse_mail(mail.as_bytes()).unwrap().mail.text;
    let link = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(&format!("{base}/sign-in/confirm/")))
        .unwrap_or_else(|| panic!("no link in:\n{text}"))
        .to_string();
    let token = link.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_sign_in_links WHERE token_hash = ?1",
            &token
        ),
        0,
        "the token itself is never stored"
    );
    wait_until(WAIT, "the sent link's text to be forgotten", || {
        (common::sql_count(
            &database,
            "SELECT count(*) FROM messages WHERE kind = 'sign_in_link' AND instr(text, ?1) > 0",
            &token,
        ) == 0)
            .then_some(())
    });
    browser.goto(&link);
    browser.click("#confirm");
    // A click returns before the navigation it starts has finished.
    wait_until(WAIT, "the work list after signing in", || {
        (browser.url() == format!("{base}/work")).then_some(())
    });

    let cookies = browser.cookies();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "guichet_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_eq!(session["path"], "/desk");
    let cookie = session["value"].as_str().unwrap().to_string();
    let hash = guichet::adapters::parse::hex(&sha2::Sha256::digest(cookie.as_bytes()));
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_sessions WHERE token_hash = ?1",
            &hash
        ),
        1
    );
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_sessions WHERE token_hash = ?1",
            &cookie
        ),
        0
    );

    // The work list: every ticket, the hostile subject as text, nothing injected.
    let shown = browser.text();
    for subject in ["Printer jammed", "VPN down", HOSTILE_SUBJECT] {
        assert!(shown.contains(subject), "{subject} not shown:\n{shown}");
    }
    assert!(shown.contains("Bob Martin"));
    let injected = "return document.querySelectorAll('script, img, iframe, [onerror]').length;";
    assert_eq!(browser.script(injected), 0);
    assert_eq!(browser.alert(), None);
    browser.screenshot(&screenshots().join("02-work-list.png"));

    // The hostile ticket: subject, name and body shown as they were written.
    browser.goto(&format!("{base}/tickets/{invoice}"));
    let shown = browser.text();
    assert!(shown.contains(HOSTILE_SUBJECT), "{shown}");
    assert!(shown.contains("<script>alert(3)</script>"), "{shown}");
    assert!(
        shown.contains("onerror=\"document.title='pwned'\""),
        "{shown}"
    );
    assert_eq!(browser.script(injected), 0);
    assert_ne!(browser.script("return document.title;"), "pwned");
    assert_eq!(browser.alert(), None);
    browser.screenshot(&screenshots().join("03-hostile-ticket.png"));

    // The printer ticket: the public request and the internal note, marked apart.
    browser.goto(&format!("{base}/tickets/{printer}"));
    let internal = browser.script(
        "return Array.from(document.querySelectorAll('article.message.internal')).map(a => a.innerText).join('\\n');",
    );
    let internal = internal.as_str().unwrap();
    assert!(
        internal.contains("toner checked") && internal.contains("INTERNAL NOTE"),
        "{internal}"
    );
    let public = browser.script(
        "return Array.from(document.querySelectorAll('article.message.public')).map(a => a.innerText).join('\\n');",
    );
    assert!(public.as_str().unwrap().contains("floor 2 is jammed"));
    assert!(!public.as_str().unwrap().contains("toner checked"));
    browser.screenshot(&screenshots().join("04-ticket.png"));

    // The reports: figures and seven charts drawn as inline SVG.
    browser.goto(&format!("{base}/reports?last=7d"));
    assert_eq!(
        browser.script("return document.querySelectorAll('svg.chart').length;"),
        7
    );
    let shown = browser.text();
    assert!(
        shown.contains("Backlog over time") && shown.contains("First response time"),
        "{shown}"
    );
    let bars = browser.script("return document.querySelectorAll('svg.chart rect.bar').length;");
    assert!(bars.as_u64().unwrap() > 0, "{bars}");
    // Bob answered the VPN request within the hour: the first-response target met.
    let met = browser.script("return document.querySelectorAll('svg.chart rect.met').length;");
    assert_eq!(met, 1, "{shown}");
    let drawn = browser.script(
        "return Array.from(document.querySelectorAll('svg.chart')).map(s => s.textContent).join(' ');",
    );
    assert!(
        drawn.as_str().unwrap().contains("100% met (1/1)"),
        "{drawn}"
    );
    browser.screenshot(&screenshots().join("05-reports.png"));

    // Signing out ends the session; the used link does not sign in again.
    browser.click("form.who button");
    wait_until(WAIT, "the sign-in page after signing out", || {
        (browser.url() == format!("{base}/sign-in")).then_some(())
    });
    assert_eq!(
        common::sql_count(
            &database,
            "SELECT count(*) FROM web_sessions WHERE token_hash = ?1",
            &hash
        ),
        0
    );
    browser.goto(&format!("{base}/work"));
    assert_eq!(browser.url(), format!("{base}/sign-in"));
    browser.goto(&link);
    browser.click("#confirm");
    wait_until(WAIT, "a spent link refused", || {
        browser
            .text()
            .contains("does not work any more")
            .then_some(())
    });
    drop(browser);
    desk.stop();
}

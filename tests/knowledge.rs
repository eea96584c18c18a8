//! The knowledge base by mail, end to end over the real Postfix and Dovecot: a resolved ticket
//! drafted by `#kb`, the draft in the editor's mailbox, published by her reply, offered to the
//! next requester who asks in other words, `#solved` by her; `#answer` and `#reply` in a
//! requester's mailbox; a stranger's `#publish` changing nothing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    agent_toml, event_lines, header, mailstack, request, unique, wait_until, Instance, MailStack,
    AUTHENTICATED, TRUSTED_MTA,
};
use guichet::adapters::parse::parse_mail;
use guichet::adapters::store::Store;
use guichet::core::knowledge::mail::article_tag;
use guichet::core::knowledge::{ArticleId, ArticleState};
use guichet::core::ticket::TicketNumber;

const WAIT: Duration = Duration::from_secs(45);

/// A helpdesk whose knowledge base holds the project's FAQ (fixtures/kb), with alice as its
/// knowledge editor, bob as an agent, and a saved reply.
struct Desk {
    stack: MailStack,
    desk: Instance,
    store: Store,
    alice: String,
    bob: String,
}

fn desk() -> Option<Desk> {
    let stack = mailstack()?;
    let alice = format!("{}@example.test", unique("alice"));
    let bob = format!("{}@example.test", unique("bob"));
    let extra = format!(
        "{TRUSTED_MTA}{}{}\
         [knowledge]\naddress = \"kb@knowledge.example.test\"\neditors = [\"alice\"]\n\
         [[reply]]\nname = \"password\"\n\
         text = \"Hello {{requester_name}}, reset your password at https://id.example.test ({{ticket}}). {{agent_name}}\"\n",
        agent_toml("alice", "Alice Editor", &alice, "triager", &[]),
        agent_toml("bob", "Bob Martin", &bob, "agent", &[1, 2, 3]),
    );
    let mut desk = Instance::new(&stack, "knowledge", stack.smtp_port(), &extra);
    import_faq(&desk);
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

/// The FAQ goes in with `guichet kb import`, from a copy user `guichet` can read.
fn import_faq(desk: &Instance) {
    let faq = desk.dir.join("faq");
    std::fs::create_dir_all(&faq).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kb/articles");
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, faq.join(path.file_name().unwrap())).unwrap();
    }
    let status = std::process::Command::new("chown")
        .args(["-R", "guichet:guichet"])
        .arg(&faq)
        .status()
        .unwrap();
    assert!(status.success());
    let (code, out, err) = desk.cli(&["kb", "import", faq.to_str().unwrap()]);
    assert_eq!(code, 0, "kb import: {out}{err}");
}

impl Desk {
    /// Sends a mail as `from` to the support address; `headers` are extra header lines.
    /// Returns its Message-ID.
    fn mail(
        &self,
        from: &str,
        to_header: &str,
        subject: &str,
        headers: &str,
        body: &str,
    ) -> String {
        let id = unique("m@example.test");
        let raw = format!(
            "{headers}From: {from}\r\nTo: {to_header}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             Date: Tue, 24 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        );
        self.stack.send(from, &self.desk.support, raw.as_bytes());
        id
    }

    fn agent_mail(&self, from: &str, subject: &str, body: &str) -> String {
        self.mail(from, &self.desk.support, subject, AUTHENTICATED, body)
    }

    fn open_ticket(&self, requester: &str, subject: &str, body: &str) -> u64 {
        let raw = request(
            requester,
            &self.desk.support,
            subject,
            &unique("req@c"),
            body,
        );
        self.open_ticket_raw(requester, subject, &raw)
    }

    /// A request from `name <requester>`, as her mail program writes it.
    fn open_ticket_as(&self, name: &str, requester: &str, subject: &str, body: &str) -> u64 {
        let raw = String::from_utf8(request(
            requester,
            &self.desk.support,
            subject,
            &unique("req@c"),
            body,
        ))
        .unwrap()
        .replacen("From: Test Requester <", &format!("From: {name} <"), 1);
        self.open_ticket_raw(requester, subject, raw.as_bytes())
    }

    fn open_ticket_raw(&self, requester: &str, subject: &str, raw: &[u8]) -> u64 {
        self.stack.send(requester, &self.desk.support, raw);
        wait_until(WAIT, "the new ticket", || {
            let rows = self.store.read().list_tickets(None).unwrap();
            rows.iter().find(|t| t.subject == subject).map(|t| t.number)
        })
    }

    fn status(&self, number: u64) -> String {
        self.detail(number).ticket.status
    }

    fn detail(&self, number: u64) -> guichet::adapters::store::TicketDetail {
        self.store
            .read()
            .ticket(TicketNumber(number))
            .unwrap()
            .unwrap()
    }

    fn article_state(&self, id: ArticleId) -> ArticleState {
        self.store.read().article(id).unwrap().unwrap().state
    }
}

fn text_of(raw: &str) -> String {
    parse_mail(raw.as_bytes()).unwrap().mail.text
}

#[test]
fn a_resolved_ticket_becomes_an_article_that_answers_the_next_requester() {
    let Some(mut d) = desk() else { return };
    let carla = format!("{}@example.test", unique("carla"));
    let first = d.open_ticket_as(
        "Carla Rossi",
        &carla,
        "Webcam not detected in Teams",
        "Hello, since this morning Teams does not find my webcam: the camera shows a black \
         image in every meeting. Can you help? Carla Rossi, +39 347 123 4567",
    );
    let tag = format!("[Helpdesk #{first}]");

    // Bob resolves it, then drafts an article from it.
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Webcam not detected in Teams"),
        "#resolve Close Teams, unplug the webcam, reinstall the camera driver from Software \
         Center, then choose the webcam again under Teams settings, Devices.",
    );
    wait_until(WAIT, "the ticket resolved", || {
        (d.status(first) == "resolved").then_some(())
    });
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Webcam not detected in Teams"),
        "#kb Webcam not detected in Teams meetings",
    );

    // The draft reaches the editor's mailbox, tagged with its article, scrubbed.
    let draft = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        header(raw, "Subject").is_some_and(|s| s.contains("Webcam not detected in Teams meetings"))
    });
    let subject = header(&draft, "Subject").unwrap();
    let article = article_tag(&subject).expect("the subject names the article");
    assert_eq!(d.article_state(article), ArticleState::Draft);
    let draft_text = text_of(&draft);
    assert!(
        draft_text.contains("reinstall the camera driver"),
        "{draft_text}"
    );
    assert!(draft_text.contains("#publish"), "{draft_text}");
    for personal in ["Rossi", "347 123", &carla] {
        assert!(
            !draft_text.contains(personal),
            "{personal} in the draft: {draft_text}"
        );
    }
    assert!(
        d.detail(first)
            .events
            .iter()
            .any(|e| e.kind == "article_drafted" && e.detail.contains(&article.to_string())),
        "{:?}",
        event_lines(&d.detail(first))
    );
    let draft_id = header(&draft, "Message-ID").unwrap();

    // A stranger who saw the subject cannot publish it: the mail is quarantined.
    let quarantined = d.store.read().list_quarantine().unwrap().len();
    let mallory = format!("{}@example.test", unique("mallory"));
    d.mail(
        &mallory,
        &d.desk.support,
        &format!("Re: {subject}"),
        AUTHENTICATED,
        "#publish",
    );
    wait_until(WAIT, "the stranger's mail quarantined", || {
        (d.store.read().list_quarantine().unwrap().len() > quarantined).then_some(())
    });
    assert_eq!(d.article_state(article), ArticleState::Draft);

    // The editor publishes it by replying.
    d.mail(
        &d.alice,
        &d.desk.support,
        &format!("Re: {subject}"),
        &format!("{AUTHENTICATED}In-Reply-To: {draft_id}\r\nReferences: {draft_id}\r\n"),
        "#publish\n\nLooks right.",
    );
    wait_until(WAIT, "the article published", || {
        (d.article_state(article) == ArticleState::Published).then_some(())
    });

    // The next requester asks the same thing in other words: the acknowledgement offers it.
    let dana = format!("{}@example.test", unique("dana"));
    let second = d.open_ticket(
        &dana,
        "Camera black in Teams calls",
        "Hi, my webcam only shows a black picture when I join a Teams call, and Teams says no \
         camera was found. What should I do?",
    );
    let ack = d.stack.wait_for_mail(&dana, WAIT, |raw| {
        raw.contains(&format!("[Helpdesk #{second}]"))
    });
    let ack_text = text_of(&ack);
    assert!(
        ack_text.contains(&format!(
            "[{article}] Webcam not detected in Teams meetings"
        )),
        "{ack_text}"
    );
    assert!(
        ack_text.contains("reinstall the camera driver"),
        "{ack_text}"
    );
    assert!(ack_text.contains("reply with #solved"), "{ack_text}");

    // Her #solved resolves the ticket by the knowledge base and counts the article useful.
    d.mail(
        &dana,
        &d.desk.support,
        &format!("Re: [Helpdesk #{second}] Camera black in Teams calls"),
        AUTHENTICATED,
        "#solved\n\nThat was it, thank you!",
    );
    wait_until(WAIT, "the second ticket resolved", || {
        (d.status(second) == "resolved").then_some(())
    });
    let solved = d.store.read().solved_by_knowledge().unwrap();
    assert!(
        solved
            .iter()
            .any(|s| s.ticket == TicketNumber(second) && s.article == article),
        "{solved:?}"
    );
    assert_eq!(d.store.read().article(article).unwrap().unwrap().useful, 1);
    assert!(d
        .detail(second)
        .events
        .iter()
        .any(|e| e.kind == "solved_by_article"));
    d.desk.stop();
}

#[test]
fn answer_and_saved_replies_reach_the_requester_and_internal_articles_do_not() {
    let Some(mut d) = desk() else { return };
    let erin = format!("{}@example.test", unique("erin"));
    let n = d.open_ticket(
        &erin,
        "Paper stuck",
        "The printer on floor 2 has paper stuck inside.",
    );
    let tag = format!("[Helpdesk #{n}]");
    let jam = d
        .store
        .read()
        .article_by_slug("printer-paper-jam-en")
        .unwrap()
        .expect("imported")
        .id;

    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Paper stuck"),
        &format!("#answer {jam}\nHello Erin, this article shows how to clear it."),
    );
    let answer = d
        .stack
        .wait_for_mail(&erin, WAIT, |raw| raw.contains("Hello Erin"));
    let answer_text = text_of(&answer);
    assert!(answer_text.contains(&format!("[{jam}]")), "{answer_text}");
    assert!(
        answer_text.find("Hello Erin").unwrap() < answer_text.find(&format!("[{jam}]")).unwrap()
    );
    assert!(!answer.contains(&d.bob), "the agent's address stays inside");

    d.agent_mail(&d.bob, &format!("Re: {tag} Paper stuck"), "#reply password");
    let reply = d
        .stack
        .wait_for_mail(&erin, WAIT, |raw| raw.contains("https://id.example.test"));
    assert!(
        text_of(&reply).contains(&format!(
            "Hello Test Requester, reset your password at https://id.example.test ({tag}). Bob Martin"
        )),
        "{}",
        text_of(&reply)
    );

    // An internal article is refused with a reply that says why.
    let internal = d
        .store
        .read()
        .article_by_slug("mfa-reset-admin-en")
        .unwrap()
        .expect("imported");
    assert_eq!(
        internal.text.visibility,
        guichet::core::knowledge::ArticleVisibility::Internal
    );
    d.agent_mail(
        &d.bob,
        &format!("Re: {tag} Paper stuck"),
        &format!("#answer {}", internal.id),
    );
    let refusal = d
        .stack
        .wait_for_mail(&d.bob, WAIT, |raw| raw.contains("About your commands"));
    assert!(
        text_of(&refusal).contains("is internal"),
        "{}",
        text_of(&refusal)
    );
    let links = d.store.read().article_links(jam).unwrap();
    assert!(links
        .iter()
        .any(|(relation, t)| relation == "answered" && *t == TicketNumber(n)));
    assert!(d
        .stack
        .mailbox(&erin)
        .iter()
        .all(|m| !String::from_utf8_lossy(m).contains(&internal.text.title)));
    d.desk.stop();
}

#[test]
fn an_agents_mail_to_the_knowledge_address_drafts_for_the_editors() {
    let Some(mut d) = desk() else { return };
    d.mail(
        &d.bob,
        "kb@knowledge.example.test",
        "Booking the car-sharing van",
        AUTHENTICATED,
        "Book the van in the fleet calendar at least one day ahead; the key is at the front desk.",
    );
    let draft = d.stack.wait_for_mail(&d.alice, WAIT, |raw| {
        header(raw, "Subject").is_some_and(|s| s.contains("Booking the car-sharing van"))
    });
    let article = article_tag(&header(&draft, "Subject").unwrap()).unwrap();
    let stored = d.store.read().article(article).unwrap().unwrap();
    assert_eq!(stored.state, ArticleState::Draft);
    assert_eq!(stored.text.language, "en");
    assert!(stored.text.body.contains("fleet calendar"));
    assert_eq!(
        d.store.read().list_tickets(None).unwrap().len(),
        0,
        "no ticket for a mail to the knowledge address"
    );
    d.desk.stop();
}

//! The JSON API and webhooks over the real stack. Every answer is checked against
//! docs/openapi.json, and every operation the document lists is called. A monitoring client
//! opens a ticket (acknowledged in the requester's Dovecot mailbox), pages and searches the
//! list, notes, answers (the answer reaches the requester), assigns, raises and resolves with
//! the permissions of its agent; a client of another queue sees nothing of it and may not write;
//! a revoked token fails. A webhook receiver that is down when the events happen gets each of
//! them once it is up, in order, once, signed.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::openapi::Document;
use common::webdriver::http;
use common::{agent_toml, mailstack, unique, wait_until, Instance, TRUSTED_MTA};
use guichet::adapters::parse::parse_mail;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
const SECRET: &str = "webhook-secret-0123456789";

struct Api {
    port: u16,
    doc: Document,
    called: Mutex<Vec<(String, String)>>,
}

impl Api {
    /// Calls the API and checks the answer against the document under `documented` (the path
    /// as the document writes it).
    fn call(
        &self,
        method: &str,
        documented: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Accept", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let text = body.map(|b| b.to_string());
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let (status, _, answer) = http(
            self.port,
            method,
            &format!("/hd/api/v1{path}"),
            &headers,
            text.as_deref(),
        );
        let value: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON ({e}): {answer}"));
        self.doc.check_response(method, documented, status, &value);
        self.called
            .lock()
            .unwrap()
            .push((method.to_string(), documented.to_string()));
        (status, value)
    }
}

/// What a webhook receiver got: (headers lowercased, body).
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A webhook receiver on `listener`: answers 200 to each POST and keeps it.
fn receive(listener: TcpListener, received: Received) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut raw = Vec::new();
            let mut buffer = [0u8; 8192];
            let (head_end, length) = loop {
                let read = stream.read(&mut buffer).unwrap_or(0);
                if read == 0 {
                    break (None, 0);
                }
                raw.extend_from_slice(&buffer[..read]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    break (Some(end), length);
                }
            };
            let Some(end) = head_end else { continue };
            while raw.len() < end + 4 + length {
                let read = stream.read(&mut buffer).unwrap_or(0);
                if read == 0 {
                    break;
                }
                raw.extend_from_slice(&buffer[..read]);
            }
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
                .collect();
            received
                .lock()
                .unwrap()
                .push((headers, raw[end + 4..end + 4 + length].to_vec()));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
}

#[test]
fn clients_work_tickets_within_their_queues_and_webhooks_get_every_event_once() {
    let Some(stack) = mailstack() else { return };
    let (port, hook_port) = (common::free_port(), common::free_port());
    let bob = format!("{}@example.test", unique("bob"));
    let extra = format!(
        "{TRUSTED_MTA}{}[[queue]]\nname = \"hardware\"\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\nbase_path = \"/hd\"\napi = true\n\
         [[webhook]]\nname = \"monitor\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret = \"{SECRET}\"\n",
        agent_toml("bob", "Bob Martin", &bob, "triager", &[]),
    );
    let mut desk = Instance::new(&stack, "api", stack.smtp_port(), &extra);
    let token_of = |args: &[&str]| {
        let (code, out, err) = desk.cli(args);
        assert_eq!(code, 0, "{out}{err}");
        out.trim().to_string()
    };
    let monitor = token_of(&[
        "api-client",
        "create",
        "monitor",
        "--agent",
        "bob",
        "--queue",
        "general",
        "--write",
    ]);
    let inventory = token_of(&["api-client", "create", "inventory", "--queue", "hardware"]);
    assert_eq!(monitor.len(), 64);
    desk.start();
    wait_until(WAIT, "the web server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let api = Api {
        port,
        doc: Document::load(),
        called: Mutex::new(Vec::new()),
    };

    // The document is served as kept in the repository.
    let (status, served) = api.call("GET", "/openapi.json", "/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(&served, api.doc.raw());
    // No token, a wrong one: 401.
    assert_eq!(api.call("GET", "/tickets", "/tickets", None, None).0, 401);
    assert_eq!(
        api.call("GET", "/tickets", "/tickets", Some(&"ab".repeat(32)), None)
            .0,
        401
    );

    // Monitoring opens three tickets; the webhook receiver is down meanwhile.
    let carla = format!("{}@example.test", unique("carla"));
    let mut numbers = Vec::new();
    for (subject, text) in [
        ("Disk full on srv-3", "Monitoring: /var on srv-3 at 97%."),
        (
            "Backup late on srv-7",
            "Monitoring: the backup of srv-7 is 3 hours late.",
        ),
        (
            "Certificate expiring",
            "Monitoring: the certificate of intranet expires in 5 days.",
        ),
    ] {
        let (status, created) = api.call(
            "POST",
            "/tickets",
            "/tickets",
            Some(&monitor),
            Some(json!({ "requester": { "address": carla, "name": "Carla Ops" }, "subject": subject, "text": text })),
        );
        assert_eq!(status, 201, "{created}");
        numbers.push(created["number"].as_u64().unwrap());
    }
    let first = numbers[0];
    stack.wait_for_mail(&carla, WAIT, |raw| raw.contains("srv-3"));
    let (status, refused) = api.call(
        "POST",
        "/tickets",
        "/tickets",
        Some(&monitor),
        Some(json!({ "requester": { "address": "not an address" }, "subject": "", "text": "x" })),
    );
    assert_eq!(status, 422);
    assert_eq!(
        refused["problems"].as_array().unwrap().len(),
        2,
        "{refused}"
    );
    let (status, _) = api.call(
        "POST",
        "/tickets",
        "/tickets",
        Some(&monitor),
        Some(json!({ "subject": "no requester" })),
    );
    assert_eq!(status, 400);

    // Pages of two, then a search.
    let (_, page) = api.call("GET", "/tickets", "/tickets?limit=2", Some(&monitor), None);
    let listed: Vec<u64> = page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, numbers[..2]);
    let after = page["next_after"].as_u64().unwrap();
    let (_, rest) = api.call(
        "GET",
        "/tickets",
        &format!("/tickets?limit=2&after={after}"),
        Some(&monitor),
        None,
    );
    assert_eq!(rest["tickets"][0]["number"].as_u64(), Some(numbers[2]));
    assert!(rest["next_after"].is_null());
    let (_, found) = api.call("GET", "/tickets", "/tickets?q=srv-7", Some(&monitor), None);
    let found: Vec<u64> = found["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_u64().unwrap())
        .collect();
    assert_eq!(found, [numbers[1]]);
    assert_eq!(
        api.call(
            "GET",
            "/tickets",
            "/tickets?status=eaten",
            Some(&monitor),
            None
        )
        .0,
        400
    );

    // The hardware client sees none of it and writes nothing.
    let (_, theirs) = api.call("GET", "/tickets", "/tickets", Some(&inventory), None);
    assert_eq!(theirs["tickets"].as_array().unwrap().len(), 0);
    assert_eq!(
        api.call(
            "GET",
            "/tickets/{number}",
            &format!("/tickets/{first}"),
            Some(&inventory),
            None
        )
        .0,
        404
    );
    let (status, _) = api.call(
        "POST",
        "/tickets/{number}/messages",
        &format!("/tickets/{first}/messages"),
        Some(&inventory),
        Some(json!({ "text": "hello" })),
    );
    assert_eq!(status, 403);

    // A note, an answer, commands: as Bob would by mail.
    let (status, filed) = api.call(
        "POST",
        "/tickets/{number}/messages",
        &format!("/tickets/{first}/messages"),
        Some(&monitor),
        Some(json!({ "text": "srv-3 has a known log rotation bug", "internal": true })),
    );
    assert_eq!(
        (status, filed["visibility"].as_str()),
        (200, Some("internal")),
        "{filed}"
    );
    let (status, filed) = api.call(
        "POST",
        "/tickets/{number}/messages",
        &format!("/tickets/{first}/messages"),
        Some(&monitor),
        Some(json!({ "text": "Hello Carla, we cleaned /var on srv-3." })),
    );
    assert_eq!(
        (status, filed["visibility"].as_str()),
        (200, Some("public")),
        "{filed}"
    );
    let answer = stack.wait_for_mail(&carla, WAIT, |raw| raw.contains("cleaned /var"));
    let answer_text = parse_mail(answer.as_bytes()).unwrap().mail.text;
    assert!(
        !answer_text.contains("log rotation"),
        "the note stays inside"
    );
    // Commands are all or none, as in a mail: one unknown refuses the lot.
    let (status, done) = api.call(
        "POST",
        "/tickets/{number}/commands",
        &format!("/tickets/{first}/commands"),
        Some(&monitor),
        Some(json!({ "commands": ["#assign bob", "#priority high", "#frobnicate now"] })),
    );
    assert_eq!(status, 200);
    assert!(done["applied"].as_array().unwrap().is_empty(), "{done}");
    assert_eq!(done["refused"].as_array().unwrap().len(), 1, "{done}");
    let (status, done) = api.call(
        "POST",
        "/tickets/{number}/commands",
        &format!("/tickets/{first}/commands"),
        Some(&monitor),
        Some(json!({ "commands": ["#assign bob", "#priority high"] })),
    );
    assert_eq!(status, 200);
    assert_eq!(done["applied"].as_array().unwrap().len(), 2, "{done}");
    assert!(done["refused"].as_array().unwrap().is_empty(), "{done}");
    let (status, _) = api.call(
        "POST",
        "/tickets/{number}/commands",
        &format!("/tickets/{first}/commands"),
        Some(&monitor),
        Some(json!({ "commands": ["assign bob"] })),
    );
    assert_eq!(status, 422);
    let (status, _) = api.call(
        "POST",
        "/tickets/{number}/commands",
        &format!("/tickets/{first}/commands"),
        Some(&monitor),
        Some(json!({ "commands": ["#resolve /var cleaned, rotation fixed"] })),
    );
    assert_eq!(status, 200);
    let (status, detail) = api.call(
        "GET",
        "/tickets/{number}",
        &format!("/tickets/{first}"),
        Some(&monitor),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(detail["ticket"]["priority"], "high");
    assert_eq!(detail["ticket"]["assignee"], "bob");
    assert_eq!(detail["ticket"]["status"], "resolved");
    let messages = detail["messages"].as_array().unwrap();
    assert!(messages
        .iter()
        .any(|m| m["visibility"] == "internal"
            && m["text"].as_str().unwrap().contains("log rotation")));
    assert!(messages.iter().all(
        |m| m["direction"] == "out" || m["source"].as_str().unwrap().starts_with("api:monitor")
    ));
    assert_eq!(
        api.call(
            "GET",
            "/tickets/{number}",
            "/tickets/999999",
            Some(&monitor),
            None
        )
        .0,
        404
    );

    // Every operation of the document was called.
    let mut called = api.called.lock().unwrap().clone();
    called.sort();
    called.dedup();
    assert_eq!(called, api.doc.operations());

    // The receiver was down: the daemon has tried and failed; once it is up, it gets each
    // event once, in order, signed.
    wait_until(WAIT, "a failed delivery", || {
        desk.log().contains("webhook not delivered").then_some(())
    });
    let (_, status_out, _) = desk.cli(&["status"]);
    assert!(
        status_out.contains("webhook monitor: failing"),
        "{status_out}"
    );
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    receive(
        TcpListener::bind(("127.0.0.1", hook_port)).unwrap(),
        received.clone(),
    );
    let wanted = [
        ("ticket.created", first),
        ("ticket.assigned", first),
        ("ticket.resolved", first),
    ];
    let events = wait_until(WAIT, "the webhook events", || {
        let got: Vec<(String, u64)> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| {
                let v: Value = serde_json::from_slice(body).unwrap();
                (
                    v["event"].as_str().unwrap().to_string(),
                    v["ticket"]["number"].as_u64().unwrap(),
                )
            })
            .collect();
        wanted
            .iter()
            .all(|(e, n)| got.iter().any(|(ge, gn)| ge == e && gn == n))
            .then_some(got)
    });
    std::thread::sleep(Duration::from_secs(2));
    let received = received.lock().unwrap().clone();
    let mut ids = Vec::new();
    for (headers, body) in &received {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            header("x-guichet-signature"),
            guichet::core::webhooks::signature(SECRET.as_bytes(), body)
        );
        let value: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(header("x-guichet-event"), value["event"].as_str().unwrap());
        assert_eq!(header("x-guichet-delivery"), value["id"].to_string());
        let schema = api.doc.raw()["components"]["schemas"]["WebhookEvent"].clone();
        api.doc.check_value(&schema, &value);
        ids.push(value["id"].as_i64().unwrap());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "in order, each once: {events:?}");
    let created: Vec<u64> = events
        .iter()
        .filter(|(e, _)| e == "ticket.created")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(created, numbers, "one created event per ticket, in order");

    // Revoked: its token fails at once.
    let (code, out, err) = desk.cli(&["api-client", "revoke", "monitor"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        api.call("GET", "/tickets", "/tickets", Some(&monitor), None)
            .0,
        401
    );
}

//! `/metrics` over the real stack: `guichet run` with `[metrics]`, mail through Postfix into the
//! pipe and into a watched IMAP mailbox, acknowledgements out through Postfix, then the page
//! scraped over HTTP and read by a Prometheus text-format parser. The same daemon's log is then
//! read as an operator would: display forms, no Rust debug forms, mailbox lines named.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{mailstack, request, unique, wait_until, Instance};
use prometheus_parse::{Sample, Scrape, Value};

const WAIT: Duration = Duration::from_secs(60);

/// GET `path` over plain HTTP/1.1: (status code, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // axum answers with a length, not chunks, for a body it has whole.
    Ok((code, body.to_string()))
}

fn scrape(port: u16) -> Scrape {
    let (code, body) = http_get(port, "/metrics").expect("scrape");
    assert_eq!(code, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("a Prometheus text page")
}

fn number(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{}: not a number: {other:?}", sample.metric),
    }
}

/// The sum of `metric` over the samples whose labels include `labels`.
fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(number)
        .sum()
}

fn wait_for_page(desk: &Instance, port: u16) {
    let deadline = std::time::Instant::now() + WAIT;
    while http_get(port, "/metrics").map_or(true, |(code, _)| code != 200) {
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics page on port {port}; the daemon's log:\n{}",
            desk.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_count_the_mail_that_went_through_and_the_log_reads_plainly() {
    let Some(stack) = mailstack() else { return };
    let port = common::free_port();
    let watched = format!("{}@example.test", unique("mwatch"));
    let mailbox = stack.mailbox_toml(
        "watched",
        &watched,
        "INBOX",
        stack.master_password(),
        "poll_interval_secs = 1\n",
    );
    let extra = format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n{mailbox}");
    let mut desk = Instance::new(&stack, "metrics", stack.smtp_port(), &extra);
    desk.start();
    wait_for_page(&desk, port);

    let (piped, imapped) = (
        format!("{}@example.test", unique("mpipe")),
        format!("{}@example.test", unique("mimap")),
    );
    let first = request(
        &piped,
        &desk.support,
        "Printer on fire",
        &unique("p@c"),
        "It smokes.",
    );
    stack.send(&piped, &desk.support, &first);
    // The same mail again, as an MTA that retried would: recognised, not a second ticket.
    stack.send(&piped, &desk.support, &first);
    stack.send(
        &imapped,
        &watched,
        &request(&imapped, &watched, "VPN down", &unique("i@c"), "No tunnel."),
    );
    stack.wait_queue_empty(WAIT);
    for requester in [&piped, &imapped] {
        stack.wait_for_mail(requester, WAIT, |raw| raw.contains("Auto-Submitted"));
    }
    let page = wait_until(WAIT, "both acknowledgements marked sent", || {
        let page = scrape(port);
        (total(&page, "guichet_mails_out_total", &[("result", "sent")]) == 2.0
            && total(&page, "guichet_mails_in_total", &[]) == 3.0)
            .then_some(page)
    });

    let count = |metric: &str, labels: &[(&str, &str)]| total(&page, metric, labels);
    assert_eq!(
        count(
            "guichet_mails_in_total",
            &[("source", "pipe"), ("outcome", "new_ticket")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "guichet_mails_in_total",
            &[("source", "pipe"), ("outcome", "duplicate")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "guichet_mails_in_total",
            &[("source", "imap"), ("outcome", "new_ticket")]
        ),
        1.0
    );
    assert_eq!(count("guichet_open_tickets", &[("queue", "general")]), 2.0);
    assert_eq!(
        count(
            "guichet_open_tickets",
            &[("queue", "general"), ("level", "1"), ("status", "new")]
        ),
        2.0
    );
    assert_eq!(
        count(
            "guichet_mails_out_total",
            &[("kind", "acknowledgement"), ("result", "queued")]
        ),
        2.0
    );
    assert_eq!(
        count(
            "guichet_mails_out_total",
            &[("kind", "acknowledgement"), ("result", "sent")]
        ),
        2.0
    );
    assert_eq!(count("guichet_outbox_mails", &[("state", "pending")]), 0.0);
    assert_eq!(count("guichet_outbox_mails", &[("state", "retrying")]), 0.0);
    assert_eq!(count("guichet_outbox_mails", &[("state", "dead")]), 0.0);
    assert_eq!(count("guichet_quarantined_mails", &[]), 0.0);
    assert_eq!(
        count("guichet_mailbox_connected", &[("mailbox", "watched")]),
        1.0
    );
    assert_eq!(
        count("guichet_mailbox_backlog", &[("mailbox", "watched")]),
        0.0
    );
    assert!(
        count(
            "guichet_mailbox_last_success_timestamp_seconds",
            &[("mailbox", "watched")]
        ) > 1.7e9
    );
    // The IMAP mail went through this daemon; the piped ones through `guichet ingest`.
    assert_eq!(count("guichet_intake_latency_seconds_count", &[]), 1.0);
    let histogram = page
        .samples
        .iter()
        .find(|s| s.metric == "guichet_intake_latency_seconds")
        .expect("the latency histogram");
    let Value::Histogram(buckets) = &histogram.value else {
        panic!("{:?}", histogram.value)
    };
    assert_eq!(buckets.last().map(|b| b.count), Some(1.0), "{buckets:?}");
    assert_eq!(http_get(port, "/other").unwrap().0, 404);
    desk.stop();
    // `start` writes a new log: this one is read now.
    let log = desk.log();

    // The counters are the store's: another daemon on the same store shows the same totals.
    desk.start();
    wait_for_page(&desk, port);
    let again = scrape(port);
    assert_eq!(total(&again, "guichet_mails_in_total", &[]), 3.0);
    assert_eq!(
        total(&again, "guichet_intake_latency_seconds_count", &[]),
        0.0
    );
    desk.stop();

    for debug_form in ["Some(", "None", "Allowed", "Suppressed(", "Instant {"] {
        assert!(
            !log.contains(debug_form),
            "`{debug_form}` in the log:\n{log}"
        );
    }
    assert!(log.contains("ticket=1 "), "{log}");
    for line in log
        .lines()
        .filter(|l| l.contains("mailbox connected") || l.contains("mailbox stopped"))
    {
        assert!(line.contains("mailbox{name=watched}"), "{line}");
    }
    assert!(log.contains("mailbox connected"), "{log}");
}

//! Pathological mails against every intake stage: time and peak memory at size n and 2n.
//!
//!   cargo bench --bench pathological -- [--scale F] [--timeout SECS] [CASE...]
//!
//! Each (case, size) runs in a child process of this binary, so that a stage that never ends is
//! cut off at the timeout (the row says so) and the other cases still run. A counting global
//! allocator gives the bytes a stage had live at its peak beyond what was live when it started;
//! the store stage adds SQLite's own allocator's high-water mark. See bench/README.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet::adapters::parse::{html_to_text, parse_mail};
use guichet::adapters::render::{render, NoAttachmentFiles};
use guichet::config::Config;
use guichet::core::address::Mailbox;
use guichet::core::commands::parse_commands;
use guichet::core::intake::{decide_intake, route_new_ticket};
use guichet::core::language::Language;
use guichet::core::outgoing::{OutgoingKind, OutgoingMail};
use guichet::core::plan::IntakeInput;
use guichet::core::quotes::visible_text;
use guichet::core::threading::{NewTicketReason, ThreadDecision};
use guichet::core::ticket::TicketNumber;
use guichet::pipeline::{Pipeline, Source};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `stage`, returning its result, wall time and the peak of extra live bytes.
fn measure<T>(stage: impl FnOnce() -> T) -> (T, Duration, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    // SAFETY: plain reads and a reset of SQLite's global memory statistics.
    let sqlite_base = unsafe {
        rusqlite::ffi::sqlite3_memory_highwater(1);
        rusqlite::ffi::sqlite3_memory_used()
    };
    let start = Instant::now();
    let out = stage();
    let elapsed = start.elapsed();
    let sqlite_peak = unsafe { rusqlite::ffi::sqlite3_memory_highwater(0) };
    let extra = PEAK.load(Ordering::Relaxed).saturating_sub(base)
        + (sqlite_peak - sqlite_base).max(0) as usize;
    (out, elapsed, extra)
}

// ---------------------------------------------------------------------------------------------
// The mails

const CASES: &[&str] = &[
    "lines-lf",
    "lines-crlf",
    "html-div",
    "html-blockquote",
    "html-table",
    "html-ul",
    "html-misnested",
    "html-deep-wide",
    "mime-parts",
    "header-1mb",
    "to-list-1mb",
    "references-1mb",
    "subject-100k",
    "attachment-30mb",
];

/// What "n" means for a case, at scale 1.
fn unit(case: &str) -> (&'static str, usize) {
    match case {
        "lines-lf" | "lines-crlf" => ("lines", 1_000_000),
        "html-deep-wide" => ("lines", 1_000_000),
        c if c.starts_with("html-") => ("levels", 100_000),
        "mime-parts" => ("parts", 50_000),
        "header-1mb" | "to-list-1mb" | "references-1mb" => ("bytes", 1 << 20),
        "subject-100k" => ("chars", 100_000),
        "attachment-30mb" => ("bytes", 30 << 20),
        _ => ("?", 0),
    }
}

const HEAD: &str = "From: Alice Martin <alice@example.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <patho@example.test>\r\nMIME-Version: 1.0\r\n";

fn text_mail(subject: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(body.len() + 512);
    raw.extend_from_slice(HEAD.as_bytes());
    raw.extend_from_slice(b"To: support@desk.example.test\r\n");
    raw.extend_from_slice(format!("Subject: {subject}\r\n").as_bytes());
    raw.extend_from_slice(extra_headers.as_bytes());
    raw.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n\r\n");
    raw.extend_from_slice(body);
    raw
}

/// A cheap deterministic byte stream (xorshift), so that base64 and compression see no pattern.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 8);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.extend_from_slice(b"\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A header value of about `bytes` bytes, folded into 78-column lines.
fn folded(mut item: impl FnMut(usize) -> String, bytes: usize, separator: &str) -> String {
    let mut value = String::with_capacity(bytes + bytes / 70 * 3);
    let mut column = 0;
    let mut i = 0;
    while value.len() < bytes {
        let next = item(i);
        if i > 0 {
            value.push_str(separator);
            if column + next.len() > 70 {
                value.push_str("\r\n ");
                column = 1;
            } else {
                value.push(' ');
            }
        }
        column += next.len() + 1;
        value.push_str(&next);
        i += 1;
    }
    value
}

fn nested_html(open: &str, close: &str, depth: usize) -> String {
    let mut html = String::with_capacity(depth * (open.len() + close.len() + 4) + 64);
    html.push_str("<html><body>");
    for level in 0..depth {
        html.push_str(open);
        html.push_str(if level % 2 == 0 { "a " } else { "b " });
    }
    html.push_str("deepest words");
    for _ in 0..depth {
        html.push_str(close);
    }
    html.push_str("</body></html>");
    html
}

/// The raw mail for `case` at size `n`, and its HTML body when it has one.
fn build(case: &str, n: usize) -> (Vec<u8>, Option<String>) {
    let subject = "Printer on floor 3 is jammed";
    let html_mail = |html: String| {
        let mut raw = Vec::with_capacity(html.len() + 512);
        raw.extend_from_slice(HEAD.as_bytes());
        raw.extend_from_slice(
            format!("To: support@desk.example.test\r\nSubject: {subject}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n")
                .as_bytes(),
        );
        raw.extend_from_slice(html.as_bytes());
        (raw, Some(html))
    };
    let nested = |open: &str, close: &str| html_mail(nested_html(open, close, n));
    match case {
        "lines-lf" | "lines-crlf" => {
            let eol = if case == "lines-lf" { "\n" } else { "\r\n" };
            let mut body = Vec::with_capacity(n * 14);
            for i in 0..n {
                body.extend_from_slice(format!("line {i}{eol}").as_bytes());
            }
            (text_mail(subject, "", &body), None)
        }
        "html-div" => nested("<div>", "</div>"),
        "html-blockquote" => nested("<blockquote>", "</blockquote>"),
        "html-table" => nested("<table><tr><td>", "</td></tr></table>"),
        "html-ul" => nested("<ul><li>", "</li></ul>"),
        "html-misnested" => {
            // `<b><i></b>` leaves an <i> that an HTML parser reopens: nesting grows by one a turn.
            let html = format!("<html><body>{}</body></html>", "<b><i></b>x ".repeat(n));
            html_mail(html)
        }
        "html-deep-wide" => {
            // Just under the depth cap, a million paragraphs.
            let mut html = "<html><body>".to_string() + &"<div>".repeat(60);
            for i in 0..n {
                html.push_str(&format!("<p>line {i}</p>\n"));
            }
            html.push_str(&"</div>".repeat(60));
            html_mail(html)
        }
        "mime-parts" => {
            let mut raw = Vec::with_capacity(n * 160);
            raw.extend_from_slice(HEAD.as_bytes());
            raw.extend_from_slice(
                format!("To: support@desk.example.test\r\nSubject: {subject}\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the logs.\r\n")
                    .as_bytes(),
            );
            for i in 0..n {
                raw.extend_from_slice(
                    format!("--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"log{i}.txt\"\r\n\r\nlog {i}\r\n")
                        .as_bytes(),
                );
            }
            raw.extend_from_slice(b"--b--\r\n");
            (raw, None)
        }
        "header-1mb" => {
            let value = folded(|i| format!("filler{i}"), n, "");
            let headers = format!("X-Filler: {value}\r\n");
            (
                text_mail(subject, &headers, b"Hello,\r\nthe printer is jammed.\r\n"),
                None,
            )
        }
        "to-list-1mb" => {
            let value = folded(|i| format!("user{i}@example.test"), n, ",");
            let mut raw = Vec::with_capacity(n + 512);
            raw.extend_from_slice(HEAD.as_bytes());
            raw.extend_from_slice(
                format!("To: support@desk.example.test, {value}\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n\r\nHello all.\r\n")
                    .as_bytes(),
            );
            (raw, None)
        }
        "references-1mb" => {
            let value = folded(|i| format!("<m{i}@example.test>"), n, "");
            let headers = format!("References: {value}\r\n");
            (text_mail(subject, &headers, b"Hello again.\r\n"), None)
        }
        "subject-100k" => {
            // Encoded words of "Imprimante bloquée " (19 characters each), folded.
            let words = n.div_ceil(19);
            let value = folded(
                |_| "=?UTF-8?Q?Imprimante_bloqu=C3=A9e_?=".to_string(),
                words * 36,
                "",
            );
            (text_mail(&value, "", b"Bonjour.\r\n"), None)
        }
        "attachment-30mb" => {
            let mut raw = Vec::with_capacity(n * 4 / 3 + n / 20 + 1024);
            raw.extend_from_slice(HEAD.as_bytes());
            raw.extend_from_slice(
                format!("To: support@desk.example.test\r\nSubject: {subject}\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe dump is attached.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"core.dump\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
                    .as_bytes(),
            );
            raw.extend_from_slice(&base64(&noise(n)));
            raw.extend_from_slice(b"--b--\r\n");
            (raw, None)
        }
        other => panic!("no case named {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// One case at one size (child process): one line per stage on stdout, as soon as it is done.

const BENCH_CONFIG: &str = r#"
[general]
support_address = "support@desk.example.test"
max_message_bytes = 1073741824
[loop_protection]
max_auto_replies_per_hour = 1000000
[commands]
trust = "none"
[[agent]]
name = "bob"
addresses = ["bob@desk.example.test"]
role = "triager"
[[queue]]
name = "general"
triagers = ["bob@desk.example.test"]
[[field]]
name = "location"
extract = '^(?i:Location|Site)\s*:\s*(.+)$'
prompt = "Location:"
[[rule]]
name = "printers"
match = "any"
conditions = [{ field = "subject", regex = '(?i)printer|imprimante' }, { field = "body", contains = "toner" }]
actions = { priority = "high", tags = ["printer"] }
[[rule]]
name = "filler"
conditions = [{ field = "header:x-filler", present = true }, { field = "to", domain = "example.test" }]
actions = { tags = ["odd"] }
"#;

fn bench_config(state: &Path) -> Config {
    let text = BENCH_CONFIG.replacen(
        "[general]\n",
        &format!("[general]\nstate_dir = {state:?}\n"),
        1,
    );
    Config::parse(Path::new("bench.toml"), &text, &|_| None).expect("bench config")
}

/// `measure`, repeated up to three times while a run takes under 0.3 s (the machine is shared:
/// a single short run is mostly noise); the fastest time, the first run's memory.
fn measure_best<T>(mut stage: impl FnMut() -> T) -> (T, Duration, usize) {
    let (mut out, mut best, extra) = measure(&mut stage);
    for _ in 0..2 {
        if best > Duration::from_millis(300) {
            break;
        }
        let (again, t, _) = measure(&mut stage);
        out = again;
        best = best.min(t);
    }
    (out, best, extra)
}

fn report(stage: &str, elapsed: Duration, extra: usize) {
    println!("{stage}\t{}\t{extra}", elapsed.as_secs_f64());
    std::io::stdout().flush().ok();
}

fn run_child(case: &str, n: usize) {
    let (raw, html) = build(case, n);
    println!("size\t{}", raw.len());
    std::io::stdout().flush().ok();
    let scratch = tempfile::tempdir().expect("temp dir");
    let config = bench_config(&scratch.path().join("state"));
    let policy = &config.intake;

    let (parsed, t, m) = measure_best(|| parse_mail(&raw).expect("parses"));
    report("parse", t, m);
    let (mail, hash) = parsed.into_mail();
    if let Some(html) = &html {
        let (_, t, m) = measure_best(|| html_to_text(html));
        report("html", t, m);
    }
    let (visible, t, m) = measure_best(|| visible_text(&mail.text));
    report("quotes", t, m);
    let (_, t, m) = measure_best(|| parse_commands(&mail.subject, &mail.text, &policy.vocabulary));
    report("commands", t, m);

    let thread = ThreadDecision::New {
        reason: NewTicketReason::NoThreadClues,
    };
    let input = IntakeInput {
        mail: &mail,
        thread: &thread,
        ticket: None,
        next_number: TicketNumber(1),
        auto_replies_last_hour: 0,
        now: 1_790_000_000,
        id_seed: &hash[..20],
        queue: None,
        others: &[],
        workloads: &[],
        knowledge: &guichet::core::knowledge::mail::NO_KNOWLEDGE,
    };
    let (_, t, m) = measure_best(|| route_new_ticket(policy, &input, &visible).matched.len());
    report("rules", t, m);
    let (_, t, m) = measure_best(|| decide_intake(policy, &input).expect("a plan"));
    report("intake", t, m);

    // An agent's answer relayed to everyone on the ticket, quoting the whole mail.
    let relay = OutgoingMail {
        kind: OutgoingKind::Relay,
        ticket: Some(TicketNumber(1)),
        from: Mailbox::new(Some("Bob (Helpdesk)"), "support@desk.example.test"),
        to: vec![Mailbox::new(Some("Alice Martin"), "alice@example.test")],
        cc: mail.to.iter().chain(&mail.cc).cloned().collect(),
        reply_to: None,
        envelope_from: Some("support@desk.example.test".into()),
        subject: format!("Re: [Helpdesk #1] {}", mail.subject),
        body: mail.text.clone(),
        message_id: "guichet.1.relay.x@desk.example.test".into(),
        in_reply_to: mail.message_id.clone(),
        references: mail.references.clone(),
        auto_submitted: None,
        language: Language::En,
        report_failures_to: None,
        attachments: Vec::new(),
    };
    let (_, t, m) = measure_best(|| render(&relay, 1_790_000_000, &NoAttachmentFiles));
    report("render", t, m);
    drop(relay);
    drop(visible);
    drop(mail);

    let mut pipeline = Pipeline::open(Arc::new(config.clone())).expect("store opens");
    let (outcome, t, m) = measure(|| {
        pipeline
            .ingest(&raw, &Source::named("bench"), 1_790_000_000)
            .expect("stored")
    });
    report("store", t, m);
    eprintln!("{case} n={n}: {outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// The parent: children with a timeout, then the table.

#[derive(Default)]
struct Run {
    size: usize,
    stages: BTreeMap<String, (f64, usize)>,
    order: Vec<String>,
    timed_out: bool,
}

fn run_parent_one(case: &str, n: usize, timeout: Duration) -> Run {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["--child", case, &n.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut run = Run::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                let fields: Vec<&str> = line.split('\t').collect();
                match fields.as_slice() {
                    ["size", size] => run.size = size.parse().unwrap_or(0),
                    [stage, secs, bytes] => {
                        run.order.push(stage.to_string());
                        run.stages.insert(
                            stage.to_string(),
                            (secs.parse().unwrap_or(0.0), bytes.parse().unwrap_or(0)),
                        );
                    }
                    _ => {}
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                run.timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let _ = child.wait();
    run
}

const STAGES: &[&str] = &[
    "parse", "html", "quotes", "commands", "rules", "intake", "render", "store",
];

fn mib(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        run_child(&args[1], args[2].parse().expect("a size"));
        return;
    }
    let mut scale = 1.0f64;
    let mut timeout = Duration::from_secs(120);
    let mut chosen = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--scale" => scale = rest.next().and_then(|s| s.parse().ok()).expect("--scale F"),
            "--timeout" => {
                timeout = Duration::from_secs(
                    rest.next()
                        .and_then(|s| s.parse().ok())
                        .expect("--timeout SECS"),
                )
            }
            "--bench" => {} // cargo bench passes this
            name if CASES.contains(&name) => chosen.push(name.to_string()),
            other => {
                eprintln!("unknown argument {other}; cases: {}", CASES.join(" "));
                std::process::exit(64);
            }
        }
    }
    if chosen.is_empty() {
        chosen = CASES.iter().map(|c| c.to_string()).collect();
    }
    println!(
        "{:<16} {:>16} {:<9} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}  flags",
        "case", "n", "stage", "t(n) s", "t(2n) s", "ratio", "mem MiB", "mail MiB", "mem/x"
    );
    for case in &chosen {
        let (what, base) = unit(case);
        let n = ((base as f64) * scale).max(1.0) as usize;
        let small = run_parent_one(case, n, timeout);
        let big = if small.timed_out {
            Run {
                timed_out: true,
                ..Run::default()
            }
        } else {
            run_parent_one(case, 2 * n, timeout)
        };
        for stage in STAGES {
            let a = small.stages.get(*stage);
            let b = big.stages.get(*stage);
            let applies =
                a.is_some() || (small.timed_out && (*stage != "html" || case.starts_with("html-")));
            if !applies {
                continue;
            }
            let cell = |run: &Run, value: Option<&(f64, usize)>| match value {
                Some((secs, _)) => format!("{secs:.3}"),
                None if run.timed_out => format!(">{}", timeout.as_secs()),
                None => "-".into(),
            };
            let ratio = match (a, b) {
                (Some((ta, _)), Some((tb, _))) if *ta > 0.0 => format!("{:.2}", tb / ta),
                _ => "-".into(),
            };
            let (mem, per_size) = match a {
                Some((_, bytes)) if small.size > 0 => (
                    mib(*bytes),
                    format!("{:.2}", *bytes as f64 / small.size as f64),
                ),
                _ => ("-".into(), "-".into()),
            };
            let mut flags = Vec::new();
            if let (Some((ta, _)), Some((tb, _))) = (a, b) {
                // Below a few milliseconds the ratio is noise.
                if *tb > 0.02 && tb / ta > 2.3 {
                    flags.push("RATIO");
                }
                if *ta > 2.0 {
                    flags.push("SLOW");
                }
            }
            if a.is_none() || b.is_none() {
                flags.push("TIMEOUT");
            }
            if let Some((_, bytes)) = a {
                if small.size > 0 && *bytes > 4 * small.size {
                    flags.push("MEM");
                }
            }
            println!(
                "{:<16} {:>16} {:<9} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}  {}",
                case,
                format!("{n} {what}"),
                stage,
                cell(&small, a),
                cell(&big, b),
                ratio,
                mem,
                mib(small.size),
                per_size,
                flags.join(" ")
            );
        }
        std::io::stdout().flush().ok();
    }
}

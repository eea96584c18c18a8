//! A generated Guichet store for benchmarks (issue 15): by default 1,000,000 tickets and about
//! 5,000,000 messages over the two years before 2026-12-01, written through the real schema.
//!
//! The store is opened with `Store::open` (every migration), then the rows go straight into
//! their tables with prepared statements in large transactions: the pipeline would take hours.
//! The rows are those the pipeline writes: each ticket's mail from the requester, its
//! acknowledgement, notices, agents' answers (the agent's mail and its relay with the outbox
//! row naming the agent), internal notes, follow-ups, `ticket_changes` for every change
//! (creation, assignment, waiting, escalations up to the vendor, transfers, resolutions,
//! reopens, merges, closes), SLA warnings and breaches, the audit trail, participants, custom
//! fields, tags, `#solved` links to articles and documented resolutions in the ticket index.
//!
//! Each ticket's life is planned when it is created, then every step is written in order of
//! time across all tickets, as intake would have: rows of one ticket are interleaved with
//! others', as in a real store. Arrivals follow office hours (a weekday morning peak, quiet
//! nights and weekends) and grow by 40% over the two years; times are UTC read as local.
//!
//! Deterministic (seeded): the same scale gives the same store. Built once into
//! `target/report_scale-v1-<scale>.sqlite3` (through a `.partial` file renamed when complete).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use guichet::adapters::store::{indexed_terms, Store};
use guichet::core::knowledge::analysis::terms;
use guichet::core::knowledge::{ArticleState, ArticleText, ArticleVisibility};
use rusqlite::{params, Connection, Statement};
use sha2::Digest;

pub mod words;
use words::{sentence, words_by_language, Random};

/// 2026-12-01T00:00:00Z: the generated history ends here.
pub const END: i64 = 1_796_083_200;
pub const DAYS: i64 = 730;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Queues and their share of new tickets.
pub const QUEUES: [(&str, u64); 6] = [
    ("it", 30),
    ("accounts", 20),
    ("network", 15),
    ("hardware", 15),
    ("facilities", 10),
    ("billing", 10),
];
pub const SITES: [&str; 8] = [
    "paris", "lyon", "geneva", "milan", "turin", "brussels", "lille", "nantes",
];
const AGENTS_PER_QUEUE: usize = 6;
/// Level 2 and 3 technicians, and level 4 vendor contacts.
const TECHNICIANS: usize = 8;
const VENDORS: usize = 2;
const REQUESTERS: u64 = 40_000;
const DOMAINS: usize = 400;
const ARTICLES: usize = 200;
const LANGUAGES: [(&str, u64); 3] = [("en", 50), ("fr", 35), ("it", 15)];

/// Every agent: (name, levels); queue agents first, `QUEUE-N` at level 1.
pub fn agents() -> Vec<(String, Vec<u8>, Option<&'static str>)> {
    let mut out = Vec::new();
    for (queue, _) in QUEUES {
        for n in 1..=AGENTS_PER_QUEUE {
            out.push((format!("{queue}{n}"), vec![1], Some(queue)));
        }
    }
    for n in 1..=TECHNICIANS {
        out.push((format!("tech{n}"), vec![2, 3], None));
    }
    for n in 1..=VENDORS {
        out.push((format!("vendor{n}"), vec![4], None));
    }
    out
}

pub fn agent_address(name: &str) -> String {
    format!("{name}@staff.example.test")
}

/// A configuration that knows the generated agents, queues, calendar and SLA plans, with its
/// state directory at `state_dir`.
pub fn config_toml(state_dir: &Path) -> String {
    let mut text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n\n\
         [commands]\ntrust = \"none\"\n\n",
        state_dir.display().to_string()
    );
    for (name, levels, queue) in agents() {
        text += &format!(
            "[[agent]]\nname = \"{name}\"\naddresses = [\"{}\"]\nrole = \"agent\"\nqueues = [{}]\nlevels = {levels:?}\n\n",
            agent_address(&name),
            queue.map(|q| format!("\"{q}\"")).unwrap_or_default()
        );
    }
    for (queue, _) in QUEUES {
        text += &format!("[[queue]]\nname = \"{queue}\"\nassignment = \"round-robin\"\n\n");
    }
    text += "[[field]]\nname = \"site\"\ntype = \"choice\"\nchoices = [";
    text += &SITES.map(|s| format!("\"{s}\"")).join(", ");
    text += "]\n\n";
    text += "[[calendar]]\nname = \"office\"\ntime_zone = \"UTC\"\n";
    for day in ["monday", "tuesday", "wednesday", "thursday", "friday"] {
        text += &format!("{day} = [\"08:00-18:00\"]\n");
    }
    text += "\n[[sla]]\npriority = \"urgent\"\nfirst_response = \"1h\"\nresolution = \"1d\"\n\n\
             [[sla]]\npriority = \"high\"\ncalendar = \"office\"\nfirst_response = \"4h\"\nresolution = \"2d\"\n\n\
             [[sla]]\ncalendar = \"office\"\nfirst_response = \"8h\"\nresolution = \"5d\"\n";
    text
}

/// The path of the store at `scale`, built first if missing.
pub fn store(manifest: &Path, scale: f64) -> PathBuf {
    let path = manifest.join(format!("target/report_scale-v1-{scale}.sqlite3"));
    if !path.exists() {
        let tickets = (1_000_000.0 * scale) as u64;
        let partial = path.with_extension("partial");
        for stale in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{stale}", partial.display()));
        }
        let started = Instant::now();
        let counts = build(&partial, &manifest.join("fixtures/kb"), tickets);
        let seconds = started.elapsed().as_secs_f64();
        std::fs::rename(&partial, &path).expect("rename the built store");
        let sizes = sizes(&path);
        let summary = format!(
            "generated {tickets} tickets, {} messages, {} ticket changes, {} events in {seconds:.0} s\n{sizes}",
            counts.messages, counts.changes, counts.events
        );
        std::fs::write(path.with_extension("txt"), &summary).expect("write the summary");
    }
    if let Ok(summary) = std::fs::read_to_string(path.with_extension("txt")) {
        print!("{summary}");
    }
    path
}

/// Total size, and the share of the full-text indexes, per ticket.
fn sizes(path: &Path) -> String {
    let conn = Connection::open(path).expect("open");
    let tickets: i64 = conn
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
        .unwrap();
    let mut statement = conn
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .expect("dbstat");
    let rows: Vec<(String, i64)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let fts: i64 = rows
        .iter()
        .filter(|r| r.0.starts_with("messages_fts") || r.0.starts_with("kb_ticket_fts"))
        .map(|r| r.1)
        .sum();
    let mb = |b: i64| b as f64 / 1e6;
    let mut out = format!(
        "store size {:.0} MB ({} bytes/ticket); without the full-text indexes {:.0} MB ({} bytes/ticket)\n",
        mb(total),
        total / tickets.max(1),
        mb(total - fts),
        (total - fts) / tickets.max(1)
    );
    for (name, bytes) in rows.iter().take(12) {
        out += &format!("  {name:<34} {:>8.0} MB\n", mb(*bytes));
    }
    out
}

#[derive(Default)]
struct Counts {
    messages: u64,
    changes: u64,
    events: u64,
}

/// A step of a ticket's life, written when its time comes.
#[derive(Clone)]
enum Step {
    /// The requester's mail: the first one, a follow-up, or one that reopens a done ticket or
    /// ends a wait.
    Request {
        first: bool,
        reopen: bool,
        unwait: bool,
    },
    /// An agent's answer: their mail and its relay to the requester.
    Answer {
        agent: u16,
        open: bool,
        assign: bool,
        waiting: bool,
    },
    Note {
        agent: u16,
    },
    Escalate {
        level: u8,
    },
    Priority(&'static str),
    Transfer {
        queue: usize,
    },
    SlaWarning {
        agent: Option<u16>,
    },
    SlaBreach,
    Resolve {
        notice: bool,
    },
    Close,
    Solved {
        article: i64,
    },
    Merge {
        into: u64,
    },
}

/// What every step of one ticket needs.
struct Ticket {
    requester: String,
    domain: String,
    language: usize,
    subject: String,
    /// The ticket its mail lives in (itself, or the one it was merged into).
    home: u64,
    queue: usize,
    steps_left: usize,
}

const PRIORITIES: [(&str, u64); 4] = [("low", 15), ("normal", 60), ("high", 20), ("urgent", 5)];

fn pick<T: Copy>(random: &mut Random, table: &[(T, u64)]) -> usize {
    let total: u64 = table.iter().map(|t| t.1).sum();
    let mut n = random.next() % total;
    for (i, (_, weight)) in table.iter().enumerate() {
        if n < *weight {
            return i;
        }
        n -= weight;
    }
    table.len() - 1
}

fn unit(random: &mut Random) -> f64 {
    (random.next() % 1_000_000) as f64 / 1_000_000.0
}

fn chance(random: &mut Random, p: f64) -> bool {
    unit(random) < p
}

fn below(random: &mut Random, n: u64) -> u64 {
    random.next() % n.max(1)
}

/// `base` seconds stretched by up to e^`spread`: most delays short, a long tail.
fn delay(random: &mut Random, base: f64, spread: f64) -> i64 {
    (base * (unit(random) * spread).exp()) as i64
}

/// Monday = 0 (1970-01-01 was a Thursday).
fn weekday(at: i64) -> i64 {
    (at.div_euclid(DAY) + 3) % 7
}

/// `at`, or the next office hour (08:00–18:00 on weekdays) plus a little, when agents work.
fn office(random: &mut Random, at: i64) -> i64 {
    let mut day = at.div_euclid(DAY) * DAY;
    let mut time = at - day;
    if time >= 18 * HOUR {
        day += DAY;
        time = 0;
    }
    while weekday(day) >= 5 {
        day += DAY;
        time = 0;
    }
    if time < 8 * HOUR {
        time = 8 * HOUR + below(random, 3 * HOUR as u64) as i64;
    }
    day + time
}

/// The office hour after `at` plus a delay drawn as by `delay`.
fn office_after(random: &mut Random, at: i64, base: f64, spread: f64) -> i64 {
    let wait = delay(random, base, spread);
    office(random, at + wait)
}

/// Arrivals per hour of the day and per weekday, relative.
fn arrival_weight(at: i64) -> f64 {
    const HOURS: [f64; 24] = [
        0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.2, 2.5, 3.5, 3.2, 2.6, 1.6, 2.2, 3.0, 2.8, 2.3,
        1.6, 0.9, 0.6, 0.4, 0.3, 0.2, 0.15,
    ];
    const DAYS_W: [f64; 7] = [1.15, 1.0, 1.0, 0.95, 0.85, 0.15, 0.1];
    let hour = (at.rem_euclid(DAY) / HOUR) as usize;
    let start = END - DAYS * DAY;
    let growth = 1.0 + 0.4 * (at - start) as f64 / (DAYS * DAY) as f64;
    HOURS[hour] * DAYS_W[weekday(at) as usize] * growth
}

/// The ticket's state at the end of the history, for its row.
struct Final {
    status: &'static str,
    priority: &'static str,
    level: u8,
    queue: usize,
    assignee: Option<u16>,
    merged_into: Option<u64>,
    updated_at: i64,
    first_response_due: Option<i64>,
    next_response_due: Option<i64>,
    resolution_due: Option<i64>,
    sla_paused_at: Option<i64>,
    awaiting_since: Option<i64>,
    resolution: bool,
}

/// Wall-clock targets of the plans in `config_toml`, close enough for the deadlines the
/// generated rows carry (the report recomputes everything from the history).
fn targets(priority: &str) -> (i64, i64) {
    match priority {
        "urgent" => (HOUR, DAY),
        "high" => (10 * HOUR, 5 * DAY),
        _ => (DAY, 12 * DAY),
    }
}

struct Plan {
    steps: Vec<(i64, Step)>,
    status: &'static str,
    priority: &'static str,
    assignee: Option<u16>,
    resolution: bool,
}

fn final_state(created: i64, plan: &Plan, queue: usize) -> Final {
    let mut f = Final {
        status: plan.status,
        priority: plan.priority,
        level: 1,
        queue,
        assignee: plan.assignee,
        merged_into: None,
        updated_at: created,
        first_response_due: None,
        next_response_due: None,
        resolution_due: None,
        sla_paused_at: None,
        awaiting_since: Some(created),
        resolution: false,
    };
    let mut answered = false;
    for (at, step) in plan.steps.iter().filter(|(at, _)| *at < END) {
        let at = *at;
        match step {
            Step::Request {
                first,
                reopen,
                unwait,
            } => {
                if !first && (*reopen || *unwait) {
                    f.status = "open";
                    f.sla_paused_at = None;
                }
                if f.awaiting_since.is_none() {
                    f.awaiting_since = Some(at);
                }
            }
            Step::Answer {
                agent,
                open,
                assign,
                waiting,
            } => {
                answered = true;
                f.awaiting_since = None;
                if *open {
                    f.status = "open";
                }
                if *assign {
                    f.assignee = Some(*agent);
                }
                if *waiting {
                    f.status = "waiting";
                    f.sla_paused_at = Some(at);
                }
            }
            Step::Escalate { level } => f.level = *level,
            Step::Priority(p) => f.priority = p,
            Step::Transfer { queue } => f.queue = *queue,
            Step::Resolve { .. } | Step::Solved { .. } => {
                f.status = "resolved";
                f.resolution = plan.resolution;
                f.awaiting_since = None;
            }
            Step::Close => f.status = "closed",
            Step::Merge { into } => {
                f.status = "closed";
                f.merged_into = Some(*into);
            }
            Step::Note { .. } | Step::SlaWarning { .. } | Step::SlaBreach => continue,
        }
        f.updated_at = at;
    }
    if !matches!(f.status, "resolved" | "closed" | "spam") {
        let (first, resolution) = targets(f.priority);
        if !answered {
            f.first_response_due = Some(created + first);
        }
        if let Some(since) = f.awaiting_since.filter(|_| answered) {
            f.next_response_due = Some(since + first * 2);
        }
        f.resolution_due = Some(created + resolution);
    } else {
        f.awaiting_since = None;
    }
    f
}

/// Plans a new ticket's life from `created` on.
fn plan(
    random: &mut Random,
    created: i64,
    queue: usize,
    merge_into: Option<u64>,
    agent_count: usize,
) -> Plan {
    let priority = PRIORITIES[pick(random, &PRIORITIES)].0;
    let queue_agent = |random: &mut Random| {
        (queue * AGENTS_PER_QUEUE) as u16 + below(random, AGENTS_PER_QUEUE as u64) as u16
    };
    let technician = |random: &mut Random| {
        (QUEUES.len() * AGENTS_PER_QUEUE) as u16 + below(random, TECHNICIANS as u64) as u16
    };
    let vendor = (agent_count - 1 - (created as usize % VENDORS)) as u16;
    let mut steps = vec![(
        created,
        Step::Request {
            first: true,
            reopen: false,
            unwait: false,
        },
    )];
    let mut p = Plan {
        steps: Vec::new(),
        status: "new",
        priority,
        assignee: None,
        resolution: false,
    };
    if chance(random, 0.004) {
        p.status = "spam";
        p.steps = steps;
        return p;
    }
    if chance(random, 0.6) {
        p.assignee = Some(queue_agent(random));
    }
    if let Some(into) = merge_into {
        steps.push((
            office_after(random, created, 600.0, 3.5),
            Step::Merge { into },
        ));
        p.steps = steps;
        return p;
    }
    let mut t = created;
    if chance(random, 0.06) {
        t = office_after(random, t, 600.0, 2.5);
        let mut other = below(random, QUEUES.len() as u64) as usize;
        if other == queue {
            other = (other + 1) % QUEUES.len();
        }
        steps.push((t, Step::Transfer { queue: other }));
    }
    if chance(random, 0.03) {
        t += delay(random, 300.0, 3.0);
        steps.push((
            t,
            Step::Solved {
                article: 1 + below(random, ARTICLES as u64) as i64,
            },
        ));
        p.steps = steps;
        return p;
    }
    let (first_target, _) = targets(priority);
    let speed = match priority {
        "urgent" => 300.0,
        "high" => 900.0,
        _ => 1800.0,
    };
    let rounds = 1 + usize::from(chance(random, 0.18)) + usize::from(chance(random, 0.04));
    let stale = chance(random, 0.012);
    let mut level = 1u8;
    let mut assignee = p.assignee;
    let mut status_new = true;
    for round in 0..rounds {
        let answer_at = office_after(random, t, speed, 4.0);
        if round == 0 && answer_at - created > first_target {
            steps.push((
                created + first_target * 4 / 5,
                Step::SlaWarning { agent: assignee },
            ));
            steps.push((created + first_target, Step::SlaBreach));
        }
        if level < 4 && chance(random, if round == 0 { 0.06 } else { 0.03 }) {
            level += 1;
            steps.push((answer_at - 60, Step::Escalate { level }));
            if level == 2 && chance(random, 0.25) {
                level = 3;
                steps.push((answer_at - 30, Step::Escalate { level }));
                if chance(random, 0.3) {
                    level = 4;
                    steps.push((answer_at - 20, Step::Escalate { level }));
                }
            }
            if priority != "urgent" && chance(random, 0.3) {
                steps.push((answer_at - 10, Step::Priority("high")));
            }
        }
        let agent = match level {
            1 => assignee.unwrap_or_else(|| queue_agent(random)),
            4 => vendor,
            _ => technician(random),
        };
        let wait = chance(random, 0.2);
        steps.push((
            answer_at,
            Step::Answer {
                agent,
                open: status_new,
                assign: assignee.is_none() && level == 1,
                waiting: wait,
            },
        ));
        if assignee.is_none() && level == 1 {
            assignee = Some(agent);
        }
        status_new = false;
        t = answer_at;
        if chance(random, 0.12) {
            steps.push((t + delay(random, 120.0, 4.0), Step::Note { agent }));
        }
        if stale {
            p.steps = steps;
            return p;
        }
        if round + 1 < rounds {
            t += delay(random, 1800.0, 4.5);
            steps.push((
                t,
                Step::Request {
                    first: false,
                    reopen: false,
                    unwait: wait,
                },
            ));
        }
    }
    p.resolution = chance(random, 0.1);
    t = office_after(random, t, 60.0, 8.0);
    steps.push((
        t,
        Step::Resolve {
            notice: chance(random, 0.1),
        },
    ));
    if chance(random, 0.07) {
        t += delay(random, 7200.0, 4.0);
        steps.push((
            t,
            Step::Request {
                first: false,
                reopen: true,
                unwait: false,
            },
        ));
        t = office_after(random, t, speed, 3.5);
        let agent = assignee.unwrap_or_else(|| queue_agent(random));
        steps.push((
            t,
            Step::Answer {
                agent,
                open: false,
                assign: false,
                waiting: false,
            },
        ));
        t = office_after(random, t, 60.0, 8.0);
        steps.push((t, Step::Resolve { notice: false }));
    }
    if chance(random, 0.2) {
        steps.push((t + 7 * DAY, Step::Close));
    }
    // Steps planned at one instant keep their order; a late escalation stays before its answer.
    steps.sort_by_key(|(at, _)| *at);
    p.steps = steps;
    p
}

/// One stored mail.
struct Mail<'a> {
    ticket: u64,
    inbound: bool,
    internal: bool,
    kind: &'a str,
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    at: i64,
    /// The agent a relay's failures would be told to (`outbox.notify_address`).
    notify: Option<&'a str>,
}

/// Prepared inserts for every table a step writes.
struct Writer<'c> {
    conn: &'c Connection,
    ticket: Statement<'c>,
    change: Statement<'c>,
    event: Statement<'c>,
    message: Statement<'c>,
    outbox: Statement<'c>,
    recipient: Statement<'c>,
    automatic: Statement<'c>,
    participant: Statement<'c>,
    field: Statement<'c>,
    tag: Statement<'c>,
    link: Statement<'c>,
    attachment: Statement<'c>,
    kb_ticket: Statement<'c>,
    counts: Counts,
}

fn hex_hash(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn date(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc2822()
}

/// A mail as it would be stored: headers, the text, sometimes an HTML copy or an attachment
/// (whose size is returned).
fn raw_mail(random: &mut Random, mail: &Mail<'_>, message_id: &str) -> (Vec<u8>, Option<usize>) {
    let mut raw = String::with_capacity(mail.text.len() * 2 + 800);
    if mail.inbound {
        raw += &format!(
            "Return-Path: <{}>\r\nReceived: from mail.example.net (mail.example.net [192.0.2.{}])\r\n\tby mx.desk.example.test with ESMTPS id {:x}\r\n\tfor <{}>; {}\r\nAuthentication-Results: mx.desk.example.test; dkim=pass; spf=pass smtp.mailfrom={}\r\n",
            mail.from,
            below(random, 250),
            random.next(),
            mail.to,
            date(mail.at),
            mail.from
        );
    }
    raw += &format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n",
        mail.from,
        mail.to,
        mail.subject,
        date(mail.at)
    );
    let html = mail.inbound && chance(random, 0.25);
    let attachment =
        (mail.inbound && chance(random, 0.005)).then(|| 4_000 + below(random, 16_000) as usize);
    if !html && attachment.is_none() {
        raw += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
        raw += mail.text;
        return (raw.into_bytes(), None);
    }
    raw += "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    raw += mail.text;
    if html {
        raw += "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><div dir=\"ltr\"><p>";
        raw += &mail.text.replace('\n', "</p>\r\n<p>");
        raw += "</p></div></body></html>";
    }
    if let Some(size) = attachment {
        raw += "\r\n--b1\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
        let line =
            "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZUR\r\n";
        for _ in 0..size * 4 / 3 / (line.len() - 2) {
            raw += line;
        }
    }
    raw += "\r\n--b1--\r\n";
    (raw.into_bytes(), attachment)
}

impl<'c> Writer<'c> {
    fn new(conn: &'c Connection) -> Writer<'c> {
        let p = |sql: &str| conn.prepare(sql).expect(sql);
        Writer {
            conn,
            ticket: p("INSERT INTO tickets (number, subject, requester, requester_name, status, priority, level,
                           queue, assignee, language, merged_into, created_at, updated_at, resolution,
                           first_response_due, next_response_due, resolution_due, sla_paused_at,
                           sla_warned_for, awaiting_since)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, NULL, ?19)"),
            change: p("INSERT INTO ticket_changes (ticket, at, field, value) VALUES (?1, ?2, ?3, ?4)"),
            event: p("INSERT INTO events (ticket, at, actor, kind, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            message: p("INSERT INTO messages (ticket, direction, visibility, kind, message_id, content_hash, from_addr,
                            to_addrs, cc_addrs, subject, text, raw, source, sent_date, created_at)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '[]', ?9, ?10, ?11, ?12, ?13, ?13)"),
            outbox: p("INSERT INTO outbox (message, envelope_from, recipients, status, attempts, next_attempt_at,
                           created_at, sent_at, notify_address, notify_language)
                       VALUES (?1, 'bounces@desk.example.test', ?2, 'sent', 1, ?3, ?3, ?4, ?5,
                               CASE WHEN ?5 IS NULL THEN NULL ELSE 'en' END)"),
            recipient: p("INSERT INTO outbox_recipients (outbox, address, position, status, attempts, updated_at)
                          VALUES (?1, ?2, 0, 'delivered', 1, ?3)"),
            automatic: p("INSERT INTO automatic_mail (address, cause, ticket, kind, message, at)
                          VALUES (?1, ?1, ?2, ?3, ?4, ?5)"),
            participant: p("INSERT OR IGNORE INTO participants (ticket, address, name, role, added_at)
                            VALUES (?1, ?2, NULL, ?3, ?4)"),
            field: p("INSERT INTO ticket_fields (ticket, name, value) VALUES (?1, ?2, ?3)"),
            tag: p("INSERT OR IGNORE INTO ticket_tags (ticket, tag) VALUES (?1, ?2)"),
            link: p("INSERT OR IGNORE INTO kb_links (article, ticket, relation, at) VALUES (?1, ?2, ?3, ?4)"),
            attachment: p("INSERT INTO attachments (message, filename, content_type, size, sha256)
                           VALUES (?1, 'scan.pdf', 'application/pdf', ?2, ?3)"),
            kb_ticket: p("INSERT INTO kb_ticket_fts (rowid, question, resolution) VALUES (?1, ?2, ?3)"),
            counts: Counts::default(),
        }
    }

    fn change(&mut self, ticket: u64, at: i64, field: &str, value: Option<&str>) {
        self.change
            .execute(params![ticket as i64, at, field, value])
            .unwrap();
        self.counts.changes += 1;
    }

    fn event(
        &mut self,
        ticket: u64,
        at: i64,
        actor: &str,
        kind: &str,
        detail: &str,
        message: Option<i64>,
    ) {
        self.event
            .execute(params![ticket as i64, at, actor, kind, detail, message])
            .unwrap();
        self.counts.events += 1;
    }

    /// Stores `mail`; an outgoing one is queued, sent and delivered a few seconds later.
    fn message(&mut self, random: &mut Random, mail: &Mail<'_>) -> i64 {
        let message_id = if mail.inbound {
            let domain = mail.from.rsplit_once('@').map_or("x", |d| d.1);
            format!("<{:x}.{}@{domain}>", random.next(), self.counts.messages)
        } else {
            format!(
                "<guichet.{}.{:x}@desk.example.test>",
                mail.ticket,
                random.next()
            )
        };
        let (raw, attachment) = raw_mail(random, mail, &message_id);
        self.message
            .execute(params![
                mail.ticket as i64,
                if mail.inbound { "in" } else { "out" },
                if mail.internal { "internal" } else { "public" },
                mail.kind,
                message_id,
                hex_hash(&raw),
                mail.from,
                format!("[\"{}\"]", mail.to),
                mail.subject,
                mail.text,
                raw,
                if mail.inbound {
                    "imap:support"
                } else {
                    "guichet"
                },
                mail.at
            ])
            .unwrap();
        self.counts.messages += 1;
        let id = self.conn.last_insert_rowid();
        if let Some(size) = attachment {
            self.attachment
                .execute(params![id, size as i64, hex_hash(&id.to_be_bytes())])
                .unwrap();
        }
        if !mail.inbound {
            let sent = mail.at + 2 + below(random, 30) as i64;
            self.outbox
                .execute(params![
                    id,
                    format!("[\"{}\"]", mail.to),
                    mail.at,
                    sent,
                    mail.notify
                ])
                .unwrap();
            let outbox = self.conn.last_insert_rowid();
            self.recipient
                .execute(params![outbox, mail.to, sent])
                .unwrap();
            self.event(mail.ticket, sent, "guichet", "delivered", mail.to, Some(id));
            if mail.kind == "acknowledgement" {
                self.automatic
                    .execute(params![mail.to, mail.ticket as i64, mail.kind, id, mail.at])
                    .unwrap();
            }
        }
        id
    }
}

const SUPPORT: &str = "support@desk.example.test";
const TAGS: [&str; 8] = [
    "vpn", "printer", "password", "email", "laptop", "wifi", "phone", "badge",
];

/// Everything the steps of all tickets share.
struct World<'w> {
    random: Random,
    vocabulary: Vec<&'w [String]>,
    agents: Vec<String>,
    addresses: Vec<String>,
}

impl World<'_> {
    fn text(&mut self, language: usize, min: usize, spread: usize) -> String {
        let words = self.vocabulary[language];
        let n = min + self.random.skewed(spread);
        let mut out = String::with_capacity(n * 8);
        let mut left = n;
        while left > 0 {
            let length = (6 + below(&mut self.random, 12) as usize).min(left);
            let mut line = sentence(&mut self.random, words, length);
            if let Some(first) = line.get(..1) {
                line.replace_range(..1, &first.to_uppercase());
            }
            out += &line;
            out += if below(&mut self.random, 4) == 0 {
                ".\n\n"
            } else {
                ". "
            };
            left -= length;
        }
        out.trim_end().to_string()
    }
}

/// Writes what `step` of ticket `number` stores.
fn emit(w: &mut Writer<'_>, world: &mut World<'_>, number: u64, t: &Ticket, at: i64, step: &Step) {
    let subject_re = format!("Re: [Helpdesk #{}] {}", t.home, t.subject);
    let agent_of_queue = |random: &mut Random| {
        (t.queue * AGENTS_PER_QUEUE) as u16 + below(random, AGENTS_PER_QUEUE as u64) as u16
    };
    match step {
        Step::Request {
            first,
            reopen,
            unwait,
        } => {
            let text = if *first {
                world.text(t.language, 25, 160)
            } else {
                world.text(t.language, 4, 70)
            };
            let subject = if *first {
                t.subject.clone()
            } else {
                subject_re.clone()
            };
            let m = w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "mail",
                    true,
                    &t.requester,
                    SUPPORT,
                    &subject,
                    &text,
                    None,
                ),
            );
            let kind = if *first { "created" } else { "correspondence" };
            w.event(number, at, &t.requester, kind, "", Some(m));
            if *reopen {
                w.change(number, at, "status", Some("open"));
                w.event(number, at, &t.requester, "reopened", "", Some(m));
            } else if *unwait {
                w.change(number, at, "status", Some("open"));
            }
            if *first {
                if chance(&mut world.random, 0.1) {
                    let article = 1 + below(&mut world.random, ARTICLES as u64) as i64;
                    w.link
                        .execute(params![article, number as i64, "suggested", at])
                        .unwrap();
                    w.event(
                        number,
                        at,
                        "guichet",
                        "article_suggested",
                        &article.to_string(),
                        Some(m),
                    );
                }
                if chance(&mut world.random, 0.75) {
                    let ack = format!(
                        "Hello,\n\nWe received your request and opened ticket #{} for it:\n\n  {}\n\n\
                         An agent will answer you soon. To add anything, reply to this mail and keep\n\
                         [Helpdesk #{}] in the subject.\n\nThe helpdesk",
                        t.home, t.subject, t.home
                    );
                    let subject = format!("[Helpdesk #{}] {}", t.home, t.subject);
                    w.message(
                        &mut world.random,
                        &mail(
                            t,
                            at,
                            "acknowledgement",
                            false,
                            SUPPORT,
                            &t.requester,
                            &subject,
                            &ack,
                            None,
                        ),
                    );
                    w.event(number, at, "guichet", "acknowledgement_queued", "", Some(m));
                }
                if chance(&mut world.random, 0.05) {
                    let agent = agent_of_queue(&mut world.random) as usize;
                    let notice = format!(
                        "New ticket #{} in {} from {} ({}):\n\n{}",
                        t.home,
                        QUEUES[t.queue].0,
                        t.requester,
                        t.domain,
                        text.chars().take(400).collect::<String>()
                    );
                    let to = world.addresses[agent].clone();
                    w.message(
                        &mut world.random,
                        &mail(
                            t,
                            at,
                            "new_ticket_notice",
                            false,
                            SUPPORT,
                            &to,
                            &subject_re,
                            &notice,
                            None,
                        ),
                    );
                    w.event(number, at, "guichet", "notice_queued", &to, Some(m));
                }
            } else if chance(&mut world.random, 0.3) {
                let agent = agent_of_queue(&mut world.random) as usize;
                let to = world.addresses[agent].clone();
                w.message(
                    &mut world.random,
                    &mail(
                        t,
                        at,
                        "relay_to_agents",
                        false,
                        SUPPORT,
                        &to,
                        &subject_re,
                        &text,
                        None,
                    ),
                );
            }
        }
        Step::Answer {
            agent,
            open,
            assign,
            waiting,
        } => {
            let agent = *agent as usize;
            let (name, address) = (world.agents[agent].clone(), world.addresses[agent].clone());
            let mut text = world.text(t.language, 8, 90);
            if *waiting {
                text = format!("#status waiting\n{text}");
            }
            let m = w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "mail",
                    true,
                    &address,
                    SUPPORT,
                    &subject_re,
                    &text,
                    None,
                ),
            );
            w.event(number, at, &address, "correspondence", "", Some(m));
            if *assign {
                w.change(number, at, "assignee", Some(&name));
                w.event(number, at, &address, "assigned", &name, Some(m));
            }
            if *open {
                w.change(number, at, "status", Some("open"));
            }
            if *waiting {
                w.change(number, at, "status", Some("waiting"));
                w.event(
                    number,
                    at,
                    &address,
                    "command_applied",
                    "#status waiting",
                    Some(m),
                );
            }
            let relayed = format!("{text}\n\n-- \n{name} (Helpdesk)");
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "relay",
                    false,
                    SUPPORT,
                    &t.requester,
                    &subject_re,
                    &relayed,
                    Some(&address),
                ),
            );
        }
        Step::Note { agent } => {
            let address = world.addresses[*agent as usize].clone();
            let text = world.text(t.language, 5, 40);
            let mut note = mail(
                t,
                at,
                "mail",
                true,
                &address,
                "support-comment@desk.example.test",
                &subject_re,
                &text,
                None,
            );
            note.internal = true;
            let m = w.message(&mut world.random, &note);
            w.event(number, at, &address, "note", "", Some(m));
        }
        Step::Escalate { level } => {
            w.change(number, at, "level", Some(&level.to_string()));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#escalate {level}"),
                None,
            );
            let first = QUEUES.len() * AGENTS_PER_QUEUE;
            let to = if *level == 4 {
                world.addresses[first + TECHNICIANS].clone()
            } else {
                world.addresses[first + below(&mut world.random, TECHNICIANS as u64) as usize]
                    .clone()
            };
            let notice = format!(
                "Ticket #{} was escalated to level {level}: {}",
                t.home, t.subject
            );
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "escalation_notice",
                    false,
                    SUPPORT,
                    &to,
                    &subject_re,
                    &notice,
                    None,
                ),
            );
        }
        Step::Priority(priority) => {
            w.change(number, at, "priority", Some(priority));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#priority {priority}"),
                None,
            );
        }
        Step::Transfer { queue } => {
            w.change(number, at, "queue", Some(QUEUES[*queue].0));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#transfer {}", QUEUES[*queue].0),
                None,
            );
            let to = world.addresses[queue * AGENTS_PER_QUEUE].clone();
            let notice = format!(
                "Ticket #{} was transferred to {}: {}",
                t.home, QUEUES[*queue].0, t.subject
            );
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "transfer_notice",
                    false,
                    SUPPORT,
                    &to,
                    &subject_re,
                    &notice,
                    None,
                ),
            );
        }
        Step::SlaWarning { agent } => {
            w.event(number, at, "guichet", "sla_warning", "first_response", None);
            // Told to the assignee; unassigned, the queue's triagers see it in their work list.
            let Some(agent) = agent else {
                return;
            };
            let to = world.addresses[*agent as usize].clone();
            let notice = format!(
                "Ticket #{} is close to its first-response deadline: {}",
                t.home, t.subject
            );
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "sla_warning",
                    false,
                    SUPPORT,
                    &to,
                    &subject_re,
                    &notice,
                    None,
                ),
            );
        }
        Step::SlaBreach => w.event(number, at, "guichet", "sla_breach", "first_response", None),
        Step::Resolve { notice } => {
            w.change(number, at, "status", Some("resolved"));
            w.event(number, at, "guichet", "command_applied", "#resolve", None);
            if *notice {
                let text = format!(
                    "Your ticket #{} is resolved:\n\n  {}\n\nIf it is not, reply to this mail and it opens again.",
                    t.home, t.subject
                );
                w.message(
                    &mut world.random,
                    &mail(
                        t,
                        at,
                        "resolution_notice",
                        false,
                        SUPPORT,
                        &t.requester,
                        &subject_re,
                        &text,
                        None,
                    ),
                );
            }
        }
        Step::Close => {
            w.change(number, at, "status", Some("closed"));
            w.event(number, at, "guichet", "command_applied", "#close", None);
        }
        Step::Solved { article } => {
            let text = "#solved\nThank you, the article answered my question.";
            let m = w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "mail",
                    true,
                    &t.requester,
                    SUPPORT,
                    &subject_re,
                    text,
                    None,
                ),
            );
            w.link
                .execute(params![article, number as i64, "solved", at])
                .unwrap();
            w.event(
                number,
                at,
                &t.requester,
                "solved_by_article",
                &article.to_string(),
                Some(m),
            );
            w.change(number, at, "status", Some("resolved"));
        }
        Step::Merge { into } => {
            w.change(number, at, "merged_into", Some(&into.to_string()));
            w.change(number, at, "status", Some("closed"));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#merge {into}"),
                None,
            );
            let text = format!("Your request #{number} continues in ticket #{into}.");
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "merge_notice",
                    false,
                    SUPPORT,
                    &t.requester,
                    &subject_re,
                    &text,
                    None,
                ),
            );
        }
    }
}

/// A step waiting for its time, earliest first in the heap.
struct Pending {
    at: i64,
    order: u64,
    ticket: u64,
    step: Step,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

fn build(path: &Path, root: &Path, tickets: u64) -> Counts {
    let words = words_by_language(root);
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    // The schema through the library's migrations, and the articles through its own writes.
    {
        let mut store = Store::open(path).expect("store");
        let tx = store.write().expect("write");
        for n in 0..ARTICLES {
            let language = LANGUAGES[n % LANGUAGES.len()].0;
            let vocabulary = &words[language];
            let length = 60 + random.skewed(140);
            let text = ArticleText {
                slug: format!("generated-{n}-{language}"),
                title: sentence(&mut random, vocabulary, 6),
                body: sentence(&mut random, vocabulary, length),
                language: language.to_string(),
                tags: vec![],
                queue: None,
                visibility: ArticleVisibility::Public,
            };
            tx.save_article(
                &text,
                ArticleState::Published,
                "bench",
                "generated",
                END - DAYS * DAY,
            )
            .expect("save");
        }
        tx.commit().expect("commit");
    }
    let mut conn = Connection::open(path).expect("open");
    conn.pragma_update(None, "foreign_keys", "on").unwrap();
    conn.pragma_update(None, "synchronous", "off").unwrap();
    conn.pragma_update(None, "cache_size", -1_000_000).unwrap();
    conn.query_row("PRAGMA journal_mode = off", [], |_| Ok(()))
        .unwrap();
    let agent_list = agents();
    let mut world = World {
        random,
        vocabulary: LANGUAGES
            .iter()
            .map(|(l, _)| words[*l].as_slice())
            .collect(),
        agents: agent_list.iter().map(|a| a.0.clone()).collect(),
        addresses: agent_list.iter().map(|a| agent_address(&a.0)).collect(),
    };
    let start = END - DAYS * DAY;
    let hours = DAYS * 24;
    let total: f64 = (0..hours).map(|h| arrival_weight(start + h * HOUR)).sum();
    let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut live: HashMap<u64, Ticket> = HashMap::new();
    let mut recent: HashMap<u64, (u64, i64)> = HashMap::new();
    let mut order = 0u64;
    let mut number = 0u64;
    let mut cumulative = 0.0;
    let started = Instant::now();
    let mut tx = conn.transaction().unwrap();
    let mut writer = Writer::new(&tx);
    for hour in 0..hours {
        let hour_start = start + hour * HOUR;
        cumulative += arrival_weight(hour_start);
        let due = ((tickets as f64) * cumulative / total).round() as u64;
        let count = due.saturating_sub(number);
        for i in 0..count {
            let slot = HOUR / count as i64;
            let created =
                hour_start + i as i64 * slot + below(&mut world.random, slot.max(1) as u64) as i64;
            drain(&mut heap, &mut live, &mut writer, &mut world, created);
            number += 1;
            let random = &mut world.random;
            let language = pick(random, &LANGUAGES);
            let queue = pick(random, &QUEUES);
            let person = random.skewed(REQUESTERS as usize) as u64;
            let domain = format!("d{}.example", (person as f64).sqrt() as usize % DOMAINS);
            let requester = format!("user{person}@{domain}");
            let merge_into = recent
                .get(&person)
                .filter(|(_, at)| created - at < 14 * DAY)
                .map(|(n, _)| *n)
                .filter(|_| chance(random, 0.04));
            let plan = plan(random, created, queue, merge_into, world.agents.len());
            let end = final_state(created, &plan, queue);
            let length = 3 + below(random, 6) as usize;
            let subject = sentence(random, world.vocabulary[language], length);
            let resolution = end.resolution.then(|| world.text(language, 8, 30));
            let assignee = end.assignee.map(|a| world.agents[a as usize].clone());
            writer
                .ticket
                .execute(params![
                    number as i64,
                    subject,
                    requester,
                    format!("User {person}"),
                    end.status,
                    end.priority,
                    end.level,
                    QUEUES[end.queue].0,
                    assignee,
                    LANGUAGES[language].0,
                    end.merged_into.map(|n| n as i64),
                    created,
                    end.updated_at,
                    resolution,
                    end.first_response_due,
                    end.next_response_due,
                    end.resolution_due,
                    end.sla_paused_at,
                    end.awaiting_since
                ])
                .unwrap();
            let random = &mut world.random;
            let first_assignee = plan.assignee.map(|a| world.agents[a as usize].as_str());
            let level = "1";
            for (field, value) in [
                (
                    "status",
                    Some(if plan.status == "spam" { "spam" } else { "new" }),
                ),
                ("level", Some(level)),
                ("priority", Some(plan.priority)),
                ("queue", Some(QUEUES[queue].0)),
                ("assignee", first_assignee),
            ] {
                writer.change(number, created, field, value);
            }
            writer
                .participant
                .execute(params![number as i64, requester, "requester", created])
                .unwrap();
            if chance(random, 0.08) {
                let colleague = format!("user{}@{domain}", below(random, REQUESTERS));
                writer
                    .participant
                    .execute(params![number as i64, colleague, "cc", created])
                    .unwrap();
            }
            if chance(random, 0.75) {
                let site = if chance(random, 0.8) {
                    SITES[(person as usize) % SITES.len()]
                } else {
                    SITES[below(random, SITES.len() as u64) as usize]
                };
                writer
                    .field
                    .execute(params![number as i64, "site", site])
                    .unwrap();
                writer.event(
                    number,
                    created,
                    "guichet",
                    "field_set",
                    &format!("site={site}"),
                    None,
                );
            }
            if chance(random, 0.3) {
                let tag = TAGS[random.skewed(TAGS.len())];
                writer.tag.execute(params![number as i64, tag]).unwrap();
            }
            if let Some(assignee) = first_assignee {
                writer.event(number, created, "guichet", "assigned", assignee, None);
            }
            if let Some(resolution) = &resolution {
                let language = LANGUAGES[language].0;
                writer
                    .kb_ticket
                    .execute(params![
                        number as i64,
                        indexed_terms(language, &terms(&subject, language)),
                        indexed_terms(language, &terms(resolution, language))
                    ])
                    .unwrap();
            }
            if end.merged_into.is_none() && plan.status != "spam" {
                recent.insert(person, (number, created));
            }
            let steps: Vec<(i64, Step)> =
                plan.steps.into_iter().filter(|(at, _)| *at < END).collect();
            live.insert(
                number,
                Ticket {
                    requester,
                    domain,
                    language,
                    subject,
                    home: end.merged_into.unwrap_or(number),
                    queue,
                    steps_left: steps.len(),
                },
            );
            for (at, step) in steps {
                order += 1;
                heap.push(Reverse(Pending {
                    at,
                    order,
                    ticket: number,
                    step,
                }));
            }
            if number.is_multiple_of(50_000) {
                let counts = std::mem::take(&mut writer.counts);
                drop(writer);
                tx.commit().unwrap();
                println!(
                    "  {number} tickets, {} messages, {:.0} s",
                    counts.messages,
                    started.elapsed().as_secs_f64()
                );
                tx = conn.transaction().unwrap();
                writer = Writer::new(&tx);
                writer.counts = counts;
            }
        }
    }
    drain(&mut heap, &mut live, &mut writer, &mut world, END - 1);
    let counts = std::mem::take(&mut writer.counts);
    drop(writer);
    tx.commit().unwrap();
    conn.query_row("PRAGMA journal_mode = wal", [], |_| Ok(()))
        .unwrap();
    counts
}

/// Writes every pending step due at or before `until`, in order of time.
fn drain(
    heap: &mut BinaryHeap<Reverse<Pending>>,
    live: &mut HashMap<u64, Ticket>,
    writer: &mut Writer<'_>,
    world: &mut World<'_>,
    until: i64,
) {
    while heap.peek().is_some_and(|p| p.0.at <= until) {
        let Reverse(p) = heap.pop().unwrap();
        let ticket = live.get_mut(&p.ticket).expect("live ticket");
        ticket.steps_left -= 1;
        let done = ticket.steps_left == 0;
        emit(writer, world, p.ticket, ticket, p.at, &p.step);
        if done {
            live.remove(&p.ticket);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn mail<'a>(
    t: &Ticket,
    at: i64,
    kind: &'a str,
    inbound: bool,
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    notify: Option<&'a str>,
) -> Mail<'a> {
    Mail {
        ticket: t.home,
        inbound,
        internal: false,
        kind,
        from,
        to,
        subject,
        text,
        at,
        notify,
    }
}

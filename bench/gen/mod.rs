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
use rusqlite::{params, Connection};

mod plan;
pub mod words;
mod write;

use plan::{arrival_weight, below, chance, final_state, pick, plan, Step};
use words::{sentence, words_by_language, Random};
use write::{emit, Counts, Ticket, World, Writer, TAGS};

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

//! The digest by mail: which period a `[[report]]` owes (`due`), and its text (`digest_mail`).
//!
//! **Which period is due.** A digest's send time is `at` in its time zone, every day (daily) or
//! every `day` (weekly). Its period ends at a send time and starts at the one before (a day or
//! seven days earlier, so 23 or 25 hours across a clock change). The period due at `now` is the
//! latest one whose end has passed, unless a period starting there or later was already sent:
//! after downtime only the latest missed period is sent, once; a restart right after sending
//! sends nothing. **First start:** with nothing sent yet, the latest complete period is sent at
//! once (a digest configured at 10:00 with `at = "08:00"` sends this morning's digest then), so
//! that a new `[[report]]` shows its first mail without waiting a day or a week.
//! A local send time the clocks skip is the first local time after the gap; one they repeat is
//! the first of the two.

use std::collections::BTreeMap;

use crate::core::zone::Zone;
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};

use super::{Change, Dimension, Figures, Period, Report, TicketHistory, Times};
use crate::core::address::Mailbox;
use crate::core::calendar::resolve;
use crate::core::language::Language;
use crate::core::outgoing::{OutgoingKind, OutgoingMail};
use crate::core::templates::{TemplateKind, TemplateSet};
use crate::core::ticket::TicketNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly(Weekday),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub frequency: Frequency,
    pub at: NaiveTime,
    pub time_zone: Zone,
}

/// One `[[report]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    pub name: String,
    pub to: Vec<Mailbox>,
    pub schedule: Schedule,
    /// Queues in scope; empty: every queue.
    pub queues: Vec<String>,
    pub language: Language,
    /// The per-group table's grouping, if any.
    pub by: Option<Dimension>,
}

impl Schedule {
    fn step(&self) -> i64 {
        match self.frequency {
            Frequency::Daily => 1,
            Frequency::Weekly(_) => 7,
        }
    }

    fn send_time(&self, date: NaiveDate) -> i64 {
        resolve(&self.time_zone, date.and_time(self.at))
    }

    /// The latest send time at or before `now`.
    pub fn latest_send(&self, now: i64) -> i64 {
        let today = self
            .time_zone
            .timestamp_opt(now, 0)
            .earliest()
            .map_or_else(|| NaiveDate::MIN, |t| t.date_naive());
        // Today and the days before it, back past one whole week.
        (0..=8)
            .map(|back| today - Duration::days(back))
            .filter(|date| match self.frequency {
                Frequency::Daily => true,
                Frequency::Weekly(day) => date.weekday() == day,
            })
            .map(|date| self.send_time(date))
            .find(|&send| send <= now)
            .unwrap_or(i64::MIN)
    }

    /// The complete period that ends at the latest send time at or before `now`.
    pub fn latest_period(&self, now: i64) -> Period {
        let to = self.latest_send(now);
        let end_date = self
            .time_zone
            .timestamp_opt(to, 0)
            .earliest()
            .map_or(NaiveDate::MIN, |t| t.date_naive());
        // A send time moved past a gap may fall on the next local day only near midnight; the
        // period's start is the same local time `step` days before.
        let from = self.send_time(end_date - Duration::days(self.step()));
        Period { from, to }
    }
}

/// The period to send at `now`, given the start of the latest period already sent; `None` when
/// nothing is owed.
pub fn due(schedule: &Schedule, last_sent_start: Option<i64>, now: i64) -> Option<Period> {
    let period = schedule.latest_period(now);
    if period.from >= period.to {
        return None;
    }
    match last_sent_start {
        Some(sent) if sent >= period.from => None,
        _ => Some(period),
    }
}

/// The queue a ticket was in just before `at` (the state a report reads at a period's end).
fn queue_before(ticket: &TicketHistory, at: i64) -> Option<&str> {
    ticket
        .changes
        .iter()
        .rev()
        .filter(|(when, _)| *when < at)
        .find_map(|(_, change)| match change {
            Change::Queue(queue) => Some(queue.as_str()),
            _ => None,
        })
}

/// The tickets in the digest's scope: those whose queue at the period's end is one of its queues.
pub fn in_scope(
    config: &DigestConfig,
    period: Period,
    tickets: Vec<TicketHistory>,
) -> Vec<TicketHistory> {
    if config.queues.is_empty() {
        return tickets;
    }
    tickets
        .into_iter()
        .filter(|t| {
            queue_before(t, period.to).is_some_and(|q| config.queues.iter().any(|s| s == q))
        })
        .collect()
}

struct Words {
    daily: &'static str,
    weekly: &'static str,
    all_queues: &'static str,
    none: &'static str,
    labels: [&'static str; 12],
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            daily: "Daily report",
            weekly: "Weekly report",
            all_queues: "all queues",
            none: "-",
            labels: [
                "Opened",
                "Resolved",
                "Reopened",
                "Answered by the knowledge base",
                "Backlog at the end",
                "Backlog age (<1d, 1-3d, 3-7d, 7-30d, >30d)",
                "Waiting on the requester",
                "First response (median / p90)",
                "Resolution (median / p90)",
                "First response target (met / missed / overdue)",
                "Resolution target (met / missed / overdue)",
                "Escalations (level 2 / 3 / vendor)",
            ],
        },
        Language::Fr => Words {
            daily: "Rapport quotidien",
            weekly: "Rapport hebdomadaire",
            all_queues: "toutes les files",
            none: "-",
            labels: [
                "Ouverts",
                "Résolus",
                "Rouverts",
                "Résolus par la base de connaissances",
                "En attente à la fin",
                "Âge du stock (<1j, 1-3j, 3-7j, 7-30j, >30j)",
                "En attente du demandeur",
                "Première réponse (médiane / p90)",
                "Résolution (médiane / p90)",
                "Objectif de première réponse (tenu / manqué / en retard)",
                "Objectif de résolution (tenu / manqué / en retard)",
                "Escalades (niveau 2 / 3 / fournisseur)",
            ],
        },
        Language::It => Words {
            daily: "Rapporto giornaliero",
            weekly: "Rapporto settimanale",
            all_queues: "tutte le code",
            none: "-",
            labels: [
                "Aperti",
                "Risolti",
                "Riaperti",
                "Risolti dalla base di conoscenza",
                "Arretrato alla fine",
                "Età dell'arretrato (<1g, 1-3g, 3-7g, 7-30g, >30g)",
                "In attesa del richiedente",
                "Prima risposta (mediana / p90)",
                "Risoluzione (mediana / p90)",
                "Obiettivo di prima risposta (rispettato / mancato / in ritardo)",
                "Obiettivo di risoluzione (rispettato / mancato / in ritardo)",
                "Escalation (livello 2 / 3 / fornitore)",
            ],
        },
    }
}

/// A time figure as `guichet report` writes it, `none` when there is none.
fn duration(seconds: Option<i64>, none: &str) -> String {
    seconds.map_or_else(|| none.into(), super::short_duration)
}

fn values(f: &Figures, none: &str) -> [String; 12] {
    let times = |t: &Times| format!("{} / {}", duration(t.median, none), duration(t.p90, none));
    let age = &f.backlog_age;
    [
        f.opened.to_string(),
        f.resolved.to_string(),
        f.reopened.to_string(),
        f.solved_by_knowledge.to_string(),
        f.backlog.to_string(),
        format!(
            "{} / {} / {} / {} / {}",
            age.under_1d, age.from_1d_to_3d, age.from_3d_to_7d, age.from_7d_to_30d, age.over_30d
        ),
        f.waiting_on_requester.to_string(),
        times(&f.first_response),
        times(&f.resolution),
        format!(
            "{} / {} / {}",
            f.first_response_sla.met, f.first_response_sla.missed, f.first_response_sla.overdue
        ),
        format!(
            "{} / {} / {}",
            f.resolution_sla.met, f.resolution_sla.missed, f.resolution_sla.overdue
        ),
        format!(
            "{} / {} / {}",
            f.escalations.to_level_2, f.escalations.to_level_3, f.escalations.to_vendor
        ),
    ]
}

/// The figures as `label: value` lines.
fn figures_text(f: &Figures, w: &Words) -> String {
    let width = w
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    w.labels
        .iter()
        .zip(values(f, w.none))
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

/// One line per group: its name, then its figures in the order of the labels.
fn groups_text(report: &Report, w: &Words) -> String {
    if report.groups.is_empty() {
        return String::new();
    }
    let mut out = format!("{}\n", report.by);
    for group in &report.groups {
        out.push_str(&format!("\n{}\n", group.key));
        for line in figures_text(&group.figures, w).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

fn local(time_zone: &Zone, at: i64, format: &str) -> String {
    // chrono writes a zone's offset for %Z; the digest says CET or CEST as people read it.
    let abbreviation = time_zone.abbreviation(at).replace('%', "%%");
    let format = format.replace("%Z", &abbreviation);
    time_zone
        .timestamp_opt(at, 0)
        .earliest()
        .map_or_else(|| at.to_string(), |t| t.format(&format).to_string())
}

/// The digest for `period` as an automatic notice from the support address to the recipients.
pub fn digest_mail(
    config: &DigestConfig,
    report: &Report,
    support: &Mailbox,
    tag_prefix: &str,
    templates: &TemplateSet,
) -> OutgoingMail {
    let w = words(config.language);
    let tz = &config.schedule.time_zone;
    let period = report.period;
    let title = match config.schedule.frequency {
        Frequency::Daily => w.daily,
        Frequency::Weekly(_) => w.weekly,
    };
    let scope = if config.queues.is_empty() {
        w.all_queues.to_string()
    } else {
        config.queues.join(", ")
    };
    let values: BTreeMap<&str, String> = [
        ("tag", format!("[{tag_prefix}]")),
        ("title", title.to_string()),
        ("date", local(tz, period.from, "%Y-%m-%d")),
        ("from", local(tz, period.from, "%Y-%m-%d %H:%M")),
        ("to", local(tz, period.to, "%Y-%m-%d %H:%M %Z")),
        ("scope", scope),
        ("name", config.name.clone()),
        ("figures", figures_text(&report.total, &w)),
        (
            "groups",
            if config.by.is_some() {
                groups_text(report, &w)
            } else {
                String::new()
            },
        ),
    ]
    .into_iter()
    .collect();
    let rendered = templates
        .get(TemplateKind::Digest, config.language)
        .render(&values);
    let seed = format!("{}.{}", slug(&config.name), period.from);
    let mut mail = OutgoingMail::from_support(
        support,
        OutgoingKind::Digest,
        TicketNumber(0),
        config.to.clone(),
        rendered,
        &seed,
        config.language,
    );
    mail.ticket = None;
    mail.message_id = format!("guichet.digest.{seed}@{}", support.domain());
    mail
}

/// A report name as Message-ID text: ASCII letters, digits and `-`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

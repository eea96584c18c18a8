//! The pages: each a function from the store and the config to HTML, callable without a server
//! (a benchmark renders them for a given store). Templates escape every value; only the charts,
//! which escape their own text (`charts`), are inserted as they are.

use chrono::TimeZone;
use minijinja::{context, Environment, Value};
use serde::Serialize;

use super::charts;
use super::WebError;
use crate::adapters::store::{Store, WorkRow};
use crate::config::Config;
use crate::core::report::series::{self, TIME_BUCKETS};
use crate::core::report::{self, short_duration, Dimension, Period, ReportInput, DAY};
use crate::core::ticket::TicketNumber;
use crate::core::zone::Zone;

/// Tickets per page of the work list.
pub const PAGE_SIZE: usize = 50;

const TEMPLATES: [(&str, &str); 13] = [
    ("base.html", include_str!("templates/base.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("notice.html", include_str!("templates/notice.html")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("work.html", include_str!("templates/work.html")),
    ("ticket.html", include_str!("templates/ticket.html")),
    ("reports.html", include_str!("templates/reports.html")),
    ("not_found.html", include_str!("templates/not_found.html")),
    (
        "request_base.html",
        include_str!("templates/request_base.html"),
    ),
    ("request.html", include_str!("templates/request.html")),
    (
        "request_notice.html",
        include_str!("templates/request_notice.html"),
    ),
    ("new.html", include_str!("templates/new.html")),
    (
        "new_confirm.html",
        include_str!("templates/new_confirm.html"),
    ),
];

pub const STYLESHEET: &str = include_str!("templates/style.css");

/// The parsed templates and what every page needs to build its links.
pub struct Pages {
    env: Environment<'static>,
    base: String,
    zone: Zone,
}

/// The work list's filters and page, as the query string gives them (empty means any).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct WorkFilter {
    pub queue: Option<String>,
    pub level: Option<String>,
    pub agent: Option<String>,
    pub page: Option<String>,
}

impl WorkFilter {
    fn get(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    fn level(&self) -> Option<u8> {
        Self::get(&self.level)
            .and_then(|l| l.parse().ok())
            .filter(|l| (1..=4).contains(l))
    }

    fn page(&self) -> usize {
        Self::get(&self.page)
            .and_then(|p| p.parse().ok())
            .unwrap_or(1usize)
            .max(1)
    }

    /// The query string for this filter on another page.
    fn query(&self, page: usize) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("queue", Self::get(&self.queue)),
            ("level", Self::get(&self.level)),
            ("agent", Self::get(&self.agent)),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name}={}", percent_encode(value)));
            }
        }
        parts.push(format!("page={page}"));
        parts.join("&")
    }
}

/// The reports page's period: `last` (`7d`, `30d`, `90d`) or `from`/`to` local dates.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PeriodQuery {
    pub last: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
struct WorkLine {
    number: u64,
    subject: String,
    status: String,
    priority: String,
    level: u8,
    queue: String,
    assignee: String,
    requester: String,
    deadline: String,
    late: bool,
    urgency: i64,
}

#[derive(Serialize)]
struct Option_ {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct Card {
    label: &'static str,
    value: String,
    note: String,
}

impl Pages {
    pub fn new(base_path: &str, zone: Zone) -> Pages {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("shipped template {name}: {e}"));
        }
        Pages {
            env,
            base: base_path.to_string(),
            zone,
        }
    }

    pub(super) fn render(
        &self,
        name: &str,
        viewer: Option<&str>,
        values: Value,
    ) -> Result<String, WebError> {
        // The base path is checked at load (letters, digits, `/-_.~`): nothing to escape, and
        // left as it is so links read plainly.
        let base = Value::from_safe_string(self.base.clone());
        let page = context! { base => base, viewer => viewer, ..values };
        Ok(self.env.get_template(name)?.render(page)?)
    }

    pub(super) fn time(&self, at: i64) -> String {
        self.zone.timestamp_opt(at, 0).single().map_or_else(
            || at.to_string(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        )
    }

    pub fn sign_in(&self, error: Option<&str>) -> Result<String, WebError> {
        self.render("sign_in.html", None, context! { error => error })
    }

    /// A page that only says something: "check your mail", "this link expired".
    pub fn notice(
        &self,
        title: &str,
        text: &str,
        viewer: Option<&str>,
    ) -> Result<String, WebError> {
        self.render(
            "notice.html",
            viewer,
            context! { title => title, text => text },
        )
    }

    pub fn confirm(&self, token: &str) -> Result<String, WebError> {
        self.render("confirm.html", None, context! { token => token })
    }

    pub fn not_found(&self, viewer: Option<&str>) -> Result<String, WebError> {
        self.render("not_found.html", viewer, context! {})
    }

    /// The work list as `guichet queue` orders it, filtered and paged.
    pub fn work_list(
        &self,
        store: &Store,
        config: &Config,
        filter: &WorkFilter,
        now: i64,
        viewer: &str,
    ) -> Result<String, WebError> {
        let queue = WorkFilter::get(&filter.queue);
        let agent = WorkFilter::get(&filter.agent);
        let reader = store.read();
        let mut ranks = reader.work_ranking(queue, filter.level(), &config.intake.sla, now)?;
        if let Some(agent) = agent {
            ranks.retain(|rank| match agent {
                "-" => rank.assignee.is_none(),
                name => rank.assignee.as_deref() == Some(name),
            });
        }
        let total = ranks.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = filter.page().min(pages);
        let shown = ranks
            .into_iter()
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .collect();
        let lines: Vec<WorkLine> = reader
            .work_rows(shown)?
            .into_iter()
            .map(|row| self.work_line(row, now))
            .collect();
        let mut queues: Vec<String> = config
            .intake
            .directory
            .queues
            .iter()
            .map(|q| q.name.clone())
            .collect();
        if !queues.contains(&config.intake.default_queue) {
            queues.insert(0, config.intake.default_queue.clone());
        }
        let choices = |values: Vec<(String, String)>, current: Option<&str>| -> Vec<Option_> {
            values
                .into_iter()
                .map(|(value, label)| Option_ {
                    selected: current == Some(value.as_str()),
                    value,
                    label,
                })
                .collect()
        };
        let queue_options = choices(queues.into_iter().map(|q| (q.clone(), q)).collect(), queue);
        let level = filter.level().map(|l| l.to_string());
        let level_options = choices(
            (1..=4).map(|l| (l.to_string(), format!("L{l}"))).collect(),
            level.as_deref(),
        );
        let mut agents: Vec<(String, String)> = vec![("-".into(), "(unassigned)".into())];
        agents.extend(
            config
                .intake
                .directory
                .agents
                .iter()
                .map(|a| (a.name.clone(), a.display_name.clone())),
        );
        let agent_options = choices(agents, agent);
        self.render(
            "work.html",
            Some(viewer),
            context! {
                section => "work",
                lines => lines,
                total => total,
                page => page,
                pages => pages,
                previous => (page > 1).then(|| filter.query(page - 1)),
                next => (page < pages).then(|| filter.query(page + 1)),
                queue_options => queue_options,
                level_options => level_options,
                agent_options => agent_options,
                filtered => queue.is_some() || level.is_some() || agent.is_some(),
            },
        )
    }

    fn work_line(&self, row: WorkRow, now: i64) -> WorkLine {
        let (deadline, late) = match (row.sla.next_due(), row.sla.paused_at) {
            (_, Some(_)) => ("paused (waiting)".to_string(), false),
            (Some((_, due)), None) => (self.time(due), due <= now),
            (None, None) => ("–".to_string(), false),
        };
        WorkLine {
            number: row.number,
            subject: row.subject,
            status: row.status,
            priority: row.priority,
            level: row.level,
            queue: row.queue,
            assignee: row.assignee.unwrap_or_else(|| "–".into()),
            requester: row.requester,
            deadline,
            late,
            urgency: row.urgency,
        }
    }

    /// A ticket's whole history, public and internal; `None` when there is no such ticket.
    pub fn ticket(
        &self,
        store: &Store,
        number: u64,
        viewer: &str,
    ) -> Result<Option<String>, WebError> {
        let Some(detail) = store.read().ticket(TicketNumber(number))? else {
            return Ok(None);
        };
        #[derive(Serialize)]
        struct Message {
            id: i64,
            incoming: bool,
            visibility: &'static str,
            badge: &'static str,
            who: String,
            kind: String,
            at: String,
            subject: String,
            text: String,
            delivery: Option<String>,
            attachments: Vec<String>,
        }
        let messages: Vec<Message> = detail
            .messages
            .iter()
            .map(|m| {
                let incoming = m.direction == "in";
                let (visibility, badge) = match m.visibility.as_str() {
                    "public" => ("public", "Public"),
                    "stranger" => ("internal", "Internal · stranger"),
                    _ => ("internal", "Internal note"),
                };
                Message {
                    id: m.id,
                    incoming,
                    visibility,
                    badge,
                    who: if incoming {
                        format!("From {}", m.from.as_deref().unwrap_or("(unknown)"))
                    } else {
                        format!("To {}", m.to.join(", "))
                    },
                    kind: m.kind.replace('_', " "),
                    at: self.time(m.created_at),
                    subject: m.subject.clone(),
                    text: m.text.clone(),
                    delivery: m.delivery.clone(),
                    attachments: m
                        .attachments
                        .iter()
                        .map(|a| format!("{} ({}, {} bytes)", a.filename, a.content_type, a.size))
                        .collect(),
                }
            })
            .collect();
        let events: Vec<Value> = detail
            .events
            .iter()
            .map(|e| {
                context! { at => self.time(e.at), kind => e.kind.replace('_', " "), actor => e.actor, detail => e.detail }
            })
            .collect();
        let t = &detail.ticket;
        let facts: Vec<(&str, String)> = vec![
            ("Status", t.status.clone()),
            ("Priority", t.priority.clone()),
            ("Level", format!("L{}", t.level)),
            ("Queue", t.queue.clone()),
            ("Assignee", t.assignee.clone().unwrap_or_else(|| "–".into())),
            (
                "Requester",
                match &t.requester_name {
                    Some(name) => format!("{name} <{}>", t.requester),
                    None => t.requester.clone(),
                },
            ),
            ("Opened", self.time(t.created_at)),
            ("Updated", self.time(t.updated_at)),
        ];
        let participants: Vec<String> = detail
            .participants
            .iter()
            .map(|p| match &p.name {
                Some(name) => format!("{name} <{}> · {}", p.address, p.role),
                None => format!("{} · {}", p.address, p.role),
            })
            .collect();
        let internal = messages
            .iter()
            .filter(|m| m.visibility == "internal")
            .count();
        self.render(
            "ticket.html",
            Some(viewer),
            context! {
                section => "work",
                number => t.number,
                subject => t.subject,
                merged_into => t.merged_into,
                facts => facts,
                tags => detail.tags,
                fields => detail.fields,
                participants => participants,
                messages => messages,
                internal => internal,
                events => events,
            },
        )
        .map(Some)
    }

    /// The period the query asks for, or why not.
    pub fn period(&self, query: &PeriodQuery, now: i64) -> Result<(Period, String), String> {
        let date = |text: &str, key: &str| {
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map_err(|_| format!("{key}: `{text}` is not a date like 2026-11-23"))
        };
        let midnight = |date: chrono::NaiveDate| {
            date.and_hms_opt(0, 0, 0)
                .and_then(|t| self.zone.from_local_datetime(&t).earliest())
                .map(|t| t.timestamp())
                .ok_or_else(|| format!("{date} has no midnight in {}", self.zone))
        };
        let from = query.from.as_deref().filter(|t| !t.trim().is_empty());
        let to = query.to.as_deref().filter(|t| !t.trim().is_empty());
        match (from, to) {
            (Some(from), Some(to)) => {
                let (from, to) = (date(from, "from")?, date(to, "to")?);
                let next = to.succ_opt().ok_or("to: out of range")?;
                let period = Period {
                    from: midnight(from)?,
                    to: midnight(next)?,
                };
                if period.from >= period.to {
                    return Err("from must be on or before to".into());
                }
                if period.to - period.from > 3 * 366 * DAY {
                    return Err("choose a period of at most three years".into());
                }
                Ok((period, format!("{from} to {to}")))
            }
            (Some(_), None) | (None, Some(_)) => Err("give both from and to".into()),
            (None, None) => {
                let days = match query.last.as_deref().unwrap_or("30d") {
                    "7d" => 7,
                    "30d" => 30,
                    "90d" => 90,
                    "365d" => 365,
                    other => {
                        return Err(format!("last: `{other}` is not one of 7d, 30d, 90d, 365d"))
                    }
                };
                Ok((
                    Period {
                        from: now - days * DAY,
                        to: now,
                    },
                    format!("last {days} days"),
                ))
            }
        }
    }

    /// The reports page: the report's figures for the period and its charts.
    pub fn reports(
        &self,
        store: &Store,
        config: &Config,
        query: &PeriodQuery,
        now: i64,
        viewer: &str,
    ) -> Result<String, WebError> {
        let (period, title) = match self.period(query, now) {
            Ok(period) => period,
            Err(error) => {
                return self.render(
                    "reports.html",
                    Some(viewer),
                    context! { section => "reports", error => error, query => self.query_values(query) },
                )
            }
        };
        let mut tickets = store.read().report_histories(period)?;
        report::name_answers(&mut tickets, &config.intake.directory);
        let input = ReportInput {
            period,
            by: &Dimension::Queue,
            sla: &config.intake.sla,
            tickets: &tickets,
        };
        let figures = report::report(&input);
        let samples = series::time_samples(&input);
        let instants = series::day_ends(period.from, period.to, &self.zone);
        let backlog = series::backlog_at(&tickets, &instants);
        let volume = series::volume(&tickets, period.from, period.to, &self.zone);
        let day_label = |at: i64| {
            self.zone
                .timestamp_opt(at - 1, 0)
                .single()
                .map_or_else(String::new, |t| t.format("%m-%d").to_string())
        };
        let buckets = |samples: &[i64]| -> Vec<(String, u64)> {
            TIME_BUCKETS
                .iter()
                .zip(series::distribution(samples))
                .map(|((_, label), count)| (label.to_string(), count))
                .collect()
        };
        let compliance =
            |pick: fn(&report::Figures) -> &report::SlaFigures| -> Vec<(String, u64, u64)> {
                figures
                    .groups
                    .iter()
                    .map(|g| (g.key.clone(), pick(&g.figures).met, pick(&g.figures).missed))
                    .filter(|(_, met, missed)| met + missed > 0)
                    .collect()
            };
        let charts = context! {
            backlog => Value::from_safe_string(charts::line_chart(
                "Backlog at the end of each day",
                &instants.iter().map(|at| day_label(*at)).zip(backlog).collect::<Vec<_>>(),
            )),
            first_response => Value::from_safe_string(charts::bar_chart(
                "First response times",
                &buckets(&samples.first_response),
            )),
            resolution => Value::from_safe_string(charts::bar_chart(
                "Resolution times",
                &buckets(&samples.resolution),
            )),
            first_response_sla => Value::from_safe_string(charts::compliance_chart(
                "First response SLA by queue",
                &compliance(|f| &f.first_response_sla),
            )),
            resolution_sla => Value::from_safe_string(charts::compliance_chart(
                "Resolution SLA by queue",
                &compliance(|f| &f.resolution_sla),
            )),
            by_hour => Value::from_safe_string(charts::bar_chart(
                "Tickets opened by hour of day",
                &(0..24).map(|h| (format!("{h:02}"), volume.by_hour[h])).collect::<Vec<_>>(),
            )),
            by_weekday => Value::from_safe_string(charts::bar_chart(
                "Tickets opened by weekday",
                &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                    .iter()
                    .zip(volume.by_weekday)
                    .map(|(d, n)| (d.to_string(), n))
                    .collect::<Vec<_>>(),
            )),
        };
        let t = &figures.total;
        let duration = |value: Option<i64>| value.map_or_else(|| "–".to_string(), short_duration);
        let cards = vec![
            Card {
                label: "Opened",
                value: t.opened.to_string(),
                note: format!("{} merged", t.merged),
            },
            Card {
                label: "Resolved",
                value: t.resolved.to_string(),
                note: format!("{} reopened", t.reopened),
            },
            Card {
                label: "Backlog",
                value: t.backlog.to_string(),
                note: format!("{} waiting on requester", t.waiting_on_requester),
            },
            Card {
                label: "First response",
                value: duration(t.first_response.median),
                note: format!("median · p90 {}", duration(t.first_response.p90)),
            },
            Card {
                label: "Resolution",
                value: duration(t.resolution.median),
                note: format!("median · p90 {}", duration(t.resolution.p90)),
            },
            Card {
                label: "SLA missed",
                value: (t.first_response_sla.missed + t.resolution_sla.missed).to_string(),
                note: format!(
                    "{} met · {} overdue",
                    t.first_response_sla.met + t.resolution_sla.met,
                    t.first_response_sla.overdue + t.resolution_sla.overdue
                ),
            },
        ];
        let groups: Vec<Value> = figures
            .groups
            .iter()
            .map(|g| {
                let f = &g.figures;
                context! {
                    key => g.key, opened => f.opened, resolved => f.resolved, backlog => f.backlog,
                    first_response => duration(f.first_response.median),
                    resolution => duration(f.resolution.median),
                    escalations => f.escalations.to_level_2 + f.escalations.to_level_3 + f.escalations.to_vendor,
                    solved_by_knowledge => f.solved_by_knowledge,
                }
            })
            .collect();
        self.render(
            "reports.html",
            Some(viewer),
            context! {
                section => "reports",
                title => title,
                from => self.time(period.from),
                to => self.time(period.to),
                zone => self.zone.name(),
                cards => cards,
                charts => charts,
                groups => groups,
                agents => figures.agents,
                query => self.query_values(query),
            },
        )
    }

    fn query_values(&self, query: &PeriodQuery) -> Value {
        context! {
            from => query.from.clone().unwrap_or_default(),
            to => query.to.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;

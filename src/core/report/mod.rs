//! Service figures for a period, defined once: what `guichet report` prints (and later the digest
//! and the dashboard). Pure: the store hands in each ticket's history, the caller the period.
//!
//! Definitions (also in the README, "Reports"):
//! - **Period**: `[from, to)`, Unix seconds. A ticket's state "at the end" is its state after
//!   every change before `to`.
//! - **Opened**: created in the period. **Merged**: merged into another ticket in the period. A
//!   ticket merged before the end counts only in `opened` and `merged`; its mail lives on in the
//!   ticket it joined, and it is left out of every other figure (times, backlog, SLA, resolved).
//! - **Resolved**: done (resolved or closed) at the end, its last resolution in the period. A
//!   **resolution** is a change from a status that is not done to resolved or closed; a
//!   **reopen** the change back. `reopened` counts tickets reopened at least once in the period.
//! - **Resolution time**: from creation to the *last* resolution (so a reopen makes the clock run
//!   on from creation, it does not restart at zero), less the time the ticket waited on the
//!   requester (status `waiting`), as the SLA counts it; only for tickets resolved in the period.
//! - **First response**: the first public mail a person wrote to the requester: a relay of an
//!   agent's answer (including `#answer` and `#reply`). Acknowledgements, notices and command
//!   replies are not responses. First response time: creation to that mail, for tickets whose
//!   first response is in the period; a ticket never answered has none (it is in the backlog).
//! - **Clock**: the clock of the SLA plan matching the ticket's queue and priority at the end
//!   (business hours when that plan has a calendar), else wall-clock seconds.
//! - **Median and p90**: nearest rank: the value at rank `ceil(p/100 × n)` of the sorted values.
//! - **Answered by the knowledge base**: the requester said `#solved` about an offered article in
//!   the period (the knowledge base's `solved` link).
//! - **Backlog**: created before the end, not done, not merged, not held as spam at the end; its
//!   age is wall-clock time from creation to the end: `<1d`, `1–3d`, `3–7d`, `7–30d`, `>30d`
//!   (lower bounds included). **Waiting on the requester**: backlog tickets in `waiting`.
//! - **SLA met / missed**: decided when the target is: a first response (or resolution) in the
//!   period within the plan's target is met, later is missed. **Overdue**: backlog tickets at
//!   the end without that event whose clock already passed the target.
//! - **Escalations**: changes of level upwards in the period, by the level reached; level 4 is the
//!   vendor.
//! - **Per agent**: answers sent = the agent's answers relayed in the period (one per mail the
//!   agent wrote, however many copies went out); tickets handled = tickets with at least one of
//!   them; open load = backlog tickets assigned to the agent at the end.
//! - Tickets still held as spam at the end are left out of everything.

use std::collections::{BTreeMap, BTreeSet};

use super::calendar::SlaClock;
use super::sla::SlaPolicy;
use super::ticket::{Level, Priority, Status};

pub mod digest;
#[cfg(test)]
mod digest_tests;
pub mod series;
#[cfg(test)]
mod tests;

pub const DAY: i64 = 86_400;

/// What a report groups tickets by, read on each ticket's state at the end of the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    Queue,
    /// The assignee (`(unassigned)` without one).
    Agent,
    Level,
    Priority,
    /// The requester's address domain, lowercased.
    Domain,
    /// A custom field's value (`(none)` without one).
    Field(String),
}

impl Dimension {
    pub fn parse(text: &str) -> Result<Dimension, String> {
        Ok(match text {
            "queue" => Dimension::Queue,
            "agent" => Dimension::Agent,
            "level" => Dimension::Level,
            "priority" => Dimension::Priority,
            "domain" => Dimension::Domain,
            _ => match text.strip_prefix("field:") {
                Some(name) if !name.is_empty() => Dimension::Field(name.to_string()),
                _ => {
                    return Err(format!(
                        "`{text}` is not a grouping: use queue, agent, level, priority, domain or field:NAME"
                    ))
                }
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Dimension::Queue => "queue".into(),
            Dimension::Agent => "agent".into(),
            Dimension::Level => "level".into(),
            Dimension::Priority => "priority".into(),
            Dimension::Domain => "domain".into(),
            Dimension::Field(name) => format!("field:{name}"),
        }
    }
}

/// One recorded change of a ticket. The changes at its creation give its first state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Status(Status),
    Level(Level),
    Priority(Priority),
    Queue(String),
    Assignee(Option<String>),
    MergedInto(u64),
}

/// An agent's answer relayed to the requester: a first response candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub at: i64,
    /// The agent's name (or address when the configuration no longer knows it).
    pub agent: String,
}

/// What the store knows of one ticket, as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketHistory {
    pub number: u64,
    pub created_at: i64,
    pub requester: String,
    pub fields: BTreeMap<String, String>,
    /// In order of time (ties keep their order).
    pub changes: Vec<(i64, Change)>,
    pub answers: Vec<Answer>,
    /// When the requester's `#solved` linked an article, if ever.
    pub solved_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

impl Period {
    pub fn contains(self, at: i64) -> bool {
        self.from <= at && at < self.to
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Times {
    pub count: usize,
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgeBuckets {
    pub under_1d: u64,
    pub from_1d_to_3d: u64,
    pub from_3d_to_7d: u64,
    pub from_7d_to_30d: u64,
    pub over_30d: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SlaFigures {
    pub met: u64,
    pub missed: u64,
    pub overdue: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Escalations {
    pub to_level_2: u64,
    pub to_level_3: u64,
    /// To level 4, the external vendor.
    pub to_vendor: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    pub opened: u64,
    pub resolved: u64,
    pub reopened: u64,
    pub merged: u64,
    pub solved_by_knowledge: u64,
    pub backlog: u64,
    pub backlog_age: AgeBuckets,
    pub waiting_on_requester: u64,
    /// Seconds on the ticket's clock.
    pub first_response: Times,
    pub resolution: Times,
    pub first_response_sla: SlaFigures,
    pub resolution_sla: SlaFigures,
    pub escalations: Escalations,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub key: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentFigures {
    pub agent: String,
    pub tickets_handled: u64,
    pub answers_sent: u64,
    pub open_load: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub period: Period,
    pub by: String,
    pub total: Figures,
    pub groups: Vec<Group>,
    pub agents: Vec<AgentFigures>,
}

/// Nearest rank: the value at rank `ceil(p/100 × n)` (1-based) of the sorted values.
/// A duration as reports write it: `2d03h`, `5h20m`, `40m`, `12s`.
pub fn short_duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{seconds}s")
    }
}

pub fn nearest_rank(sorted: &[i64], percent: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(percent) * n).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

fn times(mut samples: Vec<i64>) -> Times {
    samples.sort_unstable();
    Times {
        count: samples.len(),
        median: nearest_rank(&samples, 50),
        p90: nearest_rank(&samples, 90),
    }
}

/// A ticket's state at one instant.
#[derive(Debug, Clone)]
struct State {
    status: Status,
    level: Level,
    priority: Priority,
    queue: String,
    assignee: Option<String>,
    merged_at: Option<i64>,
}

/// Everything one ticket adds to its group, before samples become medians.
#[derive(Default)]
struct Tally {
    figures: Figures,
    first_response: Vec<i64>,
    resolution: Vec<i64>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        let (f, o) = (&mut self.figures, &other.figures);
        // Named in full (no `..`): a new figure does not compile until it is summed here.
        let Figures {
            opened: _,
            resolved: _,
            reopened: _,
            merged: _,
            solved_by_knowledge: _,
            backlog: _,
            backlog_age: _,
            waiting_on_requester: _,
            first_response: _,
            resolution: _,
            first_response_sla: _,
            resolution_sla: _,
            escalations: _,
        } = o;
        for (sum, value) in [
            (&mut f.opened, o.opened),
            (&mut f.resolved, o.resolved),
            (&mut f.reopened, o.reopened),
            (&mut f.merged, o.merged),
            (&mut f.solved_by_knowledge, o.solved_by_knowledge),
            (&mut f.backlog, o.backlog),
            (&mut f.backlog_age.under_1d, o.backlog_age.under_1d),
            (
                &mut f.backlog_age.from_1d_to_3d,
                o.backlog_age.from_1d_to_3d,
            ),
            (
                &mut f.backlog_age.from_3d_to_7d,
                o.backlog_age.from_3d_to_7d,
            ),
            (
                &mut f.backlog_age.from_7d_to_30d,
                o.backlog_age.from_7d_to_30d,
            ),
            (&mut f.backlog_age.over_30d, o.backlog_age.over_30d),
            (&mut f.waiting_on_requester, o.waiting_on_requester),
            (&mut f.first_response_sla.met, o.first_response_sla.met),
            (
                &mut f.first_response_sla.missed,
                o.first_response_sla.missed,
            ),
            (
                &mut f.first_response_sla.overdue,
                o.first_response_sla.overdue,
            ),
            (&mut f.resolution_sla.met, o.resolution_sla.met),
            (&mut f.resolution_sla.missed, o.resolution_sla.missed),
            (&mut f.resolution_sla.overdue, o.resolution_sla.overdue),
            (&mut f.escalations.to_level_2, o.escalations.to_level_2),
            (&mut f.escalations.to_level_3, o.escalations.to_level_3),
            (&mut f.escalations.to_vendor, o.escalations.to_vendor),
        ] {
            *sum += value;
        }
        self.first_response.extend(&other.first_response);
        self.resolution.extend(&other.resolution);
    }

    fn finish(mut self) -> Figures {
        self.figures.first_response = times(self.first_response);
        self.figures.resolution = times(self.resolution);
        self.figures
    }
}

/// The state after every change before `until`.
fn state_before(ticket: &TicketHistory, until: i64) -> State {
    let mut state = State {
        status: Status::New,
        level: Level::FIRST,
        priority: Priority::Normal,
        queue: String::new(),
        assignee: None,
        merged_at: None,
    };
    for (at, change) in ticket.changes.iter().filter(|(at, _)| *at < until) {
        match change {
            Change::Status(status) => state.status = *status,
            Change::Level(level) => state.level = *level,
            Change::Priority(priority) => state.priority = *priority,
            Change::Queue(queue) => state.queue.clone_from(queue),
            Change::Assignee(assignee) => state.assignee.clone_from(assignee),
            Change::MergedInto(_) => {
                state.merged_at.get_or_insert(*at);
            }
        }
    }
    state
}

fn group_key(ticket: &TicketHistory, state: &State, by: &Dimension) -> String {
    match by {
        Dimension::Queue => state.queue.clone(),
        Dimension::Agent => state
            .assignee
            .clone()
            .unwrap_or_else(|| "(unassigned)".into()),
        Dimension::Level => state.level.get().to_string(),
        Dimension::Priority => state.priority.as_str().to_string(),
        Dimension::Domain => ticket
            .requester
            .rsplit_once('@')
            .map_or_else(|| "(none)".into(), |(_, domain)| domain.to_lowercase()),
        Dimension::Field(name) => ticket
            .fields
            .get(name)
            .cloned()
            .unwrap_or_else(|| "(none)".into()),
    }
}

/// Status transitions before `until`: (at, from, to).
fn transitions(ticket: &TicketHistory, until: i64) -> Vec<(i64, Status, Status)> {
    let mut out = Vec::new();
    let mut current: Option<Status> = None;
    for (at, change) in &ticket.changes {
        if *at >= until {
            break;
        }
        if let Change::Status(status) = change {
            if let Some(previous) = current {
                if previous != *status {
                    out.push((*at, previous, *status));
                }
            }
            current = Some(*status);
        }
    }
    out
}

/// Clock time from creation to `end`, less the time spent waiting on the requester.
fn net_time(ticket: &TicketHistory, clock: &SlaClock, end: i64) -> i64 {
    let mut total = clock.between(ticket.created_at, end);
    let mut waiting_since = None;
    for (at, from, to) in transitions(ticket, end) {
        if to == Status::Waiting && from != Status::Waiting {
            waiting_since = Some(at);
        } else if from == Status::Waiting {
            if let Some(since) = waiting_since.take() {
                total -= clock.between(since, at);
            }
        }
    }
    if let Some(since) = waiting_since {
        total -= clock.between(since, end);
    }
    total.max(0)
}

/// Answers are stored by the address the agent is told of failures at: name them by the
/// directory's agents (an address it no longer knows stays as it is).
pub fn name_answers(tickets: &mut [TicketHistory], directory: &super::people::Directory) {
    for ticket in tickets {
        for answer in &mut ticket.answers {
            if let Some(agent) = directory.agent_by_address(&answer.agent) {
                answer.agent.clone_from(&agent.name);
            }
        }
    }
}

pub struct ReportInput<'a> {
    pub period: Period,
    pub by: &'a Dimension,
    pub sla: &'a SlaPolicy,
    pub tickets: &'a [TicketHistory],
}

pub fn report(input: &ReportInput<'_>) -> Report {
    let period = input.period;
    let mut total = Tally::default();
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    let mut agents: BTreeMap<String, (BTreeSet<u64>, u64, u64)> = BTreeMap::new();
    for ticket in input.tickets {
        if ticket.created_at >= period.to {
            continue;
        }
        let end = state_before(ticket, period.to);
        if end.status == Status::Spam {
            continue;
        }
        // Answers are the author's work whatever becomes of the ticket.
        let mut seen = BTreeSet::new();
        for answer in &ticket.answers {
            if period.contains(answer.at) && seen.insert((answer.at, answer.agent.as_str())) {
                let entry = agents.entry(answer.agent.clone()).or_default();
                entry.0.insert(ticket.number);
                entry.1 += 1;
            }
        }
        let key = group_key(ticket, &end, input.by);
        add_ticket(groups.entry(key).or_default(), ticket, &end, input);
        if let Some(agent) = end.assignee.as_ref().filter(|_| in_backlog(&end)) {
            agents.entry(agent.clone()).or_default().2 += 1;
        }
    }
    // Each ticket is in one group: the total is their sum, each ticket's figures worked out once.
    for group in groups.values() {
        total.add(group);
    }
    Report {
        period,
        by: input.by.name(),
        total: total.finish(),
        groups: groups
            .into_iter()
            .map(|(key, tally)| Group {
                key,
                figures: tally.finish(),
            })
            .collect(),
        agents: agents
            .into_iter()
            .map(|(agent, (handled, answers, load))| AgentFigures {
                agent,
                tickets_handled: handled.len() as u64,
                answers_sent: answers,
                open_load: load,
            })
            .collect(),
    }
}

fn in_backlog(end: &State) -> bool {
    end.merged_at.is_none() && !end.status.is_done()
}

fn add_ticket(tally: &mut Tally, ticket: &TicketHistory, end: &State, input: &ReportInput<'_>) {
    let period = input.period;
    let f = &mut tally.figures;
    if period.contains(ticket.created_at) {
        f.opened += 1;
    }
    if let Some(merged_at) = end.merged_at {
        if period.contains(merged_at) {
            f.merged += 1;
        }
        return;
    }
    let plan = input.sla.plan_for(&end.queue, end.priority);
    let clock = plan.map_or(SlaClock::WallClock, |p| p.clock.clone());
    let moves = transitions(ticket, period.to);
    let resolutions = moves
        .iter()
        .filter(|(_, from, to)| !from.is_done() && to.is_done());
    let last_resolution = resolutions.map(|(at, _, _)| *at).next_back();
    if moves
        .iter()
        .any(|(at, from, to)| from.is_done() && !to.is_done() && period.contains(*at))
    {
        f.reopened += 1;
    }
    if ticket.solved_at.is_some_and(|at| period.contains(at)) {
        f.solved_by_knowledge += 1;
    }
    let done = end.status.is_done();
    if done {
        if let Some(at) = last_resolution.filter(|at| period.contains(*at)) {
            f.resolved += 1;
            let time = net_time(ticket, &clock, at);
            tally.resolution.push(time);
            if let Some(target) = plan.and_then(|p| p.resolution) {
                if time <= target {
                    f.resolution_sla.met += 1;
                } else {
                    f.resolution_sla.missed += 1;
                }
            }
        }
    } else {
        f.backlog += 1;
        let age = period.to - ticket.created_at;
        let bucket = match age {
            a if a < DAY => &mut f.backlog_age.under_1d,
            a if a < 3 * DAY => &mut f.backlog_age.from_1d_to_3d,
            a if a < 7 * DAY => &mut f.backlog_age.from_3d_to_7d,
            a if a < 30 * DAY => &mut f.backlog_age.from_7d_to_30d,
            _ => &mut f.backlog_age.over_30d,
        };
        *bucket += 1;
        if end.status == Status::Waiting {
            f.waiting_on_requester += 1;
        }
        if let Some(target) = plan.and_then(|p| p.resolution) {
            if net_time(ticket, &clock, period.to) > target {
                f.resolution_sla.overdue += 1;
            }
        }
    }
    let first = ticket
        .answers
        .iter()
        .map(|a| a.at)
        .filter(|at| *at < period.to)
        .min();
    let target = plan.and_then(|p| p.first_response);
    match first {
        Some(at) if period.contains(at) => {
            let time = clock.between(ticket.created_at, at);
            tally.first_response.push(time);
            match target {
                Some(target) if time <= target => f.first_response_sla.met += 1,
                Some(_) => f.first_response_sla.missed += 1,
                None => {}
            }
        }
        Some(_) => {}
        None => {
            if let Some(target) = target {
                if !done && clock.between(ticket.created_at, period.to) > target {
                    f.first_response_sla.overdue += 1;
                }
            }
        }
    }
    let mut level = None;
    for (at, change) in &ticket.changes {
        if let Change::Level(to) = change {
            if level.is_some_and(|from| *to > from) && period.contains(*at) {
                match to.get() {
                    2 => f.escalations.to_level_2 += 1,
                    3 => f.escalations.to_level_3 += 1,
                    _ => f.escalations.to_vendor += 1,
                }
            }
            level = Some(*to);
        }
    }
}

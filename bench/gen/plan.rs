//! Each generated ticket's life, planned when it is created: the steps and their times, and
//! the state they leave it in at the end of the history.

use super::words::Random;
use super::{AGENTS_PER_QUEUE, ARTICLES, DAY, DAYS, END, HOUR, QUEUES, TECHNICIANS, VENDORS};

/// A step of a ticket's life, written when its time comes.
#[derive(Clone)]
pub(super) enum Step {
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

pub(super) const PRIORITIES: [(&str, u64); 4] =
    [("low", 15), ("normal", 60), ("high", 20), ("urgent", 5)];

pub(super) fn pick<T: Copy>(random: &mut Random, table: &[(T, u64)]) -> usize {
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

pub(super) fn unit(random: &mut Random) -> f64 {
    (random.next() % 1_000_000) as f64 / 1_000_000.0
}

pub(super) fn chance(random: &mut Random, p: f64) -> bool {
    unit(random) < p
}

pub(super) fn below(random: &mut Random, n: u64) -> u64 {
    random.next() % n.max(1)
}

/// `base` seconds stretched by up to e^`spread`: most delays short, a long tail.
pub(super) fn delay(random: &mut Random, base: f64, spread: f64) -> i64 {
    (base * (unit(random) * spread).exp()) as i64
}

/// Monday = 0 (1970-01-01 was a Thursday).
pub(super) fn weekday(at: i64) -> i64 {
    (at.div_euclid(DAY) + 3) % 7
}

/// `at`, or the next office hour (08:00–18:00 on weekdays) plus a little, when agents work.
pub(super) fn office(random: &mut Random, at: i64) -> i64 {
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
pub(super) fn office_after(random: &mut Random, at: i64, base: f64, spread: f64) -> i64 {
    let wait = delay(random, base, spread);
    office(random, at + wait)
}

/// Arrivals per hour of the day and per weekday, relative.
pub(super) fn arrival_weight(at: i64) -> f64 {
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
pub(super) struct Final {
    pub(super) status: &'static str,
    pub(super) priority: &'static str,
    pub(super) level: u8,
    pub(super) queue: usize,
    pub(super) assignee: Option<u16>,
    pub(super) merged_into: Option<u64>,
    pub(super) updated_at: i64,
    pub(super) first_response_due: Option<i64>,
    pub(super) next_response_due: Option<i64>,
    pub(super) resolution_due: Option<i64>,
    pub(super) sla_paused_at: Option<i64>,
    pub(super) awaiting_since: Option<i64>,
    pub(super) resolution: bool,
}

/// Wall-clock targets of the plans in `config_toml`, close enough for the deadlines the
/// generated rows carry (the report recomputes everything from the history).
pub(super) fn targets(priority: &str) -> (i64, i64) {
    match priority {
        "urgent" => (HOUR, DAY),
        "high" => (10 * HOUR, 5 * DAY),
        _ => (DAY, 12 * DAY),
    }
}

pub(super) struct Plan {
    pub(super) steps: Vec<(i64, Step)>,
    pub(super) status: &'static str,
    pub(super) priority: &'static str,
    pub(super) assignee: Option<u16>,
    pub(super) resolution: bool,
}

pub(super) fn final_state(created: i64, plan: &Plan, queue: usize) -> Final {
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
pub(super) fn plan(
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

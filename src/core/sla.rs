//! Service levels: targets per queue and priority, deadlines that move with what happens on a
//! ticket, the clock paused while waiting on the requester, and the alarms a scheduler raises.
//! Pure: every function takes the time it needs.

use super::calendar::SlaClock;
use super::ticket::{Priority, Status};

/// Targets, in seconds of the plan's clock.
#[derive(Debug, Clone)]
pub struct SlaPlan {
    /// `None` matches every queue.
    pub queue: Option<String>,
    /// `None` matches every priority.
    pub priority: Option<Priority>,
    pub first_response: Option<i64>,
    pub next_response: Option<i64>,
    pub resolution: Option<i64>,
    pub clock: SlaClock,
}

#[derive(Debug, Clone)]
pub struct SlaPolicy {
    /// The first plan matching a ticket's queue and priority applies.
    pub plans: Vec<SlaPlan>,
    /// Share of a target after which the assignee is warned.
    pub warn_at: f64,
    /// On a breach, raise the priority one step as well as the level.
    pub raise_priority: bool,
    pub check_interval_secs: u64,
}

impl Default for SlaPolicy {
    fn default() -> SlaPolicy {
        SlaPolicy {
            plans: Vec::new(),
            warn_at: 0.8,
            raise_priority: true,
            check_interval_secs: 60,
        }
    }
}

impl SlaPolicy {
    pub fn plan_for(&self, queue: &str, priority: Priority) -> Option<&SlaPlan> {
        self.plans.iter().find(|plan| {
            plan.queue.as_deref().is_none_or(|q| q == queue)
                && plan.priority.is_none_or(|p| p == priority)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    FirstResponse,
    NextResponse,
    Resolution,
}

impl Target {
    pub fn describe(self) -> &'static str {
        match self {
            Target::FirstResponse => "first response",
            Target::NextResponse => "next response",
            Target::Resolution => "resolution",
        }
    }

    fn of(self, plan: &SlaPlan) -> Option<i64> {
        match self {
            Target::FirstResponse => plan.first_response,
            Target::NextResponse => plan.next_response,
            Target::Resolution => plan.resolution,
        }
    }
}

/// A ticket's deadlines as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SlaState {
    pub first_response_due: Option<i64>,
    pub next_response_due: Option<i64>,
    pub resolution_due: Option<i64>,
    /// Set while the ticket waits on the requester: the clock stands still.
    pub paused_at: Option<i64>,
    /// The deadline a warning was sent for (a moved deadline may be warned about again).
    pub warned_for: Option<i64>,
}

impl SlaState {
    fn due(&self, target: Target) -> Option<i64> {
        match target {
            Target::FirstResponse => self.first_response_due,
            Target::NextResponse => self.next_response_due,
            Target::Resolution => self.resolution_due,
        }
    }

    fn set_due(&mut self, target: Target, due: Option<i64>) {
        match target {
            Target::FirstResponse => self.first_response_due = due,
            Target::NextResponse => self.next_response_due = due,
            Target::Resolution => self.resolution_due = due,
        }
    }

    /// The soonest deadline still running.
    pub fn next_due(&self) -> Option<(Target, i64)> {
        [
            Target::FirstResponse,
            Target::NextResponse,
            Target::Resolution,
        ]
        .into_iter()
        .filter_map(|t| self.due(t).map(|due| (t, due)))
        .min_by_key(|(_, due)| *due)
    }
}

/// What happened on a ticket, as far as its deadlines care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaEvent {
    Created {
        at: i64,
    },
    /// An agent answered the requester.
    AgentAnswered {
        at: i64,
    },
    /// The requester wrote (a follow-up).
    RequesterWrote {
        at: i64,
    },
    StatusChanged {
        at: i64,
        from: Status,
        to: Status,
    },
}

/// The deadlines after `event`, under `plan` (no plan: no deadlines).
pub fn advance(state: SlaState, plan: Option<&SlaPlan>, event: SlaEvent) -> SlaState {
    let Some(plan) = plan else {
        return SlaState::default();
    };
    let mut next = state;
    let arm = |target: Target, from: i64| target.of(plan).map(|t| plan.clock.add(from, t));
    match event {
        SlaEvent::Created { at } => {
            next = SlaState {
                first_response_due: arm(Target::FirstResponse, at),
                resolution_due: arm(Target::Resolution, at),
                ..SlaState::default()
            };
        }
        SlaEvent::AgentAnswered { .. } => {
            next.first_response_due = None;
            next.next_response_due = None;
        }
        SlaEvent::RequesterWrote { at } => {
            if next.first_response_due.is_none() && next.next_response_due.is_none() {
                next.next_response_due = arm(Target::NextResponse, at);
            }
        }
        SlaEvent::StatusChanged { at, from, to } => match (from, to) {
            (_, Status::Waiting) if from != Status::Waiting => next.paused_at = Some(at),
            (Status::Waiting, _) if to != Status::Waiting => {
                // Each running deadline keeps the time it had left when the pause began.
                if let Some(paused) = next.paused_at.take() {
                    for target in [
                        Target::FirstResponse,
                        Target::NextResponse,
                        Target::Resolution,
                    ] {
                        if let Some(due) = next.due(target) {
                            let left = plan.clock.between(paused, due);
                            next.set_due(target, Some(plan.clock.add(at, left)));
                        }
                    }
                }
            }
            // Held as spam, no clock runs; released, it starts as a new ticket would.
            (_, Status::Spam) => next = SlaState::default(),
            (Status::Spam, _) => {
                next = SlaState {
                    first_response_due: arm(Target::FirstResponse, at),
                    resolution_due: arm(Target::Resolution, at),
                    ..SlaState::default()
                };
            }
            (_, Status::Resolved | Status::Closed) => next = SlaState::default(),
            (Status::Resolved | Status::Closed, _) => {
                next = SlaState {
                    resolution_due: arm(Target::Resolution, at),
                    ..SlaState::default()
                };
            }
            _ => {}
        },
    }
    next
}

/// What the scheduler should do about a ticket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// `warn_at` of the target has passed.
    Warning { target: Target, due: i64 },
    /// The deadline has passed: escalate once, and re-arm every deadline already past for a full
    /// period from `at` (after downtime: one escalation, not one per missed deadline).
    Breach { target: Target, due: i64, at: i64 },
}

pub fn check(state: &SlaState, plan: &SlaPlan, warn_at: f64, now: i64) -> Option<Alarm> {
    if state.paused_at.is_some() {
        return None;
    }
    let (target, due) = state.next_due()?;
    let length = target.of(plan)?;
    if now >= due {
        return Some(Alarm::Breach {
            target,
            due,
            at: now,
        });
    }
    let left = plan.clock.between(now, due);
    let warn_when_left = ((1.0 - warn_at.clamp(0.0, 1.0)) * length as f64) as i64;
    (left <= warn_when_left && state.warned_for != Some(due))
        .then_some(Alarm::Warning { target, due })
}

/// After an alarm has been acted on: what the state becomes.
pub fn acknowledge(state: SlaState, plan: &SlaPlan, alarm: Alarm) -> SlaState {
    let mut next = state;
    match alarm {
        Alarm::Warning { due, .. } => next.warned_for = Some(due),
        Alarm::Breach { at, .. } => {
            for target in [
                Target::FirstResponse,
                Target::NextResponse,
                Target::Resolution,
            ] {
                if let (Some(due), Some(length)) = (next.due(target), target.of(plan)) {
                    if due <= at {
                        next.set_due(target, Some(plan.clock.add(at, length)));
                    }
                }
            }
            next.warned_for = None;
        }
    }
    next
}

/// One step more urgent, for breaches.
pub fn raised(priority: Priority) -> Priority {
    match priority {
        Priority::Low => Priority::Normal,
        Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

/// The work-list order: higher is more urgent. Priority, time the requester has waited for an
/// answer, and how close (or how far past) the next deadline is.
pub fn urgency(
    priority: Priority,
    waiting_since: Option<i64>,
    state: &SlaState,
    plan: Option<&SlaPlan>,
    now: i64,
) -> i64 {
    let priority_points = match priority {
        Priority::Low => 0,
        Priority::Normal => 100,
        Priority::High => 200,
        Priority::Urgent => 400,
    };
    let waiting_points = waiting_since.map_or(0, |since| ((now - since).max(0) / 600).min(144));
    let deadline_points = match (state.next_due(), plan) {
        (Some((target, due)), Some(plan)) if state.paused_at.is_none() => {
            let length = target.of(plan).unwrap_or(1).max(1);
            if now >= due {
                300
            } else {
                let left = plan.clock.between(now, due);
                (250 * (length - left.min(length)) / length).max(0)
            }
        }
        _ => 0,
    };
    priority_points + waiting_points + deadline_points
}

/// "4h", "30m", "2d" (days of 24 hours of the plan's clock), "90s".
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30m, 4h or 2d"))?;
    let seconds = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` is not a duration like 30m, 4h or 2d")),
    };
    if number <= 0 {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(number * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::calendar::BusinessCalendar;

    const H: i64 = 3600;

    fn utc(text: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp()
    }

    fn office_plan() -> SlaPlan {
        let day = vec!["09:00-17:00"];
        let calendar = BusinessCalendar::new(
            "UTC",
            [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                vec![],
                vec![],
            ],
            vec![],
        )
        .unwrap();
        SlaPlan {
            queue: None,
            priority: None,
            first_response: Some(4 * H),
            next_response: Some(8 * H),
            resolution: Some(40 * H),
            clock: SlaClock::Business(calendar),
        }
    }

    #[test]
    fn plans_match_in_order() {
        let mut urgent = office_plan();
        urgent.queue = Some("hardware".into());
        urgent.priority = Some(Priority::Urgent);
        urgent.first_response = Some(H);
        let policy = SlaPolicy {
            plans: vec![urgent, office_plan()],
            ..SlaPolicy::default()
        };
        assert_eq!(
            policy
                .plan_for("hardware", Priority::Urgent)
                .unwrap()
                .first_response,
            Some(H)
        );
        assert_eq!(
            policy
                .plan_for("hardware", Priority::High)
                .unwrap()
                .first_response,
            Some(4 * H)
        );
        assert!(SlaPolicy::default()
            .plan_for("general", Priority::Normal)
            .is_none());
    }

    #[test]
    fn deadlines_follow_the_ticket() {
        let plan = office_plan();
        // Friday 15:00: 2 h left that day, first response due Monday 11:00.
        let created = advance(
            SlaState::default(),
            Some(&plan),
            SlaEvent::Created {
                at: utc("2026-11-27 15:00"),
            },
        );
        assert_eq!(created.first_response_due, Some(utc("2026-11-30 11:00")));
        assert_eq!(created.resolution_due, Some(utc("2026-12-04 15:00")));
        let answered = advance(
            created,
            Some(&plan),
            SlaEvent::AgentAnswered {
                at: utc("2026-11-30 10:00"),
            },
        );
        assert_eq!(
            (answered.first_response_due, answered.next_response_due),
            (None, None)
        );
        let follow_up = advance(
            answered,
            Some(&plan),
            SlaEvent::RequesterWrote {
                at: utc("2026-11-30 16:00"),
            },
        );
        assert_eq!(follow_up.next_response_due, Some(utc("2026-12-01 16:00")));
        // Waiting on the requester Tuesday 09:00 (7 h left), back Thursday 09:00: due Thursday 16:00.
        let waiting = advance(
            follow_up,
            Some(&plan),
            SlaEvent::StatusChanged {
                at: utc("2026-12-01 09:00"),
                from: Status::Open,
                to: Status::Waiting,
            },
        );
        assert_eq!(waiting.paused_at, Some(utc("2026-12-01 09:00")));
        assert_eq!(
            check(&waiting, &plan, 0.8, utc("2026-12-09 09:00")),
            None,
            "a paused clock raises nothing"
        );
        let resumed = advance(
            waiting,
            Some(&plan),
            SlaEvent::StatusChanged {
                at: utc("2026-12-03 09:00"),
                from: Status::Waiting,
                to: Status::Open,
            },
        );
        assert_eq!(resumed.paused_at, None);
        assert_eq!(resumed.next_response_due, Some(utc("2026-12-03 16:00")));
        let resolved = advance(
            resumed,
            Some(&plan),
            SlaEvent::StatusChanged {
                at: utc("2026-12-03 10:00"),
                from: Status::Open,
                to: Status::Resolved,
            },
        );
        assert_eq!(resolved, SlaState::default());
        let reopened = advance(
            resolved,
            Some(&plan),
            SlaEvent::StatusChanged {
                at: utc("2026-12-03 11:00"),
                from: Status::Resolved,
                to: Status::Open,
            },
        );
        assert_eq!(reopened.resolution_due, Some(utc("2026-12-10 11:00")));
        assert_eq!(
            advance(reopened, None, SlaEvent::AgentAnswered { at: 0 }),
            SlaState::default(),
            "no plan, no deadlines"
        );
    }

    #[test]
    fn warnings_then_breaches_once_each() {
        let plan = office_plan();
        let state = advance(
            SlaState::default(),
            Some(&plan),
            SlaEvent::Created {
                at: utc("2026-11-23 09:00"),
            },
        );
        assert_eq!(
            check(&state, &plan, 0.8, utc("2026-11-23 12:00")),
            None,
            "75 % of 4 h"
        );
        let warning = check(&state, &plan, 0.8, utc("2026-11-23 12:15")).unwrap();
        assert_eq!(
            warning,
            Alarm::Warning {
                target: Target::FirstResponse,
                due: utc("2026-11-23 13:00")
            }
        );
        let warned = acknowledge(state, &plan, warning);
        assert_eq!(
            check(&warned, &plan, 0.8, utc("2026-11-23 12:30")),
            None,
            "warned once"
        );
        // Down over the weekend: one breach when it comes back, re-armed for a full period.
        let breach = check(&warned, &plan, 0.8, utc("2026-11-30 09:30")).unwrap();
        assert_eq!(
            breach,
            Alarm::Breach {
                target: Target::FirstResponse,
                due: utc("2026-11-23 13:00"),
                at: utc("2026-11-30 09:30")
            }
        );
        let after = acknowledge(warned, &plan, breach);
        assert_eq!(
            after.first_response_due,
            Some(utc("2026-11-30 13:30")),
            "re-armed for a full period"
        );
        assert_eq!(
            after.resolution_due,
            Some(utc("2026-12-07 09:30")),
            "the resolution deadline, also past, too"
        );
        assert_eq!(
            check(&after, &plan, 0.8, utc("2026-11-30 09:31")),
            None,
            "one notice, not a burst"
        );
        assert!(matches!(
            check(&after, &plan, 0.8, utc("2026-11-30 13:00")),
            Some(Alarm::Warning { .. })
        ));
    }

    #[test]
    fn urgency_orders_the_work_list() {
        let plan = office_plan();
        let now = utc("2026-11-23 12:00");
        let fresh = advance(
            SlaState::default(),
            Some(&plan),
            SlaEvent::Created { at: now },
        );
        let late = advance(
            SlaState::default(),
            Some(&plan),
            SlaEvent::Created {
                at: utc("2026-11-20 09:00"),
            },
        );
        let score = |priority, since: Option<i64>, state: &SlaState| {
            urgency(priority, since, state, Some(&plan), now)
        };
        assert!(
            score(Priority::Normal, Some(utc("2026-11-20 09:00")), &late)
                > score(Priority::High, Some(now), &fresh)
        );
        assert!(
            score(Priority::Urgent, Some(now), &fresh) > score(Priority::Normal, Some(now), &fresh)
        );
        assert!(
            score(Priority::Normal, Some(utc("2026-11-23 09:00")), &fresh)
                > score(Priority::Normal, Some(now), &fresh)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("4h"), Ok(4 * H));
        assert_eq!(parse_duration("2d"), Ok(48 * H));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert!(parse_duration("4 hours").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(raised(Priority::Low), Priority::Normal);
        assert_eq!(raised(Priority::Urgent), Priority::Urgent);
    }
}

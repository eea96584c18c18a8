//! The figures behind the dashboard's charts, defined with the report's own rules (backlog,
//! first response, resolution) so a chart and the table beside it never disagree.
//!
//! - **Backlog over time**: the report's backlog at each instant given (tickets created before
//!   it, not done, not merged, not held as spam then).
//! - **Time distributions**: the report's first-response and resolution samples for the period,
//!   counted into the buckets of `TIME_BUCKETS`.
//! - **Volume by hour and weekday**: tickets opened in the period by the local hour and weekday
//!   of their creation in a time zone.

use chrono::{Datelike, TimeZone, Timelike};

use super::{add_ticket, in_backlog, state_before, ReportInput, Tally, TicketHistory, DAY};
use crate::core::ticket::Status;
use crate::core::zone::Zone;

/// Upper bounds (exclusive) of the time buckets and their labels; the last bucket is open.
pub const TIME_BUCKETS: [(i64, &str); 7] = [
    (3600, "<1h"),
    (4 * 3600, "1–4h"),
    (8 * 3600, "4–8h"),
    (DAY, "8–24h"),
    (3 * DAY, "1–3d"),
    (7 * DAY, "3–7d"),
    (i64::MAX, "≥7d"),
];

/// The first-response and resolution times the report counts for its period, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeSamples {
    pub first_response: Vec<i64>,
    pub resolution: Vec<i64>,
}

pub fn time_samples(input: &ReportInput<'_>) -> TimeSamples {
    let mut tally = Tally::default();
    for ticket in input.tickets {
        if ticket.created_at >= input.period.to {
            continue;
        }
        let end = state_before(ticket, input.period.to);
        if end.status != Status::Spam {
            add_ticket(&mut tally, ticket, &end, input);
        }
    }
    tally.first_response.sort_unstable();
    tally.resolution.sort_unstable();
    TimeSamples {
        first_response: tally.first_response,
        resolution: tally.resolution,
    }
}

/// How many samples fall in each of `TIME_BUCKETS`.
pub fn distribution(samples: &[i64]) -> [u64; TIME_BUCKETS.len()] {
    let mut counts = [0; TIME_BUCKETS.len()];
    for sample in samples {
        let bucket = TIME_BUCKETS
            .iter()
            .position(|(bound, _)| sample < bound)
            .unwrap_or(TIME_BUCKETS.len() - 1);
        counts[bucket] += 1;
    }
    counts
}

/// The backlog at each of `instants`.
pub fn backlog_at(tickets: &[TicketHistory], instants: &[i64]) -> Vec<u64> {
    instants
        .iter()
        .map(|&at| {
            tickets
                .iter()
                .filter(|ticket| ticket.created_at < at)
                .filter(|ticket| {
                    let state = state_before(ticket, at);
                    state.status != Status::Spam && in_backlog(&state)
                })
                .count() as u64
        })
        .collect()
}

/// Local midnights after `from` up to and including `to`'s day, in `zone`: where the backlog
/// chart samples a period (each point is the backlog at the end of a day). Periods longer than
/// 92 days are sampled weekly; the period's end is always the last point.
pub fn day_ends(from: i64, to: i64, zone: &Zone) -> Vec<i64> {
    let step_days = if to - from > 92 * DAY { 7 } else { 1 };
    let Some(start) = zone.timestamp_opt(from, 0).single() else {
        return vec![to];
    };
    let mut date = start.date_naive();
    let mut out = Vec::new();
    loop {
        date = match date.checked_add_days(chrono::Days::new(step_days)) {
            Some(next) => next,
            None => break,
        };
        let midnight = date
            .and_hms_opt(0, 0, 0)
            .and_then(|t| zone.from_local_datetime(&t).earliest())
            .map(|t| t.timestamp());
        match midnight {
            Some(at) if at < to => out.push(at),
            _ => break,
        }
    }
    out.push(to);
    out
}

/// Tickets opened in the period, by local hour (0–23) and by weekday (Monday first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    pub by_hour: [u64; 24],
    pub by_weekday: [u64; 7],
}

pub fn volume(tickets: &[TicketHistory], from: i64, to: i64, zone: &Zone) -> Volume {
    let mut volume = Volume::default();
    for ticket in tickets {
        if !(from..to).contains(&ticket.created_at) {
            continue;
        }
        if state_before(ticket, to).status == Status::Spam {
            continue;
        }
        if let Some(local) = zone.timestamp_opt(ticket.created_at, 0).single() {
            volume.by_hour[local.hour() as usize] += 1;
            volume.by_weekday[local.weekday().num_days_from_monday() as usize] += 1;
        }
    }
    volume
}

#[cfg(test)]
mod tests {
    use super::super::{report, Answer, Change, Dimension, Period};
    use super::*;
    use crate::core::sla::SlaPolicy;
    use crate::core::ticket::{Level, Priority};
    use std::collections::BTreeMap;

    /// Monday 2026-11-23 00:00 UTC.
    const MONDAY: i64 = 1_795_392_000;
    const HOUR: i64 = 3600;

    fn ticket(number: u64, created_at: i64) -> TicketHistory {
        TicketHistory {
            number,
            created_at,
            requester: format!("user{number}@example.org"),
            fields: BTreeMap::new(),
            changes: vec![
                (created_at, Change::Status(Status::New)),
                (created_at, Change::Level(Level::FIRST)),
                (created_at, Change::Priority(Priority::Normal)),
                (created_at, Change::Queue("it".into())),
            ],
            answers: vec![],
            solved_at: None,
        }
    }

    fn with(mut t: TicketHistory, at: i64, change: Change) -> TicketHistory {
        t.changes.push((at, change));
        t
    }

    /// #1 opened Monday 09:00, answered 30 min later, resolved Tuesday 09:00; #2 opened Monday
    /// 14:00, answered after 5 h, still open; #3 opened Wednesday, spam; #4 opened Monday 10:00,
    /// merged into #1 on Tuesday.
    fn history() -> Vec<TicketHistory> {
        let mut one = ticket(1, MONDAY + 9 * HOUR);
        one.answers.push(Answer {
            at: MONDAY + 9 * HOUR + 1800,
            agent: "bob".into(),
        });
        let one = with(
            one,
            MONDAY + DAY + 9 * HOUR,
            Change::Status(Status::Resolved),
        );
        let mut two = ticket(2, MONDAY + 14 * HOUR);
        two.answers.push(Answer {
            at: MONDAY + 19 * HOUR,
            agent: "bob".into(),
        });
        let three = with(
            ticket(3, MONDAY + 2 * DAY),
            MONDAY + 2 * DAY,
            Change::Status(Status::Spam),
        );
        let four = with(
            ticket(4, MONDAY + 10 * HOUR),
            MONDAY + DAY + 10 * HOUR,
            Change::MergedInto(1),
        );
        vec![one, two, three, four]
    }

    #[test]
    fn backlog_follows_the_reports_definition() {
        let tickets = history();
        let instants = [
            MONDAY,
            MONDAY + 12 * HOUR,
            MONDAY + DAY,
            MONDAY + 2 * DAY,
            MONDAY + 3 * DAY,
        ];
        assert_eq!(backlog_at(&tickets, &instants), [0, 2, 3, 1, 1]);
        // The last point is the report's own backlog figure.
        let period = Period {
            from: MONDAY,
            to: MONDAY + 3 * DAY,
        };
        let figures = report(&ReportInput {
            period,
            by: &Dimension::Queue,
            sla: &SlaPolicy::default(),
            tickets: &tickets,
        });
        assert_eq!(figures.total.backlog, 1);
    }

    #[test]
    fn samples_are_the_reports_and_fall_into_buckets() {
        let tickets = history();
        let input = ReportInput {
            period: Period {
                from: MONDAY,
                to: MONDAY + 7 * DAY,
            },
            by: &Dimension::Queue,
            sla: &SlaPolicy::default(),
            tickets: &tickets,
        };
        let samples = time_samples(&input);
        assert_eq!(samples.first_response, [1800, 5 * HOUR]);
        assert_eq!(samples.resolution, [DAY]);
        let figures = report(&input);
        assert_eq!(figures.total.first_response.count, 2);
        assert_eq!(distribution(&samples.first_response), [1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(distribution(&samples.resolution), [0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            distribution(&[0, 3599, 3600, 7 * DAY, i64::MAX]),
            [2, 1, 0, 0, 0, 0, 2]
        );
    }

    #[test]
    fn volume_counts_local_hours_and_weekdays_without_spam() {
        let tickets = history();
        let paris = Zone::named("Europe/Paris").unwrap();
        let volume = volume(&tickets, MONDAY, MONDAY + 7 * DAY, &paris);
        // 09:00, 14:00 and 10:00 UTC are 10:00, 15:00 and 11:00 in Paris in November.
        let mut hours = [0; 24];
        hours[10] = 1;
        hours[11] = 1;
        hours[15] = 1;
        assert_eq!(volume.by_hour, hours);
        assert_eq!(volume.by_weekday, [3, 0, 0, 0, 0, 0, 0]);
        let outside = super::volume(&tickets, MONDAY + DAY, MONDAY + 7 * DAY, &paris);
        assert_eq!(outside, Volume::default());
    }

    #[test]
    fn day_ends_are_local_midnights_then_the_end() {
        let utc = Zone::utc();
        assert_eq!(
            day_ends(MONDAY, MONDAY + 3 * DAY, &utc),
            [MONDAY + DAY, MONDAY + 2 * DAY, MONDAY + 3 * DAY]
        );
        assert_eq!(
            day_ends(MONDAY + HOUR, MONDAY + DAY + 2 * HOUR, &utc),
            [MONDAY + DAY, MONDAY + DAY + 2 * HOUR]
        );
        assert_eq!(day_ends(MONDAY, MONDAY + 365 * DAY, &utc).len(), 53);
    }
}

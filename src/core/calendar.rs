//! Business time: working hours per weekday in a time zone, with holidays. SLA targets counted in
//! business hours become instants here. Pure: instants in and out (Unix seconds, UTC).

use std::collections::BTreeSet;

use crate::core::zone::Zone;
use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// Working intervals of one day, as minutes after local midnight, sorted and disjoint.
pub type DayHours = Vec<(u32, u32)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    time_zone: Zone,
    /// Monday first.
    week: [DayHours; 7],
    holidays: BTreeSet<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("`{0}` is not a time zone (use an IANA name such as Europe/Paris)")]
    TimeZone(String),
    #[error("`{0}` is not a range of hours like 09:00-17:30")]
    Range(String),
    #[error("ranges of one day overlap or are out of order: {0}")]
    Order(String),
    #[error("no working hours on any day: business time would never pass")]
    Empty,
}

/// Whole days scanned at most; a calendar with working hours finds one well within this.
const MAX_DAYS: i64 = 3660;

impl BusinessCalendar {
    /// `week[0]` is Monday; each day lists ranges like `09:00-12:00`.
    pub fn new(
        time_zone: &str,
        week: [Vec<&str>; 7],
        holidays: Vec<NaiveDate>,
    ) -> Result<BusinessCalendar, CalendarError> {
        let time_zone =
            Zone::named(time_zone).ok_or_else(|| CalendarError::TimeZone(time_zone.to_string()))?;
        let mut hours: [DayHours; 7] = Default::default();
        for (day, ranges) in week.iter().enumerate() {
            for range in ranges {
                hours[day].push(parse_range(range)?);
            }
            hours[day].sort_unstable();
            if hours[day].windows(2).any(|pair| pair[0].1 > pair[1].0) {
                return Err(CalendarError::Order(ranges.join(", ")));
            }
        }
        if hours.iter().all(Vec::is_empty) {
            return Err(CalendarError::Empty);
        }
        Ok(BusinessCalendar {
            time_zone,
            week: hours,
            holidays: holidays.into_iter().collect(),
        })
    }

    /// The working intervals of a local date, as UTC instants. Local times that do not exist
    /// (the hour skipped when clocks go forward) move to the first instant after the gap.
    fn intervals(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let day = date.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .map(|(open, close)| (self.instant(date, *open), self.instant(date, *close)))
            .filter(|(open, close)| open < close)
            .collect()
    }

    fn instant(&self, date: NaiveDate, minutes: u32) -> i64 {
        let local = if minutes >= 24 * 60 {
            date.succ_opt().unwrap_or(date).and_time(NaiveTime::MIN)
        } else {
            date.and_time(
                NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).expect("validated"),
            )
        };
        resolve(&self.time_zone, local)
    }

    fn local_date(&self, instant: i64) -> NaiveDate {
        self.time_zone
            .timestamp_opt(instant, 0)
            .single()
            .map_or_else(NaiveDate::default, |t| t.date_naive())
    }

    /// The instant at which `seconds` of business time have passed since `start`.
    pub fn add(&self, start: i64, seconds: i64) -> i64 {
        if seconds <= 0 {
            return start;
        }
        let mut remaining = seconds;
        let mut date = self.local_date(start) - Duration::days(1);
        for _ in 0..MAX_DAYS {
            for (open, close) in self.intervals(date) {
                let from = open.max(start);
                if from >= close {
                    continue;
                }
                if remaining <= close - from {
                    return from + remaining;
                }
                remaining -= close - from;
            }
            date = date.succ_opt().unwrap_or(date);
        }
        start + seconds
    }

    /// Business seconds between `from` and `to` (zero when `to` is not later).
    pub fn between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = self.local_date(from) - Duration::days(1);
        let last = self.local_date(to) + Duration::days(1);
        while date <= last {
            for (open, close) in self.intervals(date) {
                let (a, b) = (open.max(from), close.min(to));
                if a < b {
                    total += b - a;
                }
            }
            date = date.succ_opt().unwrap_or(last + Duration::days(1));
        }
        total
    }

    /// Whether `instant` falls in working hours.
    pub fn is_open(&self, instant: i64) -> bool {
        let date = self.local_date(instant);
        [date - Duration::days(1), date]
            .into_iter()
            .flat_map(|d| self.intervals(d))
            .any(|(open, close)| open <= instant && instant < close)
    }
}

pub(crate) fn resolve(time_zone: &Zone, local: NaiveDateTime) -> i64 {
    match time_zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp(),
        // Clocks went back: the first of the two instants.
        LocalResult::Ambiguous(first, _) => first.timestamp(),
        // Clocks went forward: the first local time after the gap.
        LocalResult::None => (1..=180)
            .find_map(|minutes| {
                time_zone
                    .from_local_datetime(&(local + Duration::minutes(minutes)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc().timestamp(), |t| t.timestamp()),
    }
}

fn parse_range(range: &str) -> Result<(u32, u32), CalendarError> {
    let error = || CalendarError::Range(range.to_string());
    let (open, close) = range.split_once('-').ok_or_else(error)?;
    let minutes = |text: &str| -> Option<u32> {
        let (h, m) = text.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (open, close) = (
        minutes(open).ok_or_else(error)?,
        minutes(close).ok_or_else(error)?,
    );
    if open >= close {
        return Err(error());
    }
    Ok((open, close))
}

/// How SLA time passes: around the clock, or only in business hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaClock {
    WallClock,
    Business(BusinessCalendar),
}

impl SlaClock {
    pub fn add(&self, start: i64, seconds: i64) -> i64 {
        match self {
            SlaClock::WallClock => start + seconds.max(0),
            SlaClock::Business(calendar) => calendar.add(start, seconds),
        }
    }

    pub fn between(&self, from: i64, to: i64) -> i64 {
        match self {
            SlaClock::WallClock => (to - from).max(0),
            SlaClock::Business(calendar) => calendar.between(from, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;

    fn utc(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp()
    }

    fn show(instant: i64) -> String {
        chrono::DateTime::from_timestamp(instant, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    fn office(zone: &str) -> BusinessCalendar {
        let day = vec!["09:00-12:00", "13:00-17:00"];
        BusinessCalendar::new(
            zone,
            [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                vec![],
                vec![],
            ],
            vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn deadlines_in_business_hours() {
        let utc_office = office("UTC");
        // (start, business hours to add, deadline), all UTC; 2026-11-23 is a Monday.
        let cases = [
            (
                "2026-11-23 10:00",
                1,
                "2026-11-23 11:00",
                "inside the morning",
            ),
            (
                "2026-11-23 11:00",
                2,
                "2026-11-23 14:00",
                "over the lunch break",
            ),
            ("2026-11-23 07:00", 1, "2026-11-23 10:00", "before opening"),
            ("2026-11-23 18:00", 1, "2026-11-24 10:00", "after closing"),
            (
                "2026-11-27 16:00",
                2,
                "2026-11-30 10:00",
                "Friday evening over the weekend",
            ),
            (
                "2026-11-28 12:00",
                1,
                "2026-11-30 10:00",
                "starting on a Saturday",
            ),
            (
                "2026-12-24 16:00",
                2,
                "2026-12-28 10:00",
                "Christmas Day is a holiday, then a weekend",
            ),
            (
                "2026-11-23 09:00",
                7,
                "2026-11-23 17:00",
                "one whole day ends at closing",
            ),
            (
                "2026-11-23 09:00",
                8,
                "2026-11-24 10:00",
                "one day and an hour",
            ),
            ("2026-11-23 12:30", 0, "2026-11-23 12:30", "nothing to add"),
        ];
        for (start, hours, expected, why) in cases {
            assert_eq!(
                show(utc_office.add(utc(start), hours * HOUR)),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn time_zones_and_clock_changes() {
        let paris = office("Europe/Paris");
        // Winter: Paris is UTC+1. Monday 2026-11-23 09:00 Paris is 08:00 UTC.
        assert_eq!(
            show(paris.add(utc("2026-11-23 07:30"), HOUR)),
            "2026-11-23 09:00"
        );
        // Clocks go forward on Sunday 2026-03-29: Friday 16:00 CET + 2 h = Monday 10:00 CEST.
        assert_eq!(
            show(paris.add(utc("2026-03-27 15:00"), 2 * HOUR)),
            "2026-03-30 08:00"
        );
        // Clocks go back on Sunday 2026-10-25: Friday 16:00 CEST + 2 h = Monday 10:00 CET.
        assert_eq!(
            show(paris.add(utc("2026-10-23 14:00"), 2 * HOUR)),
            "2026-10-26 09:00"
        );
        // A day that opens inside the skipped hour starts right after it.
        let early = BusinessCalendar::new(
            "Europe/Paris",
            std::array::from_fn(|_| vec!["02:30-04:00"]),
            vec![],
        )
        .unwrap();
        assert_eq!(
            show(early.add(utc("2026-03-29 00:00"), 30 * 60)),
            "2026-03-29 01:30"
        );
    }

    #[test]
    fn between_is_the_inverse_of_add() {
        let paris = office("Europe/Paris");
        for start in [
            "2026-11-23 10:00",
            "2026-11-27 16:30",
            "2026-03-27 15:00",
            "2026-12-24 11:00",
        ] {
            for hours in [0, 1, 3, 7, 8, 20, 45] {
                let start = utc(start);
                let deadline = paris.add(start, hours * HOUR);
                assert_eq!(
                    paris.between(start, deadline),
                    hours * HOUR,
                    "{} + {hours} h",
                    show(start)
                );
            }
        }
        assert_eq!(
            paris.between(utc("2026-11-28 10:00"), utc("2026-11-29 10:00")),
            0,
            "a weekend"
        );
        assert_eq!(
            paris.between(utc("2026-11-24 10:00"), utc("2026-11-23 10:00")),
            0
        );
    }

    #[test]
    fn open_or_closed() {
        let utc_office = office("UTC");
        assert!(utc_office.is_open(utc("2026-11-23 09:00")));
        assert!(!utc_office.is_open(utc("2026-11-23 12:30")), "lunch");
        assert!(
            !utc_office.is_open(utc("2026-11-23 17:00")),
            "closing time itself is closed"
        );
        assert!(!utc_office.is_open(utc("2026-11-28 10:00")), "Saturday");
        assert!(!utc_office.is_open(utc("2026-12-25 10:00")), "holiday");
    }

    #[test]
    fn wall_clock_counts_everything() {
        let clock = SlaClock::WallClock;
        assert_eq!(
            clock.add(utc("2026-11-28 10:00"), 2 * HOUR),
            utc("2026-11-28 12:00")
        );
        assert_eq!(
            clock.between(utc("2026-11-28 10:00"), utc("2026-11-28 12:00")),
            2 * HOUR
        );
    }

    #[test]
    fn bad_calendars_are_refused() {
        let week = |day: Vec<&'static str>| -> [Vec<&'static str>; 7] {
            std::array::from_fn(|_| day.clone())
        };
        assert_eq!(
            BusinessCalendar::new("Mars/Olympus", week(vec!["09:00-17:00"]), vec![]).unwrap_err(),
            CalendarError::TimeZone("Mars/Olympus".into())
        );
        for range in [
            "9-17",
            "17:00-09:00",
            "09:00-25:00",
            "09:60-10:00",
            "nine to five",
        ] {
            assert_eq!(
                BusinessCalendar::new("UTC", week(vec![range]), vec![]).unwrap_err(),
                CalendarError::Range(range.into()),
                "{range}"
            );
        }
        assert!(matches!(
            BusinessCalendar::new("UTC", week(vec!["09:00-13:00", "12:00-17:00"]), vec![]),
            Err(CalendarError::Order(_))
        ));
        assert_eq!(
            BusinessCalendar::new("UTC", week(vec![]), vec![]).unwrap_err(),
            CalendarError::Empty
        );
        assert!(BusinessCalendar::new("UTC", week(vec!["00:00-24:00"]), vec![]).is_ok());
    }
}

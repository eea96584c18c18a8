//! A time zone by its IANA name (`Europe/Paris`), as chrono's `TimeZone`, so civil-time
//! arithmetic stays chrono's everywhere. The rules come from the system's time zone database
//! (`/usr/share/zoneinfo`, kept current by the distribution's tzdata updates), with a copy built
//! in for systems that have none.
//!
//! Why not chrono-tz: it compiles the whole database into tables of pointers, 1 MB that the
//! dynamic loader relocates at every start of the binary, about a millisecond of every
//! one-process-per-mail delivery whatever the mail (bench/README.md, "Intake").

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, TimeZone};

#[derive(Clone, PartialEq, Eq)]
pub struct Zone {
    rules: jiff::tz::TimeZone,
}

impl Zone {
    /// The zone of that IANA name (letter case ignored), or `None` if the database has none.
    pub fn named(name: &str) -> Option<Zone> {
        let rules = jiff::tz::TimeZone::get(name).ok()?;
        Some(Zone { rules })
    }

    pub fn utc() -> Zone {
        Zone {
            rules: jiff::tz::TimeZone::UTC,
        }
    }

    /// The IANA name as the database spells it; a fixed offset's text for a zone chrono made
    /// from an offset.
    pub fn name(&self) -> String {
        match self.rules.iana_name() {
            Some(name) => name.to_string(),
            None => self
                .rules
                .to_fixed_offset()
                .map_or_else(|_| "UTC".to_string(), |offset| fixed(offset).to_string()),
        }
    }

    /// The zone's abbreviation at `at` (Unix seconds): `CET`, `CEST`, or `+03` where the
    /// database has no letters.
    pub fn abbreviation(&self, at: i64) -> String {
        self.rules
            .to_offset_info(timestamp(at))
            .abbreviation()
            .to_string()
    }

    fn offset_at(&self, at: i64) -> FixedOffset {
        fixed(self.rules.to_offset(timestamp(at)))
    }
}

fn timestamp(at: i64) -> jiff::Timestamp {
    let at = at.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    jiff::Timestamp::from_second(at).expect("clamped into jiff's range")
}

fn fixed(offset: jiff::tz::Offset) -> FixedOffset {
    FixedOffset::east_opt(offset.seconds()).expect("time zone offsets are under a day")
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zone({})", self.name())
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl TimeZone for Zone {
    type Offset = FixedOffset;

    /// chrono keeps only the offset in a `DateTime`; the zone it gives back is that offset.
    fn from_offset(offset: &FixedOffset) -> Zone {
        let seconds = offset.local_minus_utc();
        let rules = jiff::tz::Offset::from_seconds(seconds)
            .map(jiff::tz::TimeZone::fixed)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        Zone { rules }
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<FixedOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
        use chrono::{Datelike, Timelike};
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).unwrap_or(i16::MAX),
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            0,
        );
        let Ok(civil) = civil else {
            // Beyond year 9999: no zone has rules there; read it as the offset of that instant.
            return MappedLocalTime::Single(self.offset_at(local.and_utc().timestamp()));
        };
        match self.rules.to_ambiguous_timestamp(civil).offset() {
            jiff::tz::AmbiguousOffset::Unambiguous { offset } => {
                MappedLocalTime::Single(fixed(offset))
            }
            jiff::tz::AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            jiff::tz::AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(fixed(before), fixed(after))
            }
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
        self.offset_at(utc.and_utc().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: &Zone, text: &str) -> MappedLocalTime<i64> {
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        zone.from_local_datetime(&local).map(|t| t.timestamp())
    }

    #[test]
    fn names_are_found_whatever_their_case_and_unknown_ones_are_not() {
        assert_eq!(Zone::named("europe/paris").unwrap().name(), "Europe/Paris");
        assert_eq!(Zone::named("UTC").unwrap(), Zone::utc());
        assert!(Zone::named("Mars/Base").is_none());
        assert!(Zone::named("").is_none());
    }

    #[test]
    fn summer_and_winter_offsets_and_their_abbreviations() {
        let paris = Zone::named("Europe/Paris").unwrap();
        // 2026-01-15 12:00 UTC and 2026-07-15 12:00 UTC.
        let (winter, summer) = (1_768_478_400, 1_784_116_800);
        assert_eq!(paris.offset_at(winter).local_minus_utc(), 3600);
        assert_eq!(paris.offset_at(summer).local_minus_utc(), 7200);
        assert_eq!(paris.abbreviation(winter), "CET");
        assert_eq!(paris.abbreviation(summer), "CEST");
        let kolkata = Zone::named("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_at(winter).local_minus_utc(), 19_800);
    }

    #[test]
    fn clocks_going_forward_leave_a_gap_and_going_back_a_fold() {
        let paris = Zone::named("Europe/Paris").unwrap();
        // 2026-03-29 02:30 does not exist in Paris; 2026-10-25 02:30 happens twice.
        assert_eq!(at(&paris, "2026-03-29 02:30"), MappedLocalTime::None);
        let fold = at(&paris, "2026-10-25 02:30");
        assert_eq!(
            fold,
            MappedLocalTime::Ambiguous(1_792_888_200, 1_792_891_800)
        );
        assert_eq!(
            at(&paris, "2026-06-01 09:00"),
            MappedLocalTime::Single(1_780_297_200)
        );
    }

    #[test]
    fn a_datetime_keeps_its_offset_and_gives_back_a_fixed_zone() {
        let paris = Zone::named("Europe/Paris").unwrap();
        let local = paris.timestamp_opt(1_784_116_800, 0).unwrap();
        assert_eq!(local.format("%H:%M %z").to_string(), "14:00 +0200");
        assert_eq!(local.timezone().name(), "+02:00");
    }
}

//! Validating service levels, business calendars and escalation.

use super::raw::*;
use super::*;

pub(super) fn validate_sla(
    calendars: &[RawCalendar],
    slas: &[RawSla],
    escalation: &RawEscalation,
    intake: &IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SlaPolicy, ConfigError> {
    let mut named: Vec<(String, BusinessCalendar)> = Vec::new();
    for (index, raw) in calendars.iter().enumerate() {
        let key = |name: &str| format!("calendar[{index}] ({}).{name}", raw.name);
        let holidays = raw
            .holidays
            .iter()
            .map(|day| {
                chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
                    error(
                        &key("holidays"),
                        format!("`{day}` is not a date like 2026-12-25"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let week = [
            &raw.monday,
            &raw.tuesday,
            &raw.wednesday,
            &raw.thursday,
            &raw.friday,
            &raw.saturday,
            &raw.sunday,
        ]
        .map(|day| day.iter().map(String::as_str).collect::<Vec<_>>());
        let calendar = BusinessCalendar::new(&raw.time_zone, week, holidays)
            .map_err(|e| error(&key("time_zone"), e.to_string()))?;
        named.push((raw.name.clone(), calendar));
    }
    let mut plans = Vec::new();
    for (index, raw) in slas.iter().enumerate() {
        let key = |name: &str| format!("sla[{index}].{name}");
        if let Some(queue) = &raw.queue {
            if intake.directory.queue(queue).is_none() && *queue != intake.default_queue {
                return Err(error(
                    &key("queue"),
                    format!("there is no [[queue]] called `{queue}`"),
                ));
            }
        }
        let priority = raw
            .priority
            .as_deref()
            .map(|p| {
                p.parse::<Priority>()
                    .map_err(|e| error(&key("priority"), e.to_string()))
            })
            .transpose()?;
        let clock = match &raw.calendar {
            Some(name) => SlaClock::Business(
                named
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| {
                        error(
                            &key("calendar"),
                            format!("no [[calendar]] is called `{name}`"),
                        )
                    })?,
            ),
            None => SlaClock::WallClock,
        };
        let duration = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| parse_duration(text).map_err(|e| error(&key(name), e)))
                .transpose()
        };
        plans.push(SlaPlan {
            queue: raw.queue.clone(),
            priority,
            first_response: duration("first_response", &raw.first_response)?,
            next_response: duration("next_response", &raw.next_response)?,
            resolution: duration("resolution", &raw.resolution)?,
            clock,
        });
    }
    let warn_at = escalation.warn_at.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&warn_at) {
        return Err(error(
            "escalation.warn_at",
            format!("{warn_at} is not a share between 0 and 1"),
        ));
    }
    Ok(SlaPolicy {
        plans,
        warn_at,
        raise_priority: escalation.raise_priority.unwrap_or(true),
        check_interval_secs: escalation.check_interval_secs.unwrap_or(60).max(1),
    })
}

//! Validating `[retention]`: how long done tickets keep their raw mail and their content.

use super::*;
use crate::core::retention::RetentionPolicy;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) raw_mail_days: Option<i64>,
    pub(super) tickets_days: Option<i64>,
    pub(super) check_interval_hours: Option<i64>,
}

pub(super) fn validate_retention(
    raw: &RawRetention,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<RetentionPolicy, ConfigError> {
    // Ten years: past that a day count is a typo, and the seconds stay far from overflowing.
    const MAX_DAYS: i64 = 3650;
    let days = |key: &str, value: Option<i64>| match value {
        None => Ok(None),
        Some(days) if (1..=MAX_DAYS).contains(&days) => Ok(Some(days as u32)),
        Some(days) => Err(error(
            &format!("retention.{key}"),
            format!("{days} is not a number of days from 1 to {MAX_DAYS}"),
        )),
    };
    let raw_after_days = days("raw_mail_days", raw.raw_mail_days)?;
    let tickets_after_days = days("tickets_days", raw.tickets_days)?;
    if let (Some(raw_days), Some(ticket_days)) = (raw_after_days, tickets_after_days) {
        if ticket_days < raw_days {
            return Err(error(
                "retention.tickets_days",
                format!(
                    "{ticket_days} is less than raw_mail_days ({raw_days}): a whole ticket \
                     cannot go before its raw mail"
                ),
            ));
        }
    }
    let hours = raw.check_interval_hours.unwrap_or(1);
    if !(1..=24 * 7).contains(&hours) {
        return Err(error(
            "retention.check_interval_hours",
            format!("{hours} is not a number of hours from 1 to 168"),
        ));
    }
    Ok(RetentionPolicy {
        raw_after_days,
        tickets_after_days,
        interval_secs: hours as u64 * 3600,
    })
}

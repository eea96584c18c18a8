//! Validating `[[report]]` tables: the digests `guichet run` mails (`core::report::digest`).

use super::*;
use crate::core::language::Language;
use crate::core::report::digest::{DigestConfig, Frequency, Schedule};
use crate::core::report::Dimension;

/// One `[[report]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    pub(super) name: String,
    pub(super) to: Vec<String>,
    pub(super) schedule: String,
    pub(super) at: String,
    pub(super) day: Option<String>,
    pub(super) time_zone: String,
    #[serde(default)]
    pub(super) queues: Vec<String>,
    pub(super) language: Option<String>,
    pub(super) by: Option<String>,
}

pub(super) fn validate_reports(
    raw: &[RawReport],
    intake: &IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<DigestConfig>, ConfigError> {
    let mut reports: Vec<DigestConfig> = Vec::new();
    for (index, raw) in raw.iter().enumerate() {
        let key = |name: &str| format!("report[{index}].{name}");
        let name = raw.name.trim();
        if name.is_empty() {
            return Err(error(&key("name"), "must not be empty".into()));
        }
        if reports.iter().any(|r| r.name == name) {
            return Err(error(
                &key("name"),
                format!("`{name}` is used by another [[report]]"),
            ));
        }
        if raw.to.is_empty() {
            return Err(error(&key("to"), "name at least one address".into()));
        }
        let to = raw
            .to
            .iter()
            .enumerate()
            .map(|(i, address)| {
                check_address(address)
                    .map(|address| Mailbox::new(None, &address))
                    .map_err(|why| {
                        error(
                            &key(&format!("to[{i}]")),
                            format!("`{address}` is not a mail address: {why}"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let at = chrono::NaiveTime::parse_from_str(&raw.at, "%H:%M")
            .map_err(|_| error(&key("at"), format!("`{}` is not a time like 08:00", raw.at)))?;
        let time_zone = crate::core::zone::Zone::named(&raw.time_zone).ok_or_else(|| {
            error(
                &key("time_zone"),
                format!("`{}` is not a time zone like Europe/Paris", raw.time_zone),
            )
        })?;
        let frequency = match (raw.schedule.as_str(), &raw.day) {
            ("daily", None) => Frequency::Daily,
            ("daily", Some(_)) => {
                return Err(error(&key("day"), "only a weekly report has a day".into()))
            }
            ("weekly", Some(day)) => Frequency::Weekly(
                day.parse::<chrono::Weekday>()
                    .ok()
                    .filter(|_| day.len() > 3)
                    .ok_or_else(|| {
                        error(&key("day"), format!("`{day}` is not a day like monday"))
                    })?,
            ),
            ("weekly", None) => {
                return Err(error(
                    &key("day"),
                    "a weekly report needs a day, like monday".into(),
                ))
            }
            (other, _) => {
                return Err(error(
                    &key("schedule"),
                    format!("`{other}` is not a schedule: use daily or weekly"),
                ))
            }
        };
        for queue in &raw.queues {
            if intake.directory.queue(queue).is_none() && *queue != intake.default_queue {
                return Err(error(
                    &key("queues"),
                    format!("there is no [[queue]] called `{queue}`"),
                ));
            }
        }
        let language = raw
            .language
            .as_deref()
            .map(|code| {
                code.parse::<Language>()
                    .map_err(|why| error(&key("language"), why.to_string()))
            })
            .transpose()?
            .unwrap_or(Language::En);
        let by = raw
            .by
            .as_deref()
            .map(|by| Dimension::parse(by).map_err(|why| error(&key("by"), why)))
            .transpose()?;
        reports.push(DigestConfig {
            name: name.to_string(),
            to,
            schedule: Schedule {
                frequency,
                at,
                time_zone,
            },
            queues: raw.queues.clone(),
            language,
            by,
        });
    }
    Ok(reports)
}

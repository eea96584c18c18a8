//! `guichet report`: the service figures of `core::report` for a period, as a text table, JSON
//! or CSV. Only reads the store.

use super::*;
use crate::core::report::{report as compute, Dimension, Figures, Period, Report, ReportInput};

/// The arguments as typed, before they are checked.
pub struct ReportArgs {
    pub from: Option<String>,
    pub to: Option<String>,
    pub last: Option<String>,
    pub by: String,
    pub json: bool,
    pub csv: bool,
}

pub(super) fn report(config: &Config, args: ReportArgs) -> Result<(), CliError> {
    let period = period(&args, system_now()).map_err(CliError::Usage)?;
    let by = Dimension::parse(&args.by).map_err(CliError::Usage)?;
    if args.json && args.csv {
        return Err(CliError::Usage("choose one of --json and --csv".into()));
    }
    let store = open_read_only(config)?;
    let report = report_figures(&store, config, period, &by)?;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        return print_json(&report);
    } else if args.csv {
        out.write_all(csv(&report).as_bytes())
    } else {
        out.write_all(text(&report).as_bytes())
    };
    written.map_err(|e| CliError::Software(e.into()))
}

/// The figures of `period` grouped `by`, as `guichet report` prints them (the benchmark and the
/// dashboard call this too).
pub fn report_figures(
    store: &Store,
    config: &Config,
    period: Period,
    by: &Dimension,
) -> Result<Report, crate::adapters::store::StoreError> {
    let mut tickets = store.read().report_histories(period)?;
    crate::core::report::name_answers(&mut tickets, &config.intake.directory);
    Ok(compute(&ReportInput {
        period,
        by,
        sla: &config.intake.sla,
        tickets: &tickets,
    }))
}

/// `[from, to)` from `--from`, `--to` and `--last`; without any, the last 7 days to `now`.
pub fn period(args: &ReportArgs, now: i64) -> Result<Period, String> {
    let to = match &args.to {
        Some(text) => instant(text, "--to")?,
        None => now,
    };
    let from = match (&args.from, &args.last) {
        (Some(_), Some(_)) => return Err("give --from or --last, not both".into()),
        (Some(text), None) => instant(text, "--from")?,
        (None, Some(span)) => before(to, span)?,
        (None, None) => before(to, "7d")?,
    };
    if from >= to {
        return Err(format!(
            "the period is empty: it starts at {} and ends at {}",
            time(from),
            time(to)
        ));
    }
    Ok(Period { from, to })
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub(super) fn instant(text: &str, flag: &str) -> Result<i64, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| {
            format!("{flag} `{text}` is not a date: use YYYY-MM-DD (UTC) or RFC 3339 (2026-11-30T09:00:00+01:00)")
        })
}

/// `to` less `7d`, `4w` or `1m` (calendar months).
fn before(to: i64, span: &str) -> Result<i64, String> {
    let bad = || {
        format!("--last `{span}` is not a span: use a number of days, weeks or months, like 7d, 4w or 1m")
    };
    let (count, unit) = span.split_at(span.len().saturating_sub(1));
    let count: u32 = count.parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(bad());
    }
    let end = chrono::DateTime::from_timestamp(to, 0).ok_or_else(bad)?;
    let start = match unit {
        "d" => end.checked_sub_signed(chrono::Duration::days(count.into())),
        "w" => end.checked_sub_signed(chrono::Duration::weeks(count.into())),
        "m" => end.checked_sub_months(chrono::Months::new(count)),
        _ => None,
    };
    start.map(|t| t.timestamp()).ok_or_else(bad)
}

/// A time figure, `-` when there is none.
fn duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "-".into(), crate::core::report::short_duration)
}

/// One value per figure, in the order of `FIGURES`; times in seconds, empty when none.
fn values(f: &Figures) -> Vec<Option<i64>> {
    let n = |v: u64| Some(v as i64);
    vec![
        n(f.opened),
        n(f.resolved),
        n(f.reopened),
        n(f.merged),
        n(f.solved_by_knowledge),
        n(f.backlog),
        n(f.backlog_age.under_1d),
        n(f.backlog_age.from_1d_to_3d),
        n(f.backlog_age.from_3d_to_7d),
        n(f.backlog_age.from_7d_to_30d),
        n(f.backlog_age.over_30d),
        n(f.waiting_on_requester),
        n(f.first_response.count as u64),
        f.first_response.median,
        f.first_response.p90,
        n(f.resolution.count as u64),
        f.resolution.median,
        f.resolution.p90,
        n(f.first_response_sla.met),
        n(f.first_response_sla.missed),
        n(f.first_response_sla.overdue),
        n(f.resolution_sla.met),
        n(f.resolution_sla.missed),
        n(f.resolution_sla.overdue),
        n(f.escalations.to_level_2),
        n(f.escalations.to_level_3),
        n(f.escalations.to_vendor),
    ]
}

/// Column names (CSV) and row labels (text); `true` for a time in seconds.
const FIGURES: [(&str, &str, bool); 27] = [
    ("opened", "opened", false),
    ("resolved", "resolved", false),
    ("reopened", "reopened", false),
    ("merged", "merged", false),
    (
        "solved_by_knowledge",
        "answered by the knowledge base",
        false,
    ),
    ("backlog", "backlog at end", false),
    ("backlog_under_1d", "  < 1 day", false),
    ("backlog_1d_3d", "  1-3 days", false),
    ("backlog_3d_7d", "  3-7 days", false),
    ("backlog_7d_30d", "  7-30 days", false),
    ("backlog_over_30d", "  > 30 days", false),
    ("waiting_on_requester", "waiting on the requester", false),
    ("first_responses", "first responses", false),
    ("first_response_median_s", "  median", true),
    ("first_response_p90_s", "  p90", true),
    ("resolutions_timed", "resolutions timed", false),
    ("resolution_median_s", "  median", true),
    ("resolution_p90_s", "  p90", true),
    ("first_response_sla_met", "first response SLA met", false),
    ("first_response_sla_missed", "  missed", false),
    ("first_response_sla_overdue", "  overdue at end", false),
    ("resolution_sla_met", "resolution SLA met", false),
    ("resolution_sla_missed", "  missed", false),
    ("resolution_sla_overdue", "  overdue at end", false),
    ("escalated_to_level_2", "escalated to level 2", false),
    ("escalated_to_level_3", "escalated to level 3", false),
    ("escalated_to_vendor", "escalated to the vendor", false),
];

/// A value from mail shown on a terminal: control characters become `?`, long ones are cut.
fn printable(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() > max {
        clean.chars().take(max - 1).chain(['…']).collect()
    } else {
        clean
    }
}

pub fn text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Report from {} to {} by {}",
        time(report.period.from),
        time(report.period.to),
        report.by
    );
    let mut columns = vec![("total".to_string(), values(&report.total))];
    columns.extend(
        report
            .groups
            .iter()
            .map(|g| (printable(&g.key, 20), values(&g.figures))),
    );
    let cells: Vec<Vec<String>> = columns
        .iter()
        .map(|(_, values)| {
            values
                .iter()
                .zip(FIGURES)
                .map(|(v, (_, _, is_time))| match (v, is_time) {
                    (v, true) => duration(*v),
                    (Some(v), false) => v.to_string(),
                    (None, false) => "-".into(),
                })
                .collect()
        })
        .collect();
    let label_width = FIGURES.iter().map(|f| f.1.len()).max().unwrap_or(0);
    let widths: Vec<usize> = columns
        .iter()
        .zip(&cells)
        .map(|((key, _), cells)| {
            cells
                .iter()
                .map(|c| c.chars().count())
                .chain([key.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = write!(out, "\n{:label_width$}", "");
    for ((key, _), width) in columns.iter().zip(&widths) {
        let _ = write!(out, "  {key:>width$}");
    }
    out.push('\n');
    for (row, (_, label, _)) in FIGURES.iter().enumerate() {
        let _ = write!(out, "{label:label_width$}");
        for (column, width) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {:>width$}", column[row]);
        }
        out.push('\n');
    }
    if !report.agents.is_empty() {
        let width = report
            .agents
            .iter()
            .map(|a| printable(&a.agent, 40).chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let _ = writeln!(
            out,
            "\n{:width$}  {:>15}  {:>12}  {:>9}",
            "agent", "tickets handled", "answers sent", "open load"
        );
        for agent in &report.agents {
            let _ = writeln!(
                out,
                "{:width$}  {:>15}  {:>12}  {:>9}",
                printable(&agent.agent, 40),
                agent.tickets_handled,
                agent.answers_sent,
                agent.open_load
            );
        }
    }
    out
}

/// RFC 4180: fields with a comma, a quote or a line break are quoted, quotes doubled, lines end
/// in CRLF. A value starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
/// `'`, so that a spreadsheet shows it instead of running it as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A `total` row, then one `group` row per group (the first column says which, so that a group
/// named `total` is not mistaken for it); with `--by agent`, each agent's answers, tickets handled
/// and open load beside their group.
pub fn csv(report: &Report) -> String {
    let mut header = vec!["row", "from", "to", "by", "group"];
    header.extend(FIGURES.iter().map(|f| f.0));
    header.extend(["answers_sent", "tickets_handled", "open_load"]);
    let mut out = header.join(",") + "\r\n";
    let by_agent = report.by == "agent";
    let rows = [(None, &report.total)]
        .into_iter()
        .chain(report.groups.iter().map(|g| (Some(&g.key), &g.figures)));
    for (key, figures) in rows {
        let mut fields = vec![
            if key.is_some() { "group" } else { "total" }.to_string(),
            time(report.period.from),
            time(report.period.to),
            report.by.clone(),
            key.cloned().unwrap_or_default(),
        ];
        fields.extend(
            values(figures)
                .into_iter()
                .map(|v| v.map(|v| v.to_string()).unwrap_or_default()),
        );
        let agent = key
            .filter(|_| by_agent)
            .and_then(|k| report.agents.iter().find(|a| &a.agent == k));
        match agent {
            Some(a) => fields.extend([
                a.answers_sent.to_string(),
                a.tickets_handled.to_string(),
                a.open_load.to_string(),
            ]),
            None => fields.extend([String::new(), String::new(), String::new()]),
        }
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(from: Option<&str>, to: Option<&str>, last: Option<&str>) -> ReportArgs {
        ReportArgs {
            from: from.map(Into::into),
            to: to.map(Into::into),
            last: last.map(Into::into),
            by: "queue".into(),
            json: false,
            csv: false,
        }
    }

    #[test]
    fn periods_from_dates_and_spans() {
        let now = 1_764_633_600; // 2025-12-02 00:00 UTC
        let p = period(&args(Some("2026-11-01"), Some("2026-12-01"), None), now).unwrap();
        assert_eq!((p.from, p.to), (1_793_491_200, 1_796_083_200));
        let p = period(
            &args(None, Some("2026-12-01T00:00:00+01:00"), Some("1m")),
            now,
        )
        .unwrap();
        assert_eq!(p.to, 1_796_083_200 - 3600);
        // 2026-11-30 23:00 UTC less a calendar month: 2026-10-30 23:00 UTC.
        assert_eq!(p.from, 1_793_491_200 - 86_400 - 3600);
        let p = period(&args(None, None, Some("4w")), now).unwrap();
        assert_eq!(p.to - p.from, 28 * 86_400);
        let p = period(&args(None, None, None), now).unwrap();
        assert_eq!((p.to, p.to - p.from), (now, 7 * 86_400));
        for (from, to, last) in [
            (Some("2026-11-01"), None, Some("7d")),
            (Some("yesterday"), None, None),
            (None, None, Some("7y")),
            (None, None, Some("0d")),
            (None, None, Some("d")),
            (Some("2026-12-01"), Some("2026-11-01"), None),
        ] {
            assert!(
                period(&args(from, to, last), now).is_err(),
                "{from:?} {to:?} {last:?}"
            );
        }
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(
            csv_field("=HYPERLINK(\"http://evil.example\",\"x\")"),
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""
        );
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(12)), "12s");
        assert_eq!(duration(Some(7200)), "2h00m");
        assert_eq!(duration(Some(3 * 86_400 + 4 * 3600)), "3d04h");
    }
}

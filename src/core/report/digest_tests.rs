//! Which period a digest owes, across clock changes, weekdays, restarts and downtime; its text.

use crate::core::zone::Zone;
use chrono::{NaiveTime, TimeZone, Weekday};

use super::digest::*;
use super::*;
use crate::core::address::Mailbox;
use crate::core::language::Language;
use crate::core::templates::TemplateSet;

fn paris_zone() -> Zone {
    Zone::named("Europe/Paris").unwrap()
}

fn schedule(frequency: Frequency, at: &str) -> Schedule {
    Schedule {
        frequency,
        at: NaiveTime::parse_from_str(at, "%H:%M").unwrap(),
        time_zone: paris_zone(),
    }
}

/// An instant given as Paris wall time (the first one when ambiguous).
fn paris(text: &str) -> i64 {
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    paris_zone()
        .from_local_datetime(&local)
        .earliest()
        .unwrap()
        .timestamp()
}

fn period(from: &str, to: &str) -> Period {
    Period {
        from: paris(from),
        to: paris(to),
    }
}

#[test]
fn daily_owes_the_previous_day_once_its_send_time_passed() {
    let daily = schedule(Frequency::Daily, "08:00");
    // Before today's send time: yesterday's digest (first start sends the latest one).
    assert_eq!(
        due(&daily, None, paris("2026-12-02 07:59")),
        Some(period("2026-11-30 08:00", "2026-12-01 08:00"))
    );
    // At the send time exactly, today's.
    let today = period("2026-12-01 08:00", "2026-12-02 08:00");
    assert_eq!(due(&daily, None, paris("2026-12-02 08:00")), Some(today));
    assert_eq!(due(&daily, None, paris("2026-12-02 23:59")), Some(today));
}

#[test]
fn a_restart_right_after_sending_sends_nothing() {
    let daily = schedule(Frequency::Daily, "08:00");
    let sent = paris("2026-12-01 08:00");
    for now in ["2026-12-02 08:00", "2026-12-02 08:01", "2026-12-03 07:59"] {
        assert_eq!(due(&daily, Some(sent), paris(now)), None, "{now}");
    }
    // The next day's send time: the next period.
    assert_eq!(
        due(&daily, Some(sent), paris("2026-12-03 08:00")),
        Some(period("2026-12-02 08:00", "2026-12-03 08:00"))
    );
}

#[test]
fn three_days_down_send_the_latest_missed_period_once() {
    let daily = schedule(Frequency::Daily, "08:00");
    // Last sent: the period that started on 11-28; down until 12-02 at noon.
    let sent = paris("2026-11-28 08:00");
    let owed = due(&daily, Some(sent), paris("2026-12-02 12:00")).unwrap();
    assert_eq!(owed, period("2026-12-01 08:00", "2026-12-02 08:00"));
    // Once it is recorded, nothing more until the next send time.
    assert_eq!(
        due(&daily, Some(owed.from), paris("2026-12-02 12:01")),
        None
    );
}

#[test]
fn a_newer_period_already_sent_is_never_followed_by_an_older_one() {
    let daily = schedule(Frequency::Daily, "08:00");
    // Sent from a later schedule (or a clock set back): nothing is owed.
    let later = paris("2026-12-05 08:00");
    assert_eq!(due(&daily, Some(later), paris("2026-12-03 09:00")), None);
}

#[test]
fn weekly_owes_the_seven_days_ending_at_the_last_send_day() {
    let weekly = schedule(Frequency::Weekly(Weekday::Mon), "08:00");
    // 2026-11-30 is a Monday.
    let week = period("2026-11-23 08:00", "2026-11-30 08:00");
    for now in ["2026-11-30 08:00", "2026-12-02 12:00", "2026-12-07 07:59"] {
        assert_eq!(due(&weekly, None, paris(now)), Some(week), "{now}");
    }
    // On Monday before the send time: the week before.
    assert_eq!(
        due(&weekly, None, paris("2026-11-30 07:00")),
        Some(period("2026-11-16 08:00", "2026-11-23 08:00"))
    );
    assert_eq!(
        due(&weekly, Some(week.from), paris("2026-12-06 23:00")),
        None
    );
    assert_eq!(
        due(&weekly, Some(week.from), paris("2026-12-07 08:00")),
        Some(period("2026-11-30 08:00", "2026-12-07 08:00"))
    );
    // Three weeks down: the latest week only.
    assert_eq!(
        due(
            &weekly,
            Some(paris("2026-11-02 08:00")),
            paris("2026-11-30 09:00")
        ),
        Some(week)
    );
}

#[test]
fn clock_changes_make_23_and_25_hour_days_at_the_same_wall_time() {
    let daily = schedule(Frequency::Daily, "08:00");
    // Paris went to summer time on 2026-03-29 and back on 2026-10-25.
    let spring = due(&daily, None, paris("2026-03-29 09:00")).unwrap();
    assert_eq!(spring, period("2026-03-28 08:00", "2026-03-29 08:00"));
    assert_eq!(spring.to - spring.from, 23 * 3600);
    let autumn = due(&daily, None, paris("2026-10-25 09:00")).unwrap();
    assert_eq!(autumn, period("2026-10-24 08:00", "2026-10-25 08:00"));
    assert_eq!(autumn.to - autumn.from, 25 * 3600);
    // Before 08:00 local on the change day, though past 08:00 in the other offset: not yet.
    assert_eq!(
        due(&daily, None, paris("2026-10-25 07:30")).unwrap().to,
        paris("2026-10-24 08:00")
    );
}

#[test]
fn a_send_time_inside_the_gap_or_the_repeated_hour() {
    let daily = schedule(Frequency::Daily, "02:30");
    // 02:30 does not exist on 2026-03-29: sent at 03:00 summer time.
    let owed = due(&daily, None, paris("2026-03-29 03:00")).unwrap();
    assert_eq!(owed.to, paris("2026-03-29 03:00"));
    assert_eq!(owed.from, paris("2026-03-28 02:30"));
    assert_eq!(
        due(&daily, None, paris("2026-03-29 01:59")).unwrap().to,
        paris("2026-03-28 02:30")
    );
    // 02:30 happens twice on 2026-10-25: the first one, and only once.
    let first = paris("2026-10-25 02:30");
    let owed = due(&daily, None, first).unwrap();
    assert_eq!(owed.to, first);
    assert_eq!(due(&daily, Some(owed.from), first + 3600), None);
}

#[test]
fn weekly_across_a_clock_change_is_seven_local_days() {
    let weekly = schedule(Frequency::Weekly(Weekday::Mon), "08:00");
    // 2026-03-30 is the Monday after the spring change.
    let week = due(&weekly, None, paris("2026-03-30 10:00")).unwrap();
    assert_eq!(week, period("2026-03-23 08:00", "2026-03-30 08:00"));
    assert_eq!(week.to - week.from, 7 * DAY - 3600);
}

#[test]
fn other_time_zones_and_midnight() {
    let mut daily = schedule(Frequency::Daily, "00:00");
    daily.time_zone = Zone::utc();
    let now = 1_796_083_200 + 5; // 2026-12-01T00:00:05Z
    assert_eq!(
        due(&daily, None, now),
        Some(Period {
            from: now - 5 - DAY,
            to: now - 5
        })
    );
}

fn config(queues: &[&str], language: Language) -> DigestConfig {
    DigestConfig {
        name: "morning".into(),
        to: vec![Mailbox::parse(None, "boss@corp.example").unwrap()],
        schedule: schedule(Frequency::Daily, "08:00"),
        queues: queues.iter().map(|q| q.to_string()).collect(),
        language,
        by: None,
    }
}

fn history(number: u64, queue: &str, created_at: i64) -> TicketHistory {
    TicketHistory {
        number,
        created_at,
        requester: "carla@client.example".into(),
        fields: Default::default(),
        changes: vec![
            (created_at, Change::Status(crate::core::ticket::Status::New)),
            (created_at, Change::Queue(queue.into())),
        ],
        answers: vec![],
        solved_at: None,
    }
}

#[test]
fn the_scope_keeps_tickets_in_its_queues_at_the_periods_end() {
    let p = period("2026-11-30 08:00", "2026-12-01 08:00");
    let mut moved = history(3, "billing", p.from + 10);
    moved
        .changes
        .push((p.from + 20, Change::Queue("network".into())));
    let mut late = history(4, "network", p.from + 10);
    late.changes
        .push((p.to + 20, Change::Queue("billing".into())));
    let tickets = vec![
        history(1, "network", p.from),
        history(2, "billing", p.from),
        moved,
        late,
    ];
    let kept: Vec<u64> = in_scope(&config(&["network"], Language::En), p, tickets.clone())
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(kept, vec![1, 3, 4]);
    assert_eq!(in_scope(&config(&[], Language::En), p, tickets).len(), 4);
}

#[test]
fn the_digest_is_an_automatic_notice_with_the_figures_in_its_language() {
    let p = period("2026-11-30 08:00", "2026-12-01 08:00");
    let tickets = vec![
        history(1, "network", p.from + 60),
        history(2, "billing", p.from + 120),
    ];
    let by = Dimension::Queue;
    let report = report(&ReportInput {
        period: p,
        by: &by,
        sla: &Default::default(),
        tickets: &tickets,
    });
    let support = Mailbox::parse(None, "support@corp.example").unwrap();
    let templates = TemplateSet::shipped();
    let mut en = config(&[], Language::En);
    en.by = Some(Dimension::Queue);
    let mail = digest_mail(&en, &report, &support, "Helpdesk", &templates);
    assert_eq!(mail.subject, "[Helpdesk] Daily report 2026-11-30");
    assert_eq!(mail.kind, crate::core::outgoing::OutgoingKind::Digest);
    assert_eq!(mail.ticket, None);
    assert_eq!(mail.auto_submitted, Some("auto-generated"));
    assert_eq!(mail.to[0].address, "boss@corp.example");
    assert!(
        mail.message_id.starts_with("guichet.digest.morning."),
        "{}",
        mail.message_id
    );
    let opened = mail.body.lines().find(|l| l.starts_with("Opened")).unwrap();
    assert!(opened.ends_with(" 2"), "{opened}");
    assert!(
        mail.body
            .contains("from 2026-11-30 08:00 to 2026-12-01 08:00 CET"),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("\nnetwork\n"), "{}", mail.body);
    assert!(!mail.body.contains('{'), "{}", mail.body);

    let mut fr = config(&["network"], Language::Fr);
    fr.schedule.frequency = Frequency::Weekly(Weekday::Mon);
    let mail = digest_mail(&fr, &report, &support, "Helpdesk", &templates);
    assert_eq!(mail.subject, "[Helpdesk] Rapport hebdomadaire 2026-11-30");
    assert!(mail.body.contains("Périmètre : network."), "{}", mail.body);
    assert!(mail.body.lines().any(|l| l.starts_with("Ouverts")));
    let it = digest_mail(
        &config(&[], Language::It),
        &report,
        &support,
        "Helpdesk",
        &templates,
    );
    assert!(
        it.body.lines().any(|l| l.starts_with("Aperti")),
        "{}",
        it.body
    );
}

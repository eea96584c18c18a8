use super::*;
use crate::core::calendar::BusinessCalendar;
use crate::core::sla::SlaPlan;

/// `2026-11-27 17:00` (a Friday) as Unix seconds, UTC.
fn utc(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp()
}

const HOUR: i64 = 3600;
/// Monday 2026-11-23 00:00 UTC: the start of every test's period.
fn day(n: i64) -> i64 {
    utc("2026-11-23 00:00") + n * DAY
}

fn ticket(number: u64, created_at: i64, queue: &str) -> TicketHistory {
    TicketHistory {
        number,
        created_at,
        requester: format!("user{number}@Example.ORG"),
        fields: BTreeMap::new(),
        changes: vec![
            (created_at, Change::Status(Status::New)),
            (created_at, Change::Level(Level::FIRST)),
            (created_at, Change::Priority(Priority::Normal)),
            (created_at, Change::Queue(queue.into())),
        ],
        answers: vec![],
        solved_at: None,
    }
}

fn with(mut t: TicketHistory, at: i64, change: Change) -> TicketHistory {
    t.changes.push((at, change));
    t
}

fn answered(mut t: TicketHistory, at: i64, agent: &str) -> TicketHistory {
    t.answers.push(Answer {
        at,
        agent: agent.into(),
    });
    t
}

fn status(t: TicketHistory, at: i64, s: Status) -> TicketHistory {
    with(t, at, Change::Status(s))
}

fn two_weeks() -> Period {
    Period {
        from: day(0),
        to: day(14),
    }
}

fn run_by(tickets: &[TicketHistory], period: Period, by: Dimension, sla: &SlaPolicy) -> Report {
    report(&ReportInput {
        period,
        by: &by,
        sla,
        tickets,
    })
}

fn run(tickets: &[TicketHistory], period: Period) -> Report {
    run_by(tickets, period, Dimension::Queue, &SlaPolicy::default())
}

/// Queue `it`: Monday to Friday 09:00–18:00 UTC, first response within 4 business hours,
/// resolution within 2 business days (18 h).
fn business_sla() -> SlaPolicy {
    let day = vec!["09:00-18:00"];
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
    SlaPolicy {
        plans: vec![SlaPlan {
            queue: Some("it".into()),
            priority: None,
            first_response: Some(4 * HOUR),
            next_response: None,
            resolution: Some(18 * HOUR),
            clock: SlaClock::Business(calendar),
        }],
        ..SlaPolicy::default()
    }
}

#[test]
fn nearest_rank_on_ten_values() {
    let values: Vec<i64> = (1..=10).collect();
    // Median: rank ceil(0.5 × 10) = 5 → 5. p90: rank ceil(0.9 × 10) = 9 → 9.
    assert_eq!(nearest_rank(&values, 50), Some(5));
    assert_eq!(nearest_rank(&values, 90), Some(9));
    assert_eq!(nearest_rank(&values, 100), Some(10));
    assert_eq!(nearest_rank(&[7], 90), Some(7));
    assert_eq!(nearest_rank(&[], 50), None);
}

#[test]
fn first_response_times_median_and_p90_over_ten_tickets() {
    // Ticket i answered i minutes after it was opened: 60, 120, …, 600 seconds.
    let tickets: Vec<_> = (1..=10)
        .map(|i| answered(ticket(i, day(1), "it"), day(1) + i as i64 * 60, "alice"))
        .collect();
    let report = run(&tickets, two_weeks());
    assert_eq!(
        report.total.first_response,
        Times {
            count: 10,
            median: Some(300),
            p90: Some(540)
        }
    );
    assert_eq!(report.agents.len(), 1);
    assert_eq!(report.agents[0].answers_sent, 10);
    assert_eq!(report.agents[0].tickets_handled, 10);
}

#[test]
fn business_hours_friday_evening_to_monday_morning_is_two_hours() {
    // Opened Friday 17:00, answered Monday 10:00: 17:00–18:00 Friday + 09:00–10:00 Monday = 2 h.
    let friday = utc("2026-11-27 17:00");
    let it = answered(ticket(1, friday, "it"), utc("2026-11-30 10:00"), "alice");
    // Queue `sales` has no plan: wall clock, 65 h over the same weekend.
    let sales = answered(ticket(2, friday, "sales"), utc("2026-11-30 10:00"), "bob");
    let report = run_by(&[it, sales], two_weeks(), Dimension::Queue, &business_sla());
    let it = &report
        .groups
        .iter()
        .find(|g| g.key == "it")
        .unwrap()
        .figures;
    assert_eq!(it.first_response.median, Some(2 * HOUR));
    // 2 h within the 4 h target.
    assert_eq!(it.first_response_sla.met, 1);
    assert_eq!(it.first_response_sla.missed, 0);
    let sales = &report
        .groups
        .iter()
        .find(|g| g.key == "sales")
        .unwrap()
        .figures;
    assert_eq!(sales.first_response.median, Some(65 * HOUR));
    assert_eq!(
        sales.first_response_sla,
        SlaFigures::default(),
        "no plan, no SLA"
    );
    assert_eq!(report.total.first_response.count, 2);
}

#[test]
fn sla_missed_and_overdue() {
    // Opened Monday 09:00, answered Monday 15:00: 6 business hours > 4: missed.
    let late = answered(
        ticket(1, day(0) + 9 * HOUR, "it"),
        day(0) + 15 * HOUR,
        "alice",
    );
    // Opened Monday 09:00, never answered: at the end (day 14) far past 4 h: overdue, and past
    // the 18 h resolution target too.
    let silent = ticket(2, day(0) + 9 * HOUR, "it");
    let report = run(&[late.clone(), silent.clone()], two_weeks());
    assert_eq!(report.total.first_response_sla, SlaFigures::default());
    let report = run_by(
        &[late, silent],
        two_weeks(),
        Dimension::Queue,
        &business_sla(),
    );
    let f = &report.total;
    assert_eq!(
        f.first_response_sla,
        SlaFigures {
            met: 0,
            missed: 1,
            overdue: 1
        }
    );
    assert_eq!(f.resolution_sla.overdue, 2);
}

#[test]
fn reopened_ticket_is_measured_to_its_last_resolution() {
    // Opened day 0, resolved day 1, reopened day 2, resolved again day 3 (wall clock).
    let t = ticket(1, day(0), "it");
    let t = status(t, day(1), Status::Resolved);
    let t = status(t, day(2), Status::Open);
    let t = status(t, day(3), Status::Resolved);
    let report = run(std::slice::from_ref(&t), two_weeks());
    let f = &report.total;
    assert_eq!((f.opened, f.resolved, f.reopened, f.backlog), (1, 1, 1, 0));
    // Creation to the last resolution: 3 days.
    assert_eq!(f.resolution.median, Some(3 * DAY));

    // A period ending on day 2 at noon sees it reopened and open: no resolution, in the backlog
    // (2.5 days old: the 1–3 d bucket).
    let report = run(
        std::slice::from_ref(&t),
        Period {
            from: day(0),
            to: day(2) + 12 * HOUR,
        },
    );
    let f = &report.total;
    assert_eq!((f.resolved, f.reopened, f.backlog), (0, 1, 1));
    assert_eq!(f.backlog_age.from_1d_to_3d, 1);
    assert_eq!(f.resolution.count, 0);

    // A period from day 3 on sees only the final resolution, timed from creation.
    let report = run(
        &[t],
        Period {
            from: day(3),
            to: day(14),
        },
    );
    assert_eq!((report.total.resolved, report.total.reopened), (1, 0));
    assert_eq!(report.total.resolution.median, Some(3 * DAY));
}

#[test]
fn merged_ticket_counts_as_merged_and_nowhere_in_times() {
    // Opened day 1, answered day 1 + 1 h, merged into #9 on day 2 (the merge closes it).
    let t = answered(ticket(1, day(1), "it"), day(1) + HOUR, "alice");
    let t = with(t, day(2), Change::MergedInto(9));
    let t = status(t, day(2), Status::Closed);
    let report = run(&[t], two_weeks());
    let f = &report.total;
    assert_eq!((f.opened, f.merged, f.resolved, f.backlog), (1, 1, 0, 0));
    assert_eq!(f.first_response.count, 0);
    assert_eq!(f.resolution.count, 0);
    // The answer was still alice's work.
    assert_eq!(report.agents[0].answers_sent, 1);
}

#[test]
fn waiting_on_the_requester_pauses_resolution_and_counts_at_the_end() {
    // Opened day 0, waiting from day 1 to day 2, resolved day 3: 3 d less 1 d waiting = 2 d.
    let paused = ticket(1, day(0), "it");
    let paused = status(paused, day(1), Status::Waiting);
    let paused = status(paused, day(2), Status::Open);
    let paused = status(paused, day(3), Status::Resolved);
    // Opened day 5, waiting from day 6 on: in the backlog at the end (9 d old), waiting.
    let waiting = status(ticket(2, day(5), "it"), day(6), Status::Waiting);
    let report = run(&[paused, waiting], two_weeks());
    let f = &report.total;
    assert_eq!(f.resolution.median, Some(2 * DAY));
    assert_eq!((f.backlog, f.waiting_on_requester), (1, 1));
    assert_eq!(f.backlog_age.from_7d_to_30d, 1);
}

#[test]
fn solved_by_the_knowledge_base() {
    let t = ticket(1, day(1), "it");
    let mut t = status(t, day(1) + HOUR, Status::Resolved);
    t.solved_at = Some(day(1) + HOUR);
    let report = run(&[t], two_weeks());
    let f = &report.total;
    assert_eq!((f.solved_by_knowledge, f.resolved), (1, 1));
    // Nobody answered: no first response.
    assert_eq!(f.first_response.count, 0);
    assert_eq!(f.resolution.median, Some(HOUR));
}

#[test]
fn unanswered_ticket_is_backlog_without_a_first_response() {
    let t = ticket(1, day(13) + 12 * HOUR, "it");
    let old = ticket(2, day(0) - 40 * DAY, "it");
    let report = run(&[t, old], two_weeks());
    let f = &report.total;
    assert_eq!(f.first_response.count, 0);
    // #1 opened in the period; #2 opened before it, still open.
    assert_eq!((f.opened, f.backlog), (1, 2));
    assert_eq!(f.backlog_age.under_1d, 1);
    assert_eq!(f.backlog_age.over_30d, 1);
}

#[test]
fn escalations_by_level_reached() {
    let t = ticket(1, day(1), "it");
    let t = with(t, day(2), Change::Level(Level::new(2).unwrap()));
    let t = with(t, day(3), Change::Level(Level::VENDOR));
    let t = with(t, day(4), Change::Level(Level::new(2).unwrap()));
    let report = run(&[t], two_weeks());
    assert_eq!(
        report.total.escalations,
        Escalations {
            to_level_2: 1,
            to_level_3: 0,
            to_vendor: 1
        }
    );
}

#[test]
fn grouping_by_agent_domain_and_field() {
    let mut a = with(
        ticket(1, day(1), "it"),
        day(1),
        Change::Assignee(Some("alice".into())),
    );
    a.fields.insert("site".into(), "Lyon".into());
    a = answered(a, day(1) + HOUR, "alice");
    // bob answered alice's ticket too: it counts for bob's answers, not his load.
    a = answered(a, day(2), "bob");
    let mut b = with(
        ticket(2, day(1), "it"),
        day(1),
        Change::Assignee(Some("bob".into())),
    );
    b.requester = "someone@other.example".into();
    b = status(b, day(3), Status::Resolved);
    let c = ticket(3, day(2), "it");

    let by_agent = run_by(
        &[a.clone(), b.clone(), c.clone()],
        two_weeks(),
        Dimension::Agent,
        &SlaPolicy::default(),
    );
    let keys: Vec<_> = by_agent.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["(unassigned)", "alice", "bob"]);
    assert_eq!(by_agent.groups[2].figures.resolved, 1);
    let agents: Vec<_> = by_agent
        .agents
        .iter()
        .map(|a| {
            (
                a.agent.as_str(),
                a.tickets_handled,
                a.answers_sent,
                a.open_load,
            )
        })
        .collect();
    // alice: one answer on #1, #1 open and hers; bob: one answer on #1, #2 resolved.
    assert_eq!(agents, [("alice", 1, 1, 1), ("bob", 1, 1, 0)]);

    let by_domain = run_by(
        &[a.clone(), b.clone(), c.clone()],
        two_weeks(),
        Dimension::Domain,
        &SlaPolicy::default(),
    );
    let domains: Vec<_> = by_domain
        .groups
        .iter()
        .map(|g| (g.key.as_str(), g.figures.opened))
        .collect();
    assert_eq!(domains, [("example.org", 2), ("other.example", 1)]);

    let by_site = run_by(
        &[a, b, c],
        two_weeks(),
        Dimension::parse("field:site").unwrap(),
        &SlaPolicy::default(),
    );
    let sites: Vec<_> = by_site
        .groups
        .iter()
        .map(|g| (g.key.as_str(), g.figures.opened))
        .collect();
    assert_eq!(sites, [("(none)", 2), ("Lyon", 1)]);
    assert_eq!(by_site.total.opened, 3);
}

#[test]
fn later_changes_and_spam_are_out_of_the_period() {
    // Resolved after the period: still backlog at its end.
    let later = status(ticket(1, day(1), "it"), day(20), Status::Resolved);
    // Held as spam at the end: nowhere.
    let spam = status(ticket(2, day(1), "it"), day(1), Status::Spam);
    // Opened after the period: nowhere.
    let future = ticket(3, day(15), "it");
    let report = run(&[later, spam, future], two_weeks());
    let f = &report.total;
    assert_eq!((f.opened, f.backlog, f.resolved), (1, 1, 0));
}

#[test]
fn dimensions_parse() {
    assert_eq!(Dimension::parse("queue"), Ok(Dimension::Queue));
    assert_eq!(
        Dimension::parse("field:site"),
        Ok(Dimension::Field("site".into()))
    );
    assert!(Dimension::parse("field:").is_err());
    assert!(Dimension::parse("weather").is_err());
}

use std::sync::Arc;

use super::*;
use crate::pipeline::{Pipeline, Source};

const NOW: i64 = 1_795_392_000; // Monday 2026-11-23 00:00 UTC

fn pipeline(dir: &std::path::Path) -> (Pipeline, Arc<Config>) {
    let path = dir.join("guichet.toml");
    std::fs::write(
        &path,
        format!(
            "[general]\nstate_dir = \"{}\"\nsupport_address = \"support@desk.example.test\"\n\
             [commands]\ntrusted_authserv_ids = [\"mx.example.test\"]\n[[agent]]\nname = \"bob\"\ndisplay_name = \"Bob Agent\"\naddresses = [\"bob@example.test\"]\n\
             [web]\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let config = Arc::new(Config::load(&path).unwrap());
    (Pipeline::open(config.clone()).unwrap(), config)
}

fn mail(from: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@desk.example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@x.test>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

const HOSTILE_SUBJECT: &str = "<script>alert(1)</script> printer";
const HOSTILE_NAME: &str = "\"<img src=x onerror=alert(2)>\" <eve@example.test>";
const HOSTILE_BODY: &str = "<b>bold</b> <script>alert(3)</script> <img src=x onerror=alert(4)>";

fn hostile_store(dir: &std::path::Path) -> (Pipeline, Arc<Config>) {
    let (mut pipeline, config) = pipeline(dir);
    let source = Source::named("test");
    pipeline
        .ingest(
            &mail(HOSTILE_NAME, HOSTILE_SUBJECT, "a", HOSTILE_BODY),
            &source,
            NOW,
        )
        .unwrap();
    // Someone who is not a participant: kept as an internal note.
    pipeline
        .ingest(
            &mail(
                "mallory@other.test",
                "Re: [Helpdesk #1] me too",
                "b",
                "<i>also</i> broken",
            ),
            &source,
            NOW + 60,
        )
        .unwrap();
    (pipeline, config)
}

fn assert_no_markup_from_mail(page: &str) {
    for raw in ["<script", "<img", "<b>", "<i>"] {
        assert!(!page.contains(raw), "{raw} reached the page:\n{page}");
    }
}

#[test]
fn the_work_list_shows_a_hostile_subject_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, config) = hostile_store(dir.path());
    let pages = Pages::new("/desk", Zone::utc());
    let page = pages
        .work_list(
            pipeline.store(),
            &config,
            &WorkFilter::default(),
            NOW + 120,
            "Bob <Agent>",
        )
        .unwrap();
    assert_no_markup_from_mail(&page);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; printer"),
        "{page}"
    );
    assert!(page.contains("href=\"/desk/tickets/1\""));
    assert!(page.contains("Bob &lt;Agent&gt;"));
    assert!(page.contains("1 open ticket,"));
}

#[test]
fn a_ticket_page_escapes_everything_and_marks_internal_notes() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, _config) = hostile_store(dir.path());
    let pages = Pages::new("", Zone::utc());
    let page = pages.ticket(pipeline.store(), 1, "Bob").unwrap().unwrap();
    assert_no_markup_from_mail(&page);
    assert!(
        page.contains("&lt;b&gt;bold&lt;&#x2f;b&gt; &lt;script&gt;alert(3)"),
        "{page}"
    );
    assert!(page.contains("&lt;i&gt;also&lt;&#x2f;i&gt; broken"));
    assert!(page.contains("<article class=\"message public\""));
    assert!(page.contains("<article class=\"message internal\""));
    assert!(page.contains("Internal · stranger"));
    assert!(pages.ticket(pipeline.store(), 99, "Bob").unwrap().is_none());
}

#[test]
fn the_work_list_is_filtered_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pipeline, config) = pipeline(dir.path());
    let source = Source::named("test");
    let mails: Vec<Vec<u8>> = (0..PAGE_SIZE + 5)
        .map(|i| {
            mail(
                &format!("user{i}@example.org"),
                &format!("Request {i}"),
                &format!("r{i}"),
                "Hi",
            )
        })
        .collect();
    let batch: Vec<&[u8]> = mails.iter().map(Vec::as_slice).collect();
    pipeline.ingest_batch(&batch, &source, NOW).unwrap();
    let pages = Pages::new("", Zone::utc());
    let first = pages
        .work_list(
            pipeline.store(),
            &config,
            &WorkFilter::default(),
            NOW,
            "Bob",
        )
        .unwrap();
    assert_eq!(first.matches("<td class=\"subject\">").count(), PAGE_SIZE);
    assert!(first.contains("Page 1 of 2"));
    assert!(first.contains("href=\"/work?page=2\""));
    let filter = WorkFilter {
        queue: Some("general".into()),
        agent: Some("-".into()),
        page: Some("2".into()),
        ..Default::default()
    };
    let second = pages
        .work_list(pipeline.store(), &config, &filter, NOW, "Bob")
        .unwrap();
    assert_eq!(second.matches("<td class=\"subject\">").count(), 5);
    assert!(
        second.contains("href=\"/work?queue=general&amp;agent=-&amp;page=1\""),
        "{second}"
    );
    let nobody = WorkFilter {
        agent: Some("bob".into()),
        ..Default::default()
    };
    let none = pages
        .work_list(pipeline.store(), &config, &nobody, NOW, "Bob")
        .unwrap();
    assert!(none.contains("Nothing open matches this filter"));
}

#[test]
fn the_reports_page_draws_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, config) = hostile_store(dir.path());
    let pages = Pages::new("", Zone::utc());
    let page = pages
        .reports(
            pipeline.store(),
            &config,
            &PeriodQuery::default(),
            NOW + DAY,
            "Bob",
        )
        .unwrap();
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 7, "{page}");
    assert!(page.contains("last 30 days"));
    assert_no_markup_from_mail(&page);
    let bad = PeriodQuery {
        from: Some("2026-13-01".into()),
        to: Some("2026-12-01".into()),
        last: None,
    };
    let page = pages
        .reports(pipeline.store(), &config, &bad, NOW, "Bob")
        .unwrap();
    assert!(page.contains("from: `2026-13-01` is not a date"), "{page}");
}

#[test]
fn periods_are_local_days_or_the_last_days() {
    let paris = Zone::named("Europe/Paris").unwrap();
    let pages = Pages::new("", paris);
    let query = |from: &str, to: &str| PeriodQuery {
        from: Some(from.into()),
        to: Some(to.into()),
        last: None,
    };
    let (period, title) = pages
        .period(&query("2026-11-23", "2026-11-29"), NOW)
        .unwrap();
    assert_eq!(period.from, NOW - 3600);
    assert_eq!(period.to, NOW - 3600 + 7 * DAY);
    assert_eq!(title, "2026-11-23 to 2026-11-29");
    assert!(pages
        .period(&query("2026-11-29", "2026-11-23"), NOW)
        .is_err());
    let last = PeriodQuery {
        last: Some("7d".into()),
        ..Default::default()
    };
    assert_eq!(
        pages.period(&last, NOW).unwrap().0,
        Period {
            from: NOW - 7 * DAY,
            to: NOW
        }
    );
    let bad = PeriodQuery {
        last: Some("<x>".into()),
        ..Default::default()
    };
    assert!(pages.period(&bad, NOW).is_err());
}

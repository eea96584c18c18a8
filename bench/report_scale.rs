//! `guichet report` and the work list on a generated store of 1,000,000 tickets and about
//! 5,000,000 messages (issue 11's speed check).
//!
//!   cargo bench --bench report_scale -- [--scale F] [--runs N] [--generate-only]
//!
//! The store comes from `bench/gen` (built once, kept in target/). On it: the report of one
//! month, as `guichet report` computes it (`cli::report_figures`: the store's histories, then
//! the core's figures), by queue, agent and `field:site`, for the last month of the history and
//! for a month a year before it; then the work list of `guichet queue`
//! (`Reader::work_ranking`, then `work_rows`) and two pages of 50 from it, the first and one deep in the list.
//! Then the dashboard's pages as it renders them (`web::Pages`, without the HTTP server): the
//! work list's first page and one deep in it, ticket pages, and the reports page of the last
//! 30 days with its charts.
//! Each is timed over repeated runs after a warming one; p50, p99 and max are printed.

use std::path::Path;
use std::time::Instant;

use guichet::adapters::store::Store;
use guichet::cli::report_figures;
use guichet::config::Config;
use guichet::core::report::{Dimension, Period};
use guichet::web::{Pages, PeriodQuery, WorkFilter};

#[path = "gen/mod.rs"]
mod generator;

fn percentiles(mut micros: Vec<u128>) -> String {
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  ({} runs)",
        at(0.5),
        at(0.99),
        at(1.0),
        micros.len()
    )
}

/// Times `work` `runs` times after one warming run; returns the timings and the last result.
fn timed<T>(runs: usize, mut work: impl FnMut() -> T) -> (Vec<u128>, T) {
    let mut result = work();
    let mut micros = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        result = work();
        micros.push(started.elapsed().as_micros());
    }
    (micros, result)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let scale: f64 = value("--scale").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = value("--runs").and_then(|s| s.parse().ok()).unwrap_or(10);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = generator::store(manifest, scale);
    if args.iter().any(|a| a == "--generate-only") {
        return;
    }
    let state = tempfile::tempdir().expect("temp dir");
    let config = Config::parse(
        Path::new("report_scale.toml"),
        &generator::config_toml(state.path()),
        &|_| None,
    )
    .expect("config");
    // A store built by an older binary gets the newer migrations, as `guichet run` would.
    let started = Instant::now();
    drop(Store::open(&path).expect("migrate the store"));
    println!(
        "store opened for writing (migrations) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let store = Store::open_read_only(&path).expect("store");
    const MONTH: i64 = 30 * 86_400;
    let periods = [
        (
            "last month",
            Period {
                from: generator::END - MONTH,
                to: generator::END,
            },
        ),
        (
            "a year before",
            Period {
                from: generator::END - 365 * 86_400 - MONTH,
                to: generator::END - 365 * 86_400,
            },
        ),
    ];
    for (label, period) in periods {
        let (micros, histories) = timed(runs, || {
            store.read().report_histories(period).expect("histories")
        });
        println!(
            "  of which the store's histories, {label:<13}  {}  ({} tickets)",
            percentiles(micros),
            histories.len()
        );
        for by in ["queue", "agent", "field:site"] {
            let by = Dimension::parse(by).unwrap();
            let (micros, report) = timed(runs, || {
                report_figures(&store, &config, period, &by).expect("report")
            });
            println!(
                "report, {label:<13} by {:<10}  {}  opened {} resolved {} backlog {} groups {}",
                by.name(),
                percentiles(micros),
                report.total.opened,
                report.total.resolved,
                report.total.backlog,
                report.groups.len()
            );
        }
    }
    let now = generator::END;
    let page = 50;
    for queue in [None, Some("it")] {
        let label = queue.unwrap_or("all queues");
        let ranking = || {
            store
                .read()
                .work_ranking(queue, None, &config.intake.sla, now)
                .expect("work list")
        };
        let (micros, ranks) = timed(runs * 5, ranking);
        println!(
            "work list, {label:<10} ranked ({:>6} open)  {}",
            ranks.len(),
            percentiles(micros)
        );
        let (micros, rows) = timed(runs * 5, || {
            store.read().work_rows(ranking()).expect("work rows")
        });
        println!(
            "work list, {label:<10} whole ({:>6} open)   {}",
            rows.len(),
            percentiles(micros)
        );
        let deep = rows.len().saturating_sub(page) * 4 / 5;
        for (name, offset) in [("first page", 0), ("deep page", deep)] {
            let (micros, shown) = timed(runs * 5, || {
                let page = ranking().into_iter().skip(offset).take(page).collect();
                store.read().work_rows(page).expect("work rows").len()
            });
            println!(
                "work list, {label:<10} {name:<10} (rows {offset}..{})  {}",
                offset + shown,
                percentiles(micros)
            );
        }
    }

    let pages = Pages::new(
        "",
        guichet::core::zone::Zone::named("Europe/Paris").expect("Europe/Paris"),
    );
    let viewer = "bench";
    let open = store
        .read()
        .work_ranking(None, None, &config.intake.sla, now)
        .expect("work list")
        .len();
    let deep_page = (open / page * 4 / 5).max(1);
    for (name, number) in [("first page", 1), ("deep page", deep_page)] {
        let filter = WorkFilter {
            page: Some(number.to_string()),
            ..WorkFilter::default()
        };
        let (micros, html) = timed(runs * 5, || {
            pages
                .work_list(&store, &config, &filter, now, viewer)
                .expect("work list page")
        });
        println!(
            "dashboard work list, {name:<10} (page {number})  {}  ({} kB)",
            percentiles(micros),
            html.len() / 1000
        );
    }
    let tickets: Vec<u64> = (1..=runs as u64 * 5)
        .map(|i| i * 9_973 % 1_000_000 + 1)
        .collect();
    let mut next = tickets.iter().cycle();
    let (micros, html) = timed(runs * 5, || {
        pages
            .ticket(&store, *next.next().unwrap(), viewer)
            .expect("ticket page")
    });
    println!(
        "dashboard ticket page               {}  ({} kB)",
        percentiles(micros),
        html.map_or(0, |h| h.len() / 1000)
    );
    let query = PeriodQuery {
        last: Some("30d".into()),
        ..PeriodQuery::default()
    };
    let (micros, html) = timed(runs, || {
        pages
            .reports(&store, &config, &query, now, viewer)
            .expect("reports page")
    });
    println!(
        "dashboard reports page, 30 days     {}  ({} kB, {} charts)",
        percentiles(micros),
        html.len() / 1000,
        html.matches("<svg").count()
    );
}

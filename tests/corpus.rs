//! The hard mail of ../shared/corpus/mime (real-world and malformed messages written by others):
//! each one makes or joins a ticket, or is quarantined with a reason; never a crash, hang or drop.
//! The corpus is not in the repository; without it this test says it skipped.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use guichet::config::Config;
use guichet::pipeline::{IngestOutcome, Pipeline, Source};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GUICHET_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus/mime");
    dir.join("INDEX.tsv").is_file().then_some(dir)
}

/// Per mail; far above the few milliseconds one takes, so only a real hang trips it.
const HANG_LIMIT: Duration = Duration::from_secs(20);

#[test]
fn every_hard_mail_is_ticketed_or_quarantined() {
    let Some(dir) = corpus_dir() else {
        common::skipped(
            "../shared/corpus/mime not found (set GUICHET_SHARED_DIR); third-party mail is not in the repo",
        );
        return;
    };
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let files: Vec<String> = index
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    assert!(
        files.len() >= 327,
        "the corpus README promises at least 327 messages, INDEX.tsv lists {}",
        files.len()
    );

    let state = tempfile::tempdir().unwrap();
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n",
        state.path()
    );
    let config = Config::parse(Path::new("corpus.toml"), &text, &|_| None).unwrap();

    // The pipeline runs on a worker thread so that a hang fails the test instead of stalling it.
    let (progress, reports) = mpsc::channel();
    let worker_dir = dir.clone();
    let worker_files = files.clone();
    let worker = std::thread::spawn(move || {
        let mut pipeline = Pipeline::open(std::sync::Arc::new(config)).unwrap();
        for name in worker_files {
            let raw = std::fs::read(worker_dir.join(&name)).unwrap();
            let started = Instant::now();
            let outcome = pipeline.ingest(&raw, &Source::named(&name), 1_700_000_000);
            progress
                .send((name, outcome.map_err(|e| e.to_string()), started.elapsed()))
                .unwrap();
        }
    });

    let mut tally = [0usize; 4];
    let mut slowest = (String::new(), Duration::ZERO);
    for expected in &files {
        let (name, outcome, took) = reports.recv_timeout(HANG_LIMIT).unwrap_or_else(|_| {
            panic!("no answer within {HANG_LIMIT:?} on or after {expected}: hang or crash")
        });
        assert_eq!(&name, expected);
        if took > slowest.1 {
            slowest = (name.clone(), took);
        }
        match outcome.unwrap_or_else(|e| panic!("{name}: {e}")) {
            IngestOutcome::Created { .. } => tally[0] += 1,
            IngestOutcome::Appended { .. } | IngestOutcome::Knowledge { .. } => tally[1] += 1,
            IngestOutcome::Duplicate { .. } => tally[2] += 1,
            IngestOutcome::Quarantined { reason, .. } => {
                assert!(!reason.is_empty(), "{name}: quarantined without a reason");
                println!("quarantined {name}: {reason}");
                tally[3] += 1;
            }
        }
    }
    worker.join().expect("the pipeline thread panicked");
    println!(
        "corpus: {} mails: {} new tickets, {} follow-ups, {} duplicates (same Message-ID or content), {} quarantined; slowest {} in {:?}",
        files.len(),
        tally[0],
        tally[1],
        tally[2],
        tally[3],
        slowest.0,
        slowest.1
    );
    assert_eq!(tally.iter().sum::<usize>(), files.len());
}

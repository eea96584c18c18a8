//! `guichet ingest`: one mail from the MTA pipe, or files in batches.

use super::*;
use crate::handover;

pub(super) fn ingest(
    config: std::sync::Arc<Config>,
    files: &[PathBuf],
    source: Option<String>,
) -> Result<(), CliError> {
    if files.is_empty() {
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| CliError::TempFail(format!("reading stdin: {e}")))?;
        let source = Source::named(source.unwrap_or_else(|| handover::PIPE_SOURCE.into()));
        match handover::hand_over(&config.head(), &source.name, &raw) {
            handover::Answer::Stored(outcome) => {
                tracing::info!(source = %source.name, %outcome, "mail handed to the daemon");
                return Ok(());
            }
            handover::Answer::TempFail(reason) => return Err(CliError::TempFail(reason)),
            handover::Answer::Direct(reason) => {
                tracing::debug!(%reason, "storing the mail here, not through the daemon");
            }
        }
        return match open_pipeline(config)?.ingest(&raw, &source, system_now()) {
            Ok(_) => Ok(()),
            Err(IngestError::Temporary(reason)) => Err(CliError::TempFail(reason)),
        };
    }
    let mut pipeline = open_pipeline(config)?;
    let started = Instant::now();
    let mut tally = [0usize; 4];
    let mut stored = 0usize;
    let source = Source::named(source.unwrap_or_else(|| "file".into()));
    // Files go in batches: one disk flush per batch instead of per mail.
    for batch in files.chunks(INGEST_BATCH) {
        let mut raws = Vec::with_capacity(batch.len());
        for file in batch {
            raws.push(
                std::fs::read(file)
                    .map_err(|e| CliError::NoInput(format!("{}: {e}", file.display())))?,
            );
        }
        let slices: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
        match pipeline.ingest_batch(&slices, &source, system_now()) {
            Ok(outcomes) => {
                for outcome in outcomes {
                    tally[match outcome {
                        IngestOutcome::Created { .. } => 0,
                        // A mail about an article counts with the follow-ups.
                        IngestOutcome::Appended { .. } | IngestOutcome::Knowledge { .. } => 1,
                        IngestOutcome::Duplicate { .. } => 2,
                        IngestOutcome::Quarantined { .. } => 3,
                    }] += 1;
                }
                stored += batch.len();
            }
            Err(IngestError::Temporary(reason)) => {
                return Err(CliError::TempFail(format!(
                    "{reason} ({stored} of {} files stored; from {} on, none were)",
                    files.len(),
                    batch[0].display()
                )))
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingested {} mails in {seconds:.3} s ({:.0} mails/s): {} new tickets, {} follow-ups, {} duplicates, {} quarantined",
        files.len(),
        files.len() as f64 / seconds.max(1e-9),
        tally[0],
        tally[1],
        tally[2],
        tally[3]
    );
    Ok(())
}

/// The store for this process; a store that cannot be opened now is a temporary failure.
fn open_pipeline(config: std::sync::Arc<Config>) -> Result<Pipeline, CliError> {
    Pipeline::open(config).map_err(|IngestError::Temporary(e)| CliError::TempFail(e))
}

/// Files per transaction in `guichet ingest FILE…`.
const INGEST_BATCH: usize = 256;

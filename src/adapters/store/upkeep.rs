//! Keeping the full-text indexes quick: FTS5 adds a segment with each batch of writes and merges
//! them only lazily, and every term looked up seeks each segment. At a million tickets the
//! resolved-ticket index had 18 segments; merged to two, a new mail's intake ran 29% fewer
//! instructions (bench/README.md, "Intake").

use super::{Store, StoreResult};

/// The full-text indexes the daemon merges.
const INDEXES: [&str; 3] = ["messages_fts", "kb_fts", "kb_ticket_fts"];
/// Pages one merge step writes: a step is one short transaction, so intake waits little.
const PAGES_PER_STEP: i64 = 500;
/// Most steps per index per pass: a pass is bounded even on a store that was never merged.
const STEPS_PER_PASS: usize = 200;

impl Store {
    /// Merges each index's segments a step at a time until a step finds nothing to merge (or
    /// the pass's bound); returns the steps taken.
    pub fn merge_text_indexes(&mut self) -> StoreResult<usize> {
        let mut steps = 0;
        for index in INDEXES {
            for _ in 0..STEPS_PER_PASS {
                let tx = self.write()?;
                let before = tx.total_changes();
                tx.execute(
                    &format!("INSERT INTO {index}({index}, rank) VALUES ('merge', ?1)"),
                    [PAGES_PER_STEP],
                )?;
                let wrote = tx.total_changes() - before > 1;
                tx.commit()?;
                steps += 1;
                if !wrote {
                    break;
                }
            }
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_an_empty_store_takes_a_step_per_index_and_changes_nothing() {
        let mut store = Store::open_memory().unwrap();
        assert_eq!(store.merge_text_indexes().unwrap(), INDEXES.len());
    }
}

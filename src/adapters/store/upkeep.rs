//! Keeping the store quick as it grows. The full-text indexes: FTS5 adds a segment with each
//! batch of writes and merges them only lazily, and every term looked up seeks each segment. At a
//! million tickets the resolved-ticket index had 18 segments; merged to two, a new mail's intake
//! ran 29% fewer instructions (bench/README.md, "Intake"). The caps' record of automatic mail
//! (`automatic_mail`, a row per recipient with five indexes, each written at every new ticket):
//! the caps count the last hour, so older rows only make every insert deeper.

use super::{Store, StoreResult};

/// The full-text indexes the daemon merges.
const INDEXES: [&str; 3] = ["messages_fts", "kb_fts", "kb_ticket_fts"];
/// Pages one merge step writes: a step is one short transaction, so intake waits little.
const PAGES_PER_STEP: i64 = 500;
/// Most steps per index per pass: a pass is bounded even on a store that was never merged.
const STEPS_PER_PASS: usize = 200;

/// How long the caps' records are kept: twice the hour the caps count.
pub const AUTOMATIC_MAIL_KEPT_SECS: i64 = 2 * 3600;
/// Records one pruning transaction deletes at most, so intake waits little.
const PRUNED_PER_STEP: usize = 10_000;

impl Store {
    /// Deletes the caps' records of automatic mail older than `AUTOMATIC_MAIL_KEPT_SECS` before
    /// `now`, in steps; returns how many went.
    pub fn prune_automatic_mail(&mut self, now: i64) -> StoreResult<usize> {
        let mut pruned = 0;
        loop {
            let tx = self.write()?;
            let deleted = tx.execute(
                "DELETE FROM automatic_mail WHERE rowid IN
                     (SELECT rowid FROM automatic_mail WHERE at < ?1 LIMIT ?2)",
                rusqlite::params![now - AUTOMATIC_MAIL_KEPT_SECS, PRUNED_PER_STEP as i64],
            )?;
            tx.commit()?;
            pruned += deleted;
            if deleted < PRUNED_PER_STEP {
                return Ok(pruned);
            }
        }
    }

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
    fn the_caps_records_older_than_two_hours_go_and_the_last_hour_stays_counted() {
        let (mut store, ticket) = Store::with_one_ticket();
        let now = 1_000_000;
        for (address, at) in [
            ("old@example.test", now - AUTOMATIC_MAIL_KEPT_SECS - 1),
            ("older@example.test", now - 3 * AUTOMATIC_MAIL_KEPT_SECS),
            ("recent@example.test", now - 600),
            ("edge@example.test", now - AUTOMATIC_MAIL_KEPT_SECS),
        ] {
            store
                .conn
                .execute(
                    "INSERT INTO automatic_mail (address, cause, ticket, kind, message, at)
                     VALUES (?1, NULL, ?2, ?3, NULL, ?4)",
                    rusqlite::params![
                        address,
                        ticket.0 as i64,
                        crate::core::outgoing::OutgoingKind::Acknowledgement.as_str(),
                        at
                    ],
                )
                .unwrap();
        }
        assert_eq!(store.prune_automatic_mail(now).unwrap(), 2);
        assert_eq!(
            store.texts("SELECT address FROM automatic_mail ORDER BY at"),
            ["edge@example.test", "recent@example.test"]
        );
        // What the caps read for the last hour is untouched.
        let replies = store
            .read()
            .auto_replies_since("recent@example.test", now - 3600)
            .unwrap();
        assert_eq!(replies, 1);
        assert_eq!(store.prune_automatic_mail(now).unwrap(), 0);
    }

    #[test]
    fn merging_an_empty_store_takes_a_step_per_index_and_changes_nothing() {
        let mut store = Store::open_memory().unwrap();
        assert_eq!(store.merge_text_indexes().unwrap(), INDEXES.len());
    }
}

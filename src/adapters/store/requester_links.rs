//! Revoking the requester page's links (migration 0020). Links are signed, never stored: a
//! ticket's generation, part of every link, moves on to revoke all links made before.

use rusqlite::{params, OptionalExtension};

use super::{Reader, StoreResult, WriteTx};
use crate::core::ticket::TicketNumber;

impl Reader<'_> {
    /// The generation links to `ticket` are made with and checked against (0 until revoked).
    pub fn link_generation(&self, ticket: TicketNumber) -> StoreResult<u32> {
        Ok(self
            .conn
            .prepare_cached("SELECT generation FROM requester_link_generations WHERE ticket = ?1")?
            .query_row([ticket.0 as i64], |row| row.get(0))
            .optional()?
            .unwrap_or(0))
    }
}

impl WriteTx<'_> {
    /// Makes every link to `ticket`'s page made so far stop working, with an event saying who
    /// did it; the next mail to the requester carries a new one. The new generation.
    pub fn revoke_requester_links(
        &self,
        ticket: TicketNumber,
        actor: &str,
        now: i64,
    ) -> StoreResult<u32> {
        let generation: u32 = self
            .tx
            .prepare_cached(
                "INSERT INTO requester_link_generations (ticket, generation, revoked_at)
                 VALUES (?1, 1, ?2)
                 ON CONFLICT (ticket) DO UPDATE SET generation = generation + 1, revoked_at = ?2
                 RETURNING generation",
            )?
            .query_row(params![ticket.0 as i64, now], |row| row.get(0))?;
        self.tx
            .prepare_cached(
                "INSERT INTO events (ticket, at, actor, kind, detail)
                 VALUES (?1, ?2, ?3, 'requester_links_revoked', ?4)",
            )?
            .execute(params![
                ticket.0 as i64,
                now,
                actor,
                format!("links to the requester's page made before now no longer open it (generation {generation})")
            ])?;
        Ok(generation)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    #[test]
    fn revoking_moves_the_generation_on_and_leaves_an_event() {
        let (mut store, ticket) = Store::with_one_ticket();
        assert_eq!(store.read().link_generation(ticket).unwrap(), 0);
        for expected in 1..=2 {
            let tx = store.write().unwrap();
            assert_eq!(
                tx.revoke_requester_links(ticket, "root", 100).unwrap(),
                expected
            );
            tx.commit().unwrap();
        }
        assert_eq!(store.read().link_generation(ticket).unwrap(), 2);
        let detail = store.read().ticket(ticket).unwrap().unwrap();
        let revoked: Vec<_> = detail
            .events
            .iter()
            .filter(|e| e.kind == "requester_links_revoked")
            .collect();
        assert_eq!(revoked.len(), 2);
        assert_eq!(revoked[0].actor, "root");
    }
}

//! The dashboard's sign-in links and sessions (migration 0016). Only hashes of their secrets are
//! stored; the caller hashes (`web::auth`).

use rusqlite::{params, OptionalExtension};

use super::{CapContext, Reader, RenderedMail, StoreResult, WriteTx};

impl Reader<'_> {
    /// Sign-in links mailed to `address` since `since`: what the rate limit counts.
    pub fn sign_in_links_since(&self, address: &str, since: i64) -> StoreResult<u32> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM web_sign_in_links WHERE address = ?1 AND created_at >= ?2",
            )?
            .query_row(params![address, since], |row| row.get(0))?)
    }

    /// The agent whose unexpired session has this hash.
    pub fn session_agent(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT agent FROM web_sessions WHERE token_hash = ?1 AND expires_at > ?2",
            )?
            .query_row(params![token_hash, now], |row| row.get(0))
            .optional()?)
    }
}

impl WriteTx<'_> {
    /// Records a sign-in link for `agent` and queues the mail that carries it, together.
    pub fn record_sign_in_link(
        &self,
        token_hash: &str,
        agent: &str,
        address: &str,
        (now, expires_at): (i64, i64),
        mail: &RenderedMail<'_>,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO web_sign_in_links (token_hash, agent, address, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![token_hash, agent, address, now, expires_at])?;
        self.queue_outgoing(mail, CapContext::default(), now)
    }

    /// Spends a link: its agent when it was unused and unexpired, and never again.
    pub fn use_sign_in_link(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        Ok(self
            .tx
            .prepare_cached(
                "UPDATE web_sign_in_links SET used_at = ?2
                  WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2
                 RETURNING agent",
            )?
            .query_row(params![token_hash, now], |row| row.get(0))
            .optional()?)
    }

    /// Opens a session, and forgets expired sessions and links a day after they expired (the
    /// rate limit still sees recent ones).
    pub fn open_session(
        &self,
        token_hash: &str,
        agent: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached("DELETE FROM web_sessions WHERE expires_at <= ?1")?
            .execute([now])?;
        self.tx
            .prepare_cached("DELETE FROM web_sign_in_links WHERE expires_at <= ?1 - 86400")?
            .execute([now])?;
        self.tx
            .prepare_cached(
                "INSERT INTO web_sessions (token_hash, agent, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![token_hash, agent, now, expires_at])?;
        Ok(())
    }

    pub fn close_session(&self, token_hash: &str) -> StoreResult<()> {
        self.tx
            .prepare_cached("DELETE FROM web_sessions WHERE token_hash = ?1")?
            .execute([token_hash])?;
        Ok(())
    }
}

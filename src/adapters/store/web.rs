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

#[cfg(test)]
mod tests {
    use super::super::Store;
    use crate::adapters::render::{render_all, NoAttachmentFiles};
    use crate::core::address::Mailbox;
    use crate::web::auth::{sign_in_mail, token_hash};

    const NOW: i64 = 1_800_000_000;

    fn record(store: &mut Store, token: &str, at: i64) {
        let mail = sign_in_mail(
            &Mailbox::new(Some("Helpdesk"), "help@example.test"),
            Mailbox::new(None, "bob@example.test"),
            &format!("http://127.0.0.1:8080/sign-in/confirm/{token}"),
            &format!("{at}.{token}"),
        );
        let outgoing = [mail];
        let (rendered, _) = render_all(&outgoing, &NoAttachmentFiles, at);
        let tx = store.write().unwrap();
        tx.record_sign_in_link(
            &token_hash(token),
            "bob",
            "bob@example.test",
            (at, at + 900),
            &rendered[0],
        )
        .unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn a_link_signs_in_once_before_it_expires_and_is_counted_for_the_rate_limit() {
        let mut store = Store::open_memory().unwrap();
        record(&mut store, "first", NOW);
        record(&mut store, "second", NOW + 10);
        assert_eq!(
            store
                .read()
                .sign_in_links_since("bob@example.test", NOW)
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .read()
                .sign_in_links_since("bob@example.test", NOW + 5)
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .read()
                .sign_in_links_since("eve@example.test", 0)
                .unwrap(),
            0
        );
        assert_eq!(store.read().outbox_counts().unwrap().pending, 2);

        let tx = store.write().unwrap();
        assert_eq!(
            tx.use_sign_in_link(&token_hash("first"), NOW + 60)
                .unwrap()
                .as_deref(),
            Some("bob")
        );
        assert_eq!(
            tx.use_sign_in_link(&token_hash("first"), NOW + 61).unwrap(),
            None,
            "used once"
        );
        assert_eq!(
            tx.use_sign_in_link(&token_hash("second"), NOW + 910)
                .unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            tx.use_sign_in_link("first", NOW + 60).unwrap(),
            None,
            "the token is not the key"
        );
        tx.open_session(&token_hash("session"), "bob", NOW, NOW + 3600)
            .unwrap();
        tx.commit().unwrap();
        let reader = store.read();
        assert_eq!(
            reader
                .session_agent(&token_hash("session"), NOW + 10)
                .unwrap()
                .as_deref(),
            Some("bob")
        );
        assert_eq!(
            reader
                .session_agent(&token_hash("session"), NOW + 3600)
                .unwrap(),
            None
        );
        assert_eq!(reader.session_agent("session", NOW + 10).unwrap(), None);
        let tx = store.write().unwrap();
        tx.close_session(&token_hash("session")).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            store
                .read()
                .session_agent(&token_hash("session"), NOW + 10)
                .unwrap(),
            None
        );
    }

    #[test]
    fn the_mail_forgets_its_link_once_the_outbox_is_done_with_it() {
        let mut store = Store::open_memory().unwrap();
        record(&mut store, "secret-token", NOW);
        let text = |store: &Store| -> String {
            store
                .conn
                .query_row(
                    "SELECT text FROM messages WHERE kind = 'sign_in_link'",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert!(text(&store).contains("secret-token"));
        store
            .conn
            .execute("UPDATE outbox SET status = 'sent'", [])
            .unwrap();
        assert!(!text(&store).contains("secret-token"));
        let raw: Vec<u8> = store
            .conn
            .query_row(
                "SELECT raw FROM messages WHERE kind = 'sign_in_link'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(raw.is_empty());
    }
}

//! The knowledge base as mail changes it: what a plan's `KnowledgeAction`s do (drafts under
//! the number the core was given, versions, states, links), what the pipeline looks up for a
//! mail (articles with their drafter and source ticket, the next number), an agent's mail about
//! an article stored with its events and answers, and the tickets the knowledge base resolved.

use rusqlite::{params, OptionalExtension};

use super::{
    CapContext, InboundRecord, MessageInsert, Reader, RenderedMail, StoreError, StoreResult,
    WriteTx,
};
use crate::core::knowledge::by_mail::ArticlePlan;
use crate::core::knowledge::mail::{ArticleLink, KnowledgeAction, KnownArticle};
use crate::core::knowledge::{ArticleId, ArticleState, ArticleText};
use crate::core::plan::EventDraft;
use crate::core::ticket::TicketNumber;

/// A ticket the knowledge base resolved: the requester said `#solved` about this article.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SolvedByKnowledge {
    pub ticket: TicketNumber,
    pub article: ArticleId,
    pub at: i64,
}

impl Reader<'_> {
    /// An article with who drafted it and the ticket it came from.
    pub fn known_article(&self, id: ArticleId) -> StoreResult<Option<KnownArticle>> {
        let Some(article) = self.article(id)? else {
            return Ok(None);
        };
        let drafted_by: String = self
            .conn
            .prepare_cached("SELECT created_by FROM kb_articles WHERE id = ?1")?
            .query_row([id.0 as i64], |row| row.get(0))?;
        let source = self
            .conn
            .prepare_cached(
                "SELECT ticket FROM kb_links WHERE article = ?1 AND relation = 'source'
                 ORDER BY at LIMIT 1",
            )?
            .query_row([id.0 as i64], |row| row.get::<_, i64>(0))
            .optional()?
            .map(|n| TicketNumber(n as u64));
        Ok(Some(KnownArticle {
            article,
            drafted_by,
            source,
        }))
    }

    /// The number the next article gets (SQLite's rowid rule: one past the largest).
    pub fn next_article_id(&self) -> StoreResult<ArticleId> {
        let max: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(id) FROM kb_articles")?
            .query_row([], |row| row.get(0))?;
        Ok(ArticleId(max.map_or(1, |max| max as u64 + 1)))
    }

    /// Every ticket resolved by the knowledge base, oldest first: for reports.
    pub fn solved_by_knowledge(&self) -> StoreResult<Vec<SolvedByKnowledge>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT ticket, article, at FROM kb_links WHERE relation = 'solved' ORDER BY at, ticket",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(SolvedByKnowledge {
                ticket: TicketNumber(row.get::<_, i64>(0)? as u64),
                article: ArticleId(row.get::<_, i64>(1)? as u64),
                at: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl WriteTx<'_> {
    /// A new draft under the number the core named; a slug another article holds gets the
    /// number appended, so a draft never overwrites an article of the same title.
    pub fn create_article(
        &self,
        id: ArticleId,
        text: &ArticleText,
        by: &str,
        note: &str,
        now: i64,
    ) -> StoreResult<()> {
        if self.read().article(id)?.is_some() {
            return Err(StoreError::Refused(format!("article {id} exists already")));
        }
        let mut text = text.clone();
        if self.read().article_by_slug(&text.slug)?.is_some() {
            text.slug = format!("{}-{}", text.slug, id.0);
        }
        let (created, _) = self.save_article(&text, ArticleState::Draft, by, note, now)?;
        if created != id {
            // Only when rows were deleted by hand; the plan's mail names `id`.
            self.tx.execute(
                "UPDATE kb_versions SET article = ?2 WHERE article = ?1",
                params![created.0 as i64, id.0 as i64],
            )?;
            self.tx.execute(
                "UPDATE kb_articles SET id = ?2 WHERE id = ?1",
                params![created.0 as i64, id.0 as i64],
            )?;
        }
        Ok(())
    }

    /// Carries out what a plan does to the knowledge base.
    pub fn apply_knowledge(&self, actions: &[KnowledgeAction], now: i64) -> StoreResult<()> {
        for action in actions {
            match action {
                KnowledgeAction::Create {
                    id,
                    text,
                    by,
                    note,
                    source,
                } => {
                    self.create_article(*id, text, by, note, now)?;
                    if let Some(ticket) = source {
                        self.link_article(*id, *ticket, ArticleLink::Source, now)?;
                    }
                }
                KnowledgeAction::Revise { id, text, by, note } => {
                    let state = self
                        .read()
                        .article(*id)?
                        .ok_or_else(|| StoreError::Refused(format!("there is no article {id}")))?
                        .state;
                    self.save_article(text, state, by, note, now)?;
                }
                KnowledgeAction::SetState { id, state, by } => {
                    self.set_article_state(*id, *state, by, now)?
                }
                KnowledgeAction::Link { id, ticket, link } => {
                    self.link_article(*id, *ticket, *link, now)?
                }
            }
        }
        Ok(())
    }

    /// An agent's mail about the knowledge base: the mail (on no ticket), the plan's changes,
    /// its events (on the article's source ticket, when it has one) and its outgoing mail.
    pub fn apply_article_mail(
        &self,
        plan: &ArticlePlan,
        inbound: &InboundRecord<'_>,
        outgoing: &[RenderedMail<'_>],
        extra_events: &[EventDraft],
    ) -> StoreResult<i64> {
        let now = inbound.now;
        self.apply_knowledge(&plan.actions, now)?;
        let message = self.insert_message(&MessageInsert::inbound(
            inbound,
            None,
            ("internal", false),
            "knowledge",
            &plan.stored_text,
            now,
        ))?;
        let ticket = plan.ticket.map(|t| t.0 as i64);
        for event in plan.events.iter().chain(extra_events) {
            self.insert_event_on(ticket, now, event, Some(message))?;
        }
        for rendered in outgoing {
            self.queue_outgoing(rendered, CapContext::default(), now)?;
        }
        Ok(message)
    }

    fn insert_event_on(
        &self,
        ticket: Option<i64>,
        now: i64,
        event: &EventDraft,
        message: Option<i64>,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO events (ticket, at, actor, kind, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![ticket, now, event.actor, event.kind.as_str(), event.detail, message])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::Store;
    use crate::core::knowledge::ArticleVisibility;

    fn text(slug: &str) -> ArticleText {
        ArticleText {
            slug: slug.into(),
            title: "VPN certificate expired".into(),
            body: "Renew it from the portal.".into(),
            language: "en".into(),
            tags: vec![],
            queue: None,
            visibility: ArticleVisibility::Public,
        }
    }

    #[test]
    fn a_draft_takes_the_number_it_was_given_and_never_overwrites_a_slug() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        assert_eq!(tx.read().next_article_id().unwrap(), ArticleId(1));
        tx.save_article(
            &text("vpn-en"),
            ArticleState::Published,
            "import",
            "import",
            1,
        )
        .unwrap();
        let next = tx.read().next_article_id().unwrap();
        assert_eq!(next, ArticleId(2));
        tx.apply_knowledge(
            &[
                KnowledgeAction::Create {
                    id: next,
                    text: text("vpn-en"),
                    by: "bob".into(),
                    note: "drafted".into(),
                    source: None,
                },
                KnowledgeAction::SetState {
                    id: next,
                    state: ArticleState::Published,
                    by: "carol".into(),
                },
            ],
            2,
        )
        .unwrap();
        tx.commit().unwrap();
        let first = store.read().article(ArticleId(1)).unwrap().unwrap();
        assert_eq!(
            first.text.slug, "vpn-en",
            "the older article keeps its slug"
        );
        let known = store.read().known_article(next).unwrap().unwrap();
        assert_eq!(known.article.text.slug, "vpn-en-2");
        assert_eq!(known.article.state, ArticleState::Published);
        assert_eq!(known.drafted_by, "bob");
        assert_eq!(known.source, None);
        assert!(store.read().solved_by_knowledge().unwrap().is_empty());
    }
}

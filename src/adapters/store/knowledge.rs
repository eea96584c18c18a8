//! The knowledge base in the store: articles and their versions, their links to tickets, and the
//! two search indexes (published articles, resolved tickets) over terms `core::knowledge`
//! analysed.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row};

use super::knowledge_search::indexed_terms as indexed;
use super::{Reader, StoreError, StoreResult, WriteTx};
use crate::core::knowledge::analysis::distinct_terms;
use crate::core::knowledge::bm25;
use crate::core::knowledge::matching::query_terms;
use crate::core::knowledge::{Article, ArticleId, ArticleState, ArticleText, ArticleVisibility};
use crate::core::ticket::TicketNumber;

/// Characters of a ticket's first message indexed as its question.
const QUESTION_CHARS: usize = 4_000;

/// Questions an article learns from: the latest ones, so that one article cannot grow without
/// bound and old wording fades.
const ASKED_QUESTIONS: usize = 30;

/// How an article is tied to a ticket: the core's, as plans name it.
pub use crate::core::knowledge::mail::ArticleLink;

/// One version of an article: who changed it, when and why.
#[derive(Debug, Clone)]
pub struct ArticleVersion {
    pub version: u32,
    pub title: String,
    pub body: String,
    pub changed_by: String,
    pub changed_at: i64,
    pub note: String,
}

fn article_from_row(row: &Row<'_>) -> rusqlite::Result<(Article, Option<String>)> {
    let tags: String = row.get("tags")?;
    let visibility: String = row.get("visibility")?;
    let state: String = row.get("state")?;
    let corrupt = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("kb_articles.{what}").into(),
        )
    };
    Ok((
        Article {
            id: ArticleId(row.get::<_, i64>("id")? as u64),
            text: ArticleText {
                slug: row.get("slug")?,
                title: row.get("title")?,
                body: row.get("body")?,
                language: row.get("language")?,
                tags: serde_json::from_str(&tags).map_err(|_| corrupt("tags"))?,
                queue: row.get("queue")?,
                visibility: ArticleVisibility::parse(&visibility)
                    .ok_or_else(|| corrupt("visibility"))?,
            },
            state: ArticleState::parse(&state).ok_or_else(|| corrupt("state"))?,
            version: row.get::<_, i64>("version")? as u32,
            useful: row.get::<_, i64>("useful")? as u64,
            updated_at: row.get("updated_at")?,
        },
        row.get("created_by").ok(),
    ))
}

const ARTICLE_COLUMNS: &str = "id, slug, title, body, language, tags, queue, visibility, state, version, useful, updated_at, created_by";

impl Reader<'_> {
    pub fn article(&self, id: ArticleId) -> StoreResult<Option<Article>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE id = ?1"
            ))?
            .query_row([id.0 as i64], article_from_row)
            .optional()?
            .map(|(article, _)| article))
    }

    pub fn article_by_slug(&self, slug: &str) -> StoreResult<Option<Article>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE slug = ?1"
            ))?
            .query_row([slug], article_from_row)
            .optional()?
            .map(|(article, _)| article))
    }

    /// Every article, by number, optionally only those in a state.
    pub fn articles(&self, state: Option<ArticleState>) -> StoreResult<Vec<Article>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE ?1 IS NULL OR state = ?1 ORDER BY id"
        ))?;
        let rows = statement.query_map([state.map(ArticleState::as_str)], article_from_row)?;
        rows.map(|row| row.map(|(a, _)| a).map_err(StoreError::from))
            .collect()
    }

    pub fn article_versions(&self, id: ArticleId) -> StoreResult<Vec<ArticleVersion>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT version, title, body, changed_by, changed_at, note FROM kb_versions
             WHERE article = ?1 ORDER BY version",
        )?;
        let rows = statement.query_map([id.0 as i64], |row| {
            Ok(ArticleVersion {
                version: row.get::<_, i64>(0)? as u32,
                title: row.get(1)?,
                body: row.get(2)?,
                changed_by: row.get(3)?,
                changed_at: row.get(4)?,
                note: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tickets tied to an article, as (relation, ticket), oldest first.
    pub fn article_links(&self, id: ArticleId) -> StoreResult<Vec<(String, TicketNumber)>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT relation, ticket FROM kb_links WHERE article = ?1 ORDER BY at, ticket",
        )?;
        let rows = statement.query_map([id.0 as i64], |row| {
            Ok((row.get(0)?, TicketNumber(row.get::<_, i64>(1)? as u64)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The articles tied to a ticket by `relation`, oldest first.
    pub fn ticket_articles(
        &self,
        ticket: TicketNumber,
        relation: ArticleLink,
    ) -> StoreResult<Vec<ArticleId>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT article FROM kb_links WHERE ticket = ?1 AND relation = ?2 ORDER BY at, article",
        )?;
        let rows = statement.query_map(params![ticket.0 as i64, relation.as_str()], |row| {
            Ok(ArticleId(row.get::<_, i64>(0)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Terms as the article columns keep them.
fn joined(terms: &[String]) -> String {
    terms.join(" ")
}

/// An article's title, tags and body as the index holds them.
fn index_columns(text: &ArticleText) -> (String, String, String) {
    let language = &text.language;
    let title = indexed(language, &distinct_terms(&text.title, language));
    let tags = indexed(language, &distinct_terms(&text.tags.join(" "), language));
    let body = indexed(
        language,
        &crate::core::knowledge::analysis::terms(&text.body, language),
    );
    (title, tags, body)
}

impl WriteTx<'_> {
    /// Saves an article by its slug: a new one at version 1, or, when its text changed, the
    /// next version. Returns the article's number and version.
    pub fn save_article(
        &self,
        text: &ArticleText,
        state: ArticleState,
        by: &str,
        note: &str,
        now: i64,
    ) -> StoreResult<(ArticleId, u32)> {
        let tags = serde_json::to_string(&text.tags).unwrap_or_else(|_| "[]".into());
        let title_terms = joined(&distinct_terms(
            &format!("{}\n{}", text.title, text.tags.join(" ")),
            &text.language,
        ));
        let existing = self.read().article_by_slug(&text.slug)?;
        let (id, version) = match existing {
            Some(old) if old.text == *text && old.state == state => {
                return Ok((old.id, old.version));
            }
            Some(old) => {
                let version = match old.text == *text {
                    true => old.version,
                    false => old.version + 1,
                };
                self.tx
                    .prepare_cached(
                        "UPDATE kb_articles SET title = ?2, body = ?3, language = ?4, tags = ?5, queue = ?6,
                                visibility = ?7, state = ?8, version = ?9, title_terms = ?10, updated_at = ?11
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        old.id.0 as i64,
                        text.title,
                        text.body,
                        text.language,
                        tags,
                        text.queue,
                        text.visibility.as_str(),
                        state.as_str(),
                        version,
                        title_terms,
                        now
                    ])?;
                if version == old.version {
                    self.reindex_article(old.id)?;
                    return Ok((old.id, version));
                }
                (old.id, version)
            }
            None => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO kb_articles (slug, title, body, language, tags, queue, visibility, state,
                                                  title_terms, created_by, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                    )?
                    .execute(params![
                        text.slug,
                        text.title,
                        text.body,
                        text.language,
                        tags,
                        text.queue,
                        text.visibility.as_str(),
                        state.as_str(),
                        title_terms,
                        by,
                        now
                    ])?;
                (ArticleId(self.tx.last_insert_rowid() as u64), 1)
            }
        };
        self.tx
            .prepare_cached(
                "INSERT INTO kb_versions (article, version, title, body, tags, changed_by, changed_at, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![id.0 as i64, version, text.title, text.body, tags, by, now, note])?;
        self.reindex_article(id)?;
        Ok((id, version))
    }

    /// Moves an article to `state`; a version row records who did it.
    pub fn set_article_state(
        &self,
        id: ArticleId,
        state: ArticleState,
        by: &str,
        now: i64,
    ) -> StoreResult<()> {
        let changed = self
            .tx
            .prepare_cached("UPDATE kb_articles SET state = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id.0 as i64, state.as_str(), now])?;
        if changed == 0 {
            return Err(StoreError::Refused(format!("there is no article {id}")));
        }
        self.tx
            .prepare_cached(
                "INSERT INTO kb_versions (article, version, title, body, tags, changed_by, changed_at, note)
                 SELECT id, version, title, body, tags, ?2, ?3, ?4 FROM kb_articles WHERE id = ?1
                 ON CONFLICT (article, version) DO UPDATE SET changed_by = excluded.changed_by,
                     changed_at = excluded.changed_at, note = kb_versions.note || '; ' || excluded.note",
            )?
            .execute(params![id.0 as i64, by, now, state.as_str()])?;
        self.reindex_article(id)
    }

    /// Ties an article to a ticket; `solved` and `answered` count towards its usefulness, once
    /// per ticket.
    pub fn link_article(
        &self,
        id: ArticleId,
        ticket: TicketNumber,
        link: ArticleLink,
        now: i64,
    ) -> StoreResult<()> {
        let added = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO kb_links (article, ticket, relation, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id.0 as i64, ticket.0 as i64, link.as_str(), now])?;
        if added > 0 && matches!(link, ArticleLink::Solved | ArticleLink::Answered) {
            self.tx
                .prepare_cached("UPDATE kb_articles SET useful = useful + 1 WHERE id = ?1")?
                .execute([id.0 as i64])?;
        }
        if added > 0 && link != ArticleLink::Source {
            self.add_to_counter(super::Counter::KnowledgeAnswers, link.as_str(), "", 1)?;
        }
        if added > 0 && link != ArticleLink::Suggested {
            self.reindex_article(id)?;
        }
        Ok(())
    }

    /// The search index holds an article exactly when it is published, with the questions of
    /// the tickets it came from or answered.
    pub(super) fn reindex_article(&self, id: ArticleId) -> StoreResult<()> {
        self.tx
            .prepare_cached("DELETE FROM kb_fts WHERE rowid = ?1")?
            .execute([id.0 as i64])?;
        self.unpost_article(id)?;
        self.uncount_terms(ARTICLE_TERMS, id.0 as i64)?;
        let Some(article) = self.read().article(id)? else {
            return Ok(());
        };
        let language = &article.text.language;
        let mut asked = Vec::new();
        {
            let mut questions = self.tx.prepare_cached(
                "SELECT t.subject, (SELECT substr(m.text, 1, ?3) FROM messages m
                                    WHERE m.ticket = t.number AND m.direction = 'in' ORDER BY m.id LIMIT 1)
                 FROM (SELECT DISTINCT ticket, max(at) AS at FROM kb_links
                       WHERE article = ?1 AND relation IN ('source', 'solved', 'answered')
                       GROUP BY ticket ORDER BY at DESC LIMIT ?2) l
                 JOIN tickets t ON t.number = l.ticket",
            )?;
            let rows = questions.query_map(
                params![id.0 as i64, ASKED_QUESTIONS as i64, QUESTION_CHARS as i64],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
            )?;
            for row in rows {
                let (subject, text) = row?;
                asked.extend(query_terms(&subject, &text.unwrap_or_default(), language));
            }
        }
        let (title, tags, body) = index_columns(&article.text);
        let asked = indexed(language, &asked);
        let terms = distinct_terms(
            &format!(
                "{}\n{}\n{}",
                article.text.title,
                article.text.tags.join(" "),
                article.text.body
            ),
            language,
        );
        self.tx
            .prepare_cached("UPDATE kb_articles SET terms = ?2 WHERE id = ?1")?
            .execute(params![id.0 as i64, joined(&terms)])?;
        if article.state != ArticleState::Published {
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "INSERT INTO kb_fts (rowid, title, tags, body, asked) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![id.0 as i64, title, tags, body, asked])?;
        self.post_article(id, [&title, &tags, &body, &asked])?;
        self.count_terms(ARTICLE_TERMS, id.0 as i64, &[&title, &tags, &body, &asked])?;
        Ok(())
    }

    /// Writes an article's postings (migration 0026) from the fields it has in kb_fts, split
    /// as FTS5's tokenizer splits them (letters, digits and `_`, lower case).
    fn post_article(&self, id: ArticleId, fields: [&str; bm25::FIELDS]) -> StoreResult<()> {
        let mut occurrences: BTreeMap<String, [u32; bm25::FIELDS]> = BTreeMap::new();
        let mut length = 0u32;
        for (field, text) in fields.iter().enumerate() {
            for token in text
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|token| !token.is_empty())
            {
                occurrences.entry(token.to_lowercase()).or_default()[field] += 1;
                length += 1;
            }
        }
        let mut post = self.tx.prepare_cached(
            "INSERT INTO kb_article_postings (term, article, title, tags, body, asked, length)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (term, [title, tags, body, asked]) in &occurrences {
            post.execute(params![term, id.0 as i64, title, tags, body, asked, length])?;
        }
        self.tx
            .prepare_cached(
                "UPDATE kb_article_totals SET articles = articles + 1, terms = terms + ?1 WHERE id = 1",
            )?
            .execute([length])?;
        Ok(())
    }

    /// Takes an article's postings out. The totals keep it, as FTS5's do (migration 0026).
    fn unpost_article(&self, id: ArticleId) -> StoreResult<()> {
        self.tx
            .prepare_cached("DELETE FROM kb_article_postings WHERE article = ?1")?
            .execute([id.0 as i64])?;
        Ok(())
    }

    /// Indexes a ticket with a documented resolution: its subject and first message as the
    /// question, the resolution as the answer.
    pub(super) fn index_resolved_ticket(&self, number: TicketNumber) -> StoreResult<()> {
        let row: Option<(String, String, Option<String>, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT t.subject, t.language, t.resolution,
                        (SELECT substr(m.text, 1, ?2) FROM messages m
                         WHERE m.ticket = t.number AND m.direction = 'in' ORDER BY m.id LIMIT 1)
                 FROM tickets t WHERE t.number = ?1",
            )?
            .query_row(params![number.0 as i64, QUESTION_CHARS as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        self.tx
            .prepare_cached("DELETE FROM kb_ticket_fts WHERE rowid = ?1")?
            .execute([number.0 as i64])?;
        self.uncount_terms(TICKET_TERMS, number.0 as i64)?;
        let Some((subject, language, Some(resolution), first)) = row else {
            return Ok(());
        };
        let analyse = |text: &str| {
            indexed(
                &language,
                &crate::core::knowledge::analysis::terms(text, &language),
            )
        };
        let question = analyse(&format!("{subject}\n{}", first.unwrap_or_default()));
        let resolution = analyse(&resolution);
        self.tx
            .prepare_cached(
                "INSERT INTO kb_ticket_fts (rowid, question, resolution) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![number.0 as i64, question, resolution])?;
        self.count_terms(TICKET_TERMS, number.0 as i64, &[&question, &resolution])?;
        Ok(())
    }

    /// Adds one document to the count of each distinct term of `columns` (migration 0023), and
    /// notes them as `key`'s in `index`'s term tables.
    fn count_terms(&self, index: TermCounts, key: i64, columns: &[&str]) -> StoreResult<()> {
        let distinct: std::collections::BTreeSet<String> = columns
            .iter()
            .flat_map(|column| column.split_whitespace())
            .map(str::to_lowercase)
            .collect();
        let mut count = self.tx.prepare_cached(&format!(
            "INSERT INTO {} (term, doc) VALUES (?1, 1)
             ON CONFLICT (term) DO UPDATE SET doc = doc + 1",
            index.counts
        ))?;
        for term in &distinct {
            count.execute([term])?;
        }
        let terms = distinct.into_iter().collect::<Vec<_>>().join(" ");
        self.tx
            .prepare_cached(&format!("INSERT INTO {} VALUES (?1, ?2)", index.documents))?
            .execute(params![key, terms])?;
        Ok(())
    }

    /// Takes out of `index`'s counts what `key`'s last indexing added.
    fn uncount_terms(&self, index: TermCounts, key: i64) -> StoreResult<()> {
        let terms: Option<String> = self
            .tx
            .prepare_cached(&format!(
                "DELETE FROM {} WHERE {} = ?1 RETURNING terms",
                index.documents, index.key
            ))?
            .query_row([key], |row| row.get(0))
            .optional()?;
        let mut uncount = self.tx.prepare_cached(&format!(
            "UPDATE {} SET doc = doc - 1 WHERE term = ?1",
            index.counts
        ))?;
        let mut gone = self.tx.prepare_cached(&format!(
            "DELETE FROM {} WHERE term = ?1 AND doc <= 0",
            index.counts
        ))?;
        for term in terms.as_deref().unwrap_or("").split_whitespace() {
            uncount.execute([term])?;
            gone.execute([term])?;
        }
        Ok(())
    }
}

/// A knowledge index's term tables (migration 0023): documents per term, and each document's
/// distinct terms.
#[derive(Clone, Copy)]
struct TermCounts {
    counts: &'static str,
    documents: &'static str,
    key: &'static str,
}

const TICKET_TERMS: TermCounts = TermCounts {
    counts: "kb_ticket_terms",
    documents: "kb_ticket_indexed",
    key: "ticket",
};

const ARTICLE_TERMS: TermCounts = TermCounts {
    counts: "kb_article_terms",
    documents: "kb_article_indexed",
    key: "article",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::{ArticleSearch, Store};

    fn term_counts(tx: &WriteTx<'_>, table: &str) -> Vec<(String, i64)> {
        tx.prepare(&format!("SELECT term, doc FROM {table} ORDER BY term"))
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `kb_article_terms` holds what fts5vocab counts in the article index, through a draft,
    /// a corrected text published, a second article and a retirement.
    #[test]
    fn article_term_counts_follow_the_index() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        let same = |tx: &WriteTx<'_>| {
            assert_eq!(
                term_counts(tx, "kb_article_terms"),
                term_counts(tx, "kb_fts_terms")
            )
        };
        let mut text = article("jam-fr", "Bourrage papier", "Ouvrez le capot.", "fr");
        let (id, _) = tx
            .save_article(&text, ArticleState::Published, "bob", "import", 1)
            .unwrap();
        same(&tx);
        assert!(!term_counts(&tx, "kb_article_terms").is_empty());
        text.body = "Ouvrez le capot avant, puis retirez la feuille.".into();
        tx.save_article(&text, ArticleState::Published, "carol", "corrected", 2)
            .unwrap();
        same(&tx);
        let other = article(
            "toner-fr",
            "Toner vide",
            "Changez la cartouche de toner.",
            "fr",
        );
        tx.save_article(&other, ArticleState::Published, "bob", "import", 3)
            .unwrap();
        same(&tx);
        tx.set_article_state(id, ArticleState::Retired, "dave", 4)
            .unwrap();
        same(&tx);
        assert!(term_counts(&tx, "kb_article_terms")
            .iter()
            .all(|(term, _)| !term.contains("bourrag")));
    }

    /// `kb_ticket_terms` holds what fts5vocab counts in the resolved-ticket index, through
    /// indexing, indexing again with another resolution, and losing the resolution.
    #[test]
    fn ticket_term_counts_follow_the_index() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        let ticket = |number: i64, subject: &str, resolution: Option<&str>| {
            tx.execute(
                "INSERT INTO tickets (number, subject, requester, status, priority, level, queue,
                                      language, created_at, updated_at, resolution)
                 VALUES (?1, ?2, 'a@x.test', 'resolved', 'normal', 1, 'it', 'en', 0, 0, ?3)
                 ON CONFLICT (number) DO UPDATE SET resolution = ?3",
                params![number, subject, resolution],
            )
            .unwrap();
            tx.index_resolved_ticket(TicketNumber(number as u64))
                .unwrap();
        };
        let counts = |table: &str| term_counts(&tx, table);
        ticket(
            1,
            "Printer jams on floor two",
            Some("Replaced the printer roller"),
        );
        ticket(2, "Printer offline", Some("Restarted the spooler"));
        ticket(3, "VPN drops", None);
        assert!(!counts("kb_ticket_terms").is_empty());
        assert_eq!(counts("kb_ticket_terms"), counts("kb_ticket_fts_terms"));
        ticket(
            1,
            "Printer jams on floor two",
            Some("Cleaned the paper path"),
        );
        assert_eq!(counts("kb_ticket_terms"), counts("kb_ticket_fts_terms"));
        ticket(2, "Printer offline", None);
        assert_eq!(counts("kb_ticket_terms"), counts("kb_ticket_fts_terms"));
        let printer = counts("kb_ticket_terms")
            .into_iter()
            .filter(|(term, _)| term.starts_with("en_print"))
            .collect::<Vec<_>>();
        assert_eq!(printer.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [1]);
    }

    fn article(slug: &str, title: &str, body: &str, language: &str) -> ArticleText {
        ArticleText {
            slug: slug.into(),
            title: title.into(),
            body: body.into(),
            language: language.into(),
            tags: vec![],
            queue: None,
            visibility: ArticleVisibility::Public,
        }
    }

    fn search<'a>(terms: &'a [String], language: &'a str) -> ArticleSearch<'a> {
        ArticleSearch {
            terms,
            language,
            queue: Some("it"),
            include_internal: false,
            limit: 10,
        }
    }

    /// Articles of several lengths sharing words, some with tags, in French and English; one
    /// retired and one edited after.
    fn varied_articles(store: &mut Store) {
        let tx = store.write().unwrap();
        let texts = [
            (
                "jam",
                "Bourrage papier",
                "Ouvrez le capot de l'imprimante et retirez le papier.",
                "fr",
                vec!["imprimante"],
            ),
            (
                "toner",
                "Toner vide",
                "Changez la cartouche de toner de l'imprimante.",
                "fr",
                vec![],
            ),
            (
                "vpn",
                "VPN refusé",
                "Le certificat VPN a expiré: demandez-en un nouveau à l'accueil, papier en main.",
                "fr",
                vec!["vpn", "réseau"],
            ),
            (
                "wifi",
                "Wifi lent",
                "Redémarrez la borne wifi. Si le wifi reste lent, appelez le support réseau.",
                "fr",
                vec![],
            ),
            (
                "jam-en",
                "Paper jam",
                "Open the printer's cover and take the paper out.",
                "en",
                vec![],
            ),
            (
                "old",
                "Imprimante ancienne",
                "Papier papier papier.",
                "fr",
                vec![],
            ),
        ];
        let mut ids = Vec::new();
        for (slug, title, body, language, tags) in texts {
            let mut text = article(slug, title, body, language);
            text.tags = tags.into_iter().map(str::to_string).collect();
            ids.push(
                tx.save_article(&text, ArticleState::Published, "bob", "import", 1)
                    .unwrap()
                    .0,
            );
        }
        tx.set_article_state(ids[5], ArticleState::Retired, "bob", 2)
            .unwrap();
        let mut edited = article("toner", "Toner vide ou bas", "Changez la cartouche.", "fr");
        edited.tags = vec!["imprimante".into()];
        tx.save_article(&edited, ArticleState::Published, "bob", "edit", 3)
            .unwrap();
        tx.commit().unwrap();
    }

    /// FTS5's own ranking of the articles holding any of `terms`, best first.
    fn fts5_ranking(store: &Store, language: &str, terms: &[String]) -> Vec<(u64, f64)> {
        let expression = super::super::knowledge_search::indexed_terms(language, terms)
            .split(' ')
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR ");
        store
            .conn
            .prepare(
                "SELECT rowid, -bm25(kb_fts, 5.0, 3.0, 1.0, 0.3) FROM kb_fts WHERE kb_fts MATCH ?1
                 ORDER BY bm25(kb_fts, 5.0, 3.0, 1.0, 0.3), rowid",
            )
            .unwrap()
            .query_map([expression], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get(1)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_postings_rank_articles_as_fts5s_bm25_does() {
        let mut store = Store::open_memory().unwrap();
        varied_articles(&mut store);
        for (subject, body) in [
            ("imprimante bloquée", "bourrage de papier dans l'imprimante"),
            ("wifi", "le réseau wifi est lent, le vpn aussi"),
            ("toner", "cartouche vide"),
            ("papier", "papier"),
        ] {
            let terms = query_terms(subject, body, "fr");
            let expected = fts5_ranking(&store, "fr", &terms);
            assert!(!expected.is_empty(), "{terms:?}");
            let candidates = store
                .read()
                .search_articles(&ArticleSearch {
                    terms: &terms,
                    language: "fr",
                    queue: None,
                    include_internal: true,
                    limit: 10,
                })
                .unwrap();
            let ours: Vec<(u64, f64)> = candidates.iter().map(|c| (c.key.0, c.score)).collect();
            assert_eq!(
                ours.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                expected.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                "{terms:?}"
            );
            for ((_, ours), (_, theirs)) in ours.iter().zip(&expected) {
                assert!(
                    (ours - theirs).abs() < 1e-9,
                    "{ours} against {theirs} for {terms:?}"
                );
            }
        }
    }

    #[test]
    fn the_postings_migration_fills_them_from_the_index() {
        let mut store = Store::open_memory().unwrap();
        varied_articles(&mut store);
        type Posting = (String, i64, i64, i64, i64, i64, i64);
        let written = |store: &Store| -> (Vec<Posting>, (i64, i64)) {
            let postings = store
                .conn
                .prepare("SELECT * FROM kb_article_postings ORDER BY term, article")
                .unwrap()
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let totals = store
                .conn
                .query_row("SELECT articles, terms FROM kb_article_totals", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            (postings, totals)
        };
        // Seven put in the index (six, and the edited one again), as FTS5 counts them.
        assert_eq!(written(&store).1, (7, 55));
        // A store upgraded to 0026 starts from the articles in the index now.
        store
            .conn
            .execute("UPDATE kb_article_totals SET articles = 5, terms = 44", [])
            .unwrap();
        let kept = written(&store);
        store
            .conn
            .execute_batch("DELETE FROM kb_article_postings; DELETE FROM kb_article_totals;")
            .unwrap();
        // Migration 0026 from its filling on, over the same index.
        let migration = super::super::MIGRATIONS[25];
        let fill = &migration[migration.find("CREATE VIRTUAL TABLE temp").unwrap()..];
        store.conn.execute_batch(fill).unwrap();
        assert_eq!(written(&store), kept);
    }

    #[test]
    fn published_articles_are_found_in_their_language_only() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        let jam = article(
            "jam-fr",
            "Bourrage papier",
            "Ouvrez le capot de l'imprimante.",
            "fr",
        );
        let (jam_id, v) = tx
            .save_article(&jam, ArticleState::Published, "bob", "import", 1)
            .unwrap();
        assert_eq!(v, 1);
        tx.save_article(
            &article("jam-en", "Paper jam", "Open the printer's cover.", "en"),
            ArticleState::Published,
            "bob",
            "import",
            1,
        )
        .unwrap();
        let draft = article("vpn-fr", "VPN", "Certificat expiré de l'imprimante", "fr");
        tx.save_article(&draft, ArticleState::Draft, "bob", "draft", 1)
            .unwrap();
        let mut internal = article(
            "mfa-fr",
            "Réinitialiser MFA imprimante",
            "Console admin.",
            "fr",
        );
        internal.visibility = ArticleVisibility::Internal;
        tx.save_article(&internal, ArticleState::Published, "bob", "import", 1)
            .unwrap();
        let mut other_queue = article("badge-fr", "Badge imprimante", "Accueil.", "fr");
        other_queue.queue = Some("facilities".into());
        tx.save_article(&other_queue, ArticleState::Published, "bob", "import", 1)
            .unwrap();
        tx.commit().unwrap();

        let terms = query_terms("imprimantes bloquees", "bourrage de papier", "fr");
        let found = store.read().search_articles(&search(&terms, "fr")).unwrap();
        assert_eq!(found.iter().map(|c| c.key).collect::<Vec<_>>(), [jam_id]);
        assert!(found[0].score > 0.0);
        assert!(found[0].title_terms.contains(&"bourrag".to_string()));
        let mut agents = search(&terms, "fr");
        agents.include_internal = true;
        agents.queue = None;
        assert_eq!(store.read().search_articles(&agents).unwrap().len(), 3);
    }

    #[test]
    fn a_changed_text_is_a_new_version_and_retiring_leaves_the_index() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        let mut text = article("jam-fr", "Bourrage papier", "Ouvrez le capot.", "fr");
        let (id, _) = tx
            .save_article(&text, ArticleState::Draft, "bob", "drafted", 1)
            .unwrap();
        assert_eq!(
            tx.save_article(&text, ArticleState::Draft, "bob", "same", 2)
                .unwrap(),
            (id, 1)
        );
        text.body = "Ouvrez le capot avant, puis retirez la feuille.".into();
        assert_eq!(
            tx.save_article(&text, ArticleState::Draft, "carol", "corrected", 3)
                .unwrap(),
            (id, 2)
        );
        tx.set_article_state(id, ArticleState::Published, "carol", 4)
            .unwrap();
        tx.commit().unwrap();
        let terms = query_terms("bourrage", "", "fr");
        assert_eq!(
            store
                .read()
                .search_articles(&search(&terms, "fr"))
                .unwrap()
                .len(),
            1
        );
        let versions = store.read().article_versions(id).unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[1].changed_by, "carol");
        assert!(versions[1].note.contains("published"), "{versions:?}");

        let tx = store.write().unwrap();
        tx.set_article_state(id, ArticleState::Retired, "dave", 5)
            .unwrap();
        tx.commit().unwrap();
        assert!(store
            .read()
            .search_articles(&search(&terms, "fr"))
            .unwrap()
            .is_empty());
        assert_eq!(
            store.read().article(id).unwrap().unwrap().state,
            ArticleState::Retired
        );
        let tx = store.write().unwrap();
        assert!(matches!(
            tx.set_article_state(ArticleId(99), ArticleState::Retired, "dave", 5),
            Err(StoreError::Refused(_))
        ));
    }
}

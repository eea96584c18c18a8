//! Searching the knowledge indexes: published articles for a request, resolved tickets like it.
//!
//! The indexes hold analysed terms (`core::knowledge::analysis`) prefixed with their language
//! (`fr_imprim`), so that a search reads only its language's postings: a filter on a language
//! column cost as much as the search itself at a million tickets. A search reads the postings
//! of its rarest terms only. Articles are ranked here with `core::knowledge::bm25` over the
//! postings table of migration 0026 (FTS5's `bm25()` cost two thirds of a new request's search
//! at intake); resolved tickets inside their FTS5 index, the best few rows joined.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension};

use super::{Reader, StoreResult};
use crate::core::knowledge::bm25;
use crate::core::knowledge::matching::{judge, Candidate, Confidence, Judged, TermStats};
use crate::core::knowledge::ArticleId;
use crate::core::ticket::TicketNumber;

/// What an article search may return.
#[derive(Debug, Clone)]
pub struct ArticleSearch<'a> {
    /// Analysed terms (`matching::query_terms`).
    pub terms: &'a [String],
    pub language: &'a str,
    /// `None`: articles of every queue; `Some(q)`: those of `q` and those for all queues.
    pub queue: Option<&'a str>,
    pub include_internal: bool,
    pub limit: usize,
}

/// A resolved ticket like the request, with its resolution.
#[derive(Debug, Clone)]
pub struct SimilarTicket {
    pub number: TicketNumber,
    pub subject: String,
    pub resolution: String,
    pub score: f64,
}

/// One search for a request, judged among public articles (what a requester may be offered)
/// and among all of them (what agents are shown).
#[derive(Debug, Clone)]
pub struct RequestMatches {
    pub for_requester: Vec<Judged<ArticleId>>,
    pub for_agents: Vec<Judged<ArticleId>>,
}

/// A candidate and whether its article is public.
type PublicOrNot = (Candidate<ArticleId>, bool);

/// Most terms a search reads the index for.
const MATCH_TERMS: usize = 12;

/// Most postings (documents holding a term, summed over the terms) a search reads beyond its
/// rarest term: a term half the documents hold costs the most to read and tells the least.
const POSTINGS_BUDGET: u64 = 500;

/// Resolved tickets a similar-ticket search looks through: the latest ones by number. Ranking
/// every match among a million tickets took 15 to 30 ms, and the latest resolutions are the
/// ones that still apply.
const SIMILAR_TICKETS_WINDOW: i64 = 100_000;

/// Rows ranked in the index for each row a search returns: the rest of the filter (visibility,
/// queue, state) applies to these.
const RANKED_PER_RESULT: usize = 5;

/// The prefix of a language's terms in the indexes (`fr_`).
fn term_prefix(language: &str) -> String {
    let mut prefix: String = language
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    prefix.push('_');
    prefix
}

/// Terms as an index column holds them.
pub fn indexed_terms(language: &str, terms: &[String]) -> String {
    let prefix = term_prefix(language);
    terms
        .iter()
        .map(|t| format!("{prefix}{t}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terms worth reading the index for, rarest first: those it holds at all, at most
/// `MATCH_TERMS`, and past the rarest only while within `POSTINGS_BUDGET`.
fn selective_terms(terms: &[String], holding: impl Fn(&str) -> Option<u64>) -> Vec<String> {
    let mut held: Vec<(u64, &String)> = terms
        .iter()
        .filter_map(|t| holding(t).filter(|n| *n > 0).map(|n| (n, t)))
        .collect();
    held.sort();
    let mut read = 0;
    held.into_iter()
        .enumerate()
        .take_while(|(index, (n, _))| {
            read += n;
            *index == 0 || read <= POSTINGS_BUDGET
        })
        .take(MATCH_TERMS)
        .map(|(_, (_, t))| t.clone())
        .collect()
}

/// The FTS5 query for any of `terms` in `language`, each a quoted string (terms are letters
/// and digits, but a quote would end the string, so none survives).
fn match_expression(language: &str, terms: &[String]) -> Option<String> {
    let prefix = term_prefix(language);
    let quoted: Vec<String> = terms
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| format!("\"{prefix}{}\"", t.replace('"', "")))
        .collect();
    (!quoted.is_empty()).then(|| quoted.join(" OR "))
}

impl Reader<'_> {
    /// Whether there is anything to search: an article, or a resolved ticket in the index.
    pub fn knowledge_searchable(&self) -> StoreResult<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM kb_articles)
                     OR EXISTS (SELECT 1 FROM kb_ticket_fts_docsize)",
            )?
            .query_row([], |row| row.get(0))?)
    }

    /// How many documents of an index hold each of `terms` in `language`, from the index's
    /// table of counts (`vocabulary`: `kb_article_terms`, `kb_ticket_terms`); terms no document
    /// holds are left out.
    fn holding(
        &self,
        vocabulary: &str,
        language: &str,
        terms: &[String],
        into: &mut HashMap<String, u64>,
    ) -> StoreResult<()> {
        // One lookup by the table's key a term: cheaper than building a JSON array of them for
        // one statement to join with (half a search's term counting went to that).
        let mut statement = self
            .conn
            .prepare_cached(&format!("SELECT doc FROM {vocabulary} WHERE term = ?1"))?;
        let mut indexed = term_prefix(language);
        let prefix = indexed.len();
        for term in terms {
            if into.contains_key(term) {
                continue;
            }
            indexed.truncate(prefix);
            indexed.push_str(term);
            let doc: Option<i64> = statement
                .query_row([&indexed], |row| row.get(0))
                .optional()?;
            if let Some(doc) = doc {
                into.insert(term.clone(), doc as u64);
            }
        }
        Ok(())
    }

    /// How many published articles in `language` hold each of `terms`. The total is the number
    /// of articles ever written, read in constant time: the weights only need its magnitude.
    pub fn article_term_stats(&self, language: &str, terms: &[String]) -> StoreResult<TermStats> {
        let documents: i64 = self
            .conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM kb_articles")?
            .query_row([], |row| row.get(0))?;
        let mut holding = HashMap::new();
        // No article yet: nothing holds any term (and no fts5vocab cursor is opened).
        if documents > 0 {
            self.holding("kb_article_terms", language, terms, &mut holding)?;
        }
        Ok(TermStats {
            documents: documents as u64,
            holding,
        })
    }

    /// The candidates, each with whether it is public: the articles holding the request's
    /// rarest terms ranked by BM25 over their postings (migration 0026), the best
    /// `RANKED_PER_RESULT` a result looked at in order for the rest of the filter.
    fn article_candidates(
        &self,
        search: &ArticleSearch<'_>,
        stats: &TermStats,
    ) -> StoreResult<Vec<PublicOrNot>> {
        let read = selective_terms(search.terms, |t| stats.holding.get(t).copied());
        if read.is_empty() {
            return Ok(Vec::new());
        }
        let collection = self
            .conn
            .prepare_cached("SELECT articles, terms FROM kb_article_totals WHERE id = 1")?
            .query_row([], |row| {
                Ok(bm25::Collection {
                    documents: row.get::<_, i64>(0)?.max(0) as u64,
                    terms: row.get::<_, i64>(1)?.max(0) as u64,
                })
            })
            .optional()?
            .unwrap_or(bm25::Collection {
                documents: 0,
                terms: 0,
            });
        let mut postings_of = self.conn.prepare_cached(
            "SELECT article, title, tags, body, asked, length FROM kb_article_postings WHERE term = ?1",
        )?;
        let prefix = term_prefix(search.language);
        let mut postings = Vec::with_capacity(read.len());
        for term in &read {
            let list = postings_of
                .query_map([format!("{prefix}{term}")], |row| {
                    Ok(bm25::Posting {
                        document: row.get::<_, i64>(0)? as u64,
                        occurrences: [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?],
                        length: row.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            postings.push(list);
        }
        let mut article = self.conn.prepare_cached(
            "SELECT title_terms, terms, visibility = 'public' FROM kb_articles
             WHERE id = ?1 AND language = ?2 AND state = 'published'
               AND (?3 OR visibility = 'public')
               AND (?4 IS NULL OR queue IS NULL OR queue = ?4)",
        )?;
        // Of an article's terms only those the request has count (`judge`'s shared terms): an
        // article holds hundreds, and copying them all was most of a search's cost.
        let asked: HashSet<&str> = search.terms.iter().map(String::as_str).collect();
        let mut candidates = Vec::new();
        for (id, score) in bm25::rank(collection, &postings)
            .into_iter()
            .take(search.limit * RANKED_PER_RESULT)
        {
            let row = article
                .query_row(
                    params![
                        id as i64,
                        search.language,
                        search.include_internal,
                        search.queue
                    ],
                    |row| {
                        let title_terms = row
                            .get_ref(0)?
                            .as_str()?
                            .split(' ')
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                            .collect();
                        let terms = row
                            .get_ref(1)?
                            .as_str()?
                            .split(' ')
                            .filter(|t| asked.contains(t))
                            .map(str::to_string)
                            .collect();
                        Ok((title_terms, terms, row.get::<_, bool>(2)?))
                    },
                )
                .optional()?;
            if let Some((title_terms, terms, public)) = row {
                candidates.push((
                    Candidate {
                        key: ArticleId(id),
                        score,
                        title_terms,
                        terms,
                    },
                    public,
                ));
                if candidates.len() == search.limit {
                    break;
                }
            }
        }
        Ok(candidates)
    }

    /// Published articles ranked by BM25 (title 5, tags 3, body 1, questions asked 0.3), best
    /// first, as candidates for `matching::judge`.
    pub fn search_articles(
        &self,
        search: &ArticleSearch<'_>,
    ) -> StoreResult<Vec<Candidate<ArticleId>>> {
        let stats = self.article_term_stats(search.language, search.terms)?;
        Ok(self
            .article_candidates(search, &stats)?
            .into_iter()
            .map(|(candidate, _)| candidate)
            .collect())
    }

    /// The store's candidates for `search`, each judged against `confidence`: the confident
    /// ones, best first, are what may be suggested.
    pub fn judged_articles(
        &self,
        search: &ArticleSearch<'_>,
        confidence: &Confidence,
    ) -> StoreResult<Vec<Judged<ArticleId>>> {
        let (candidates, stats) = self.weighed_candidates(search)?;
        let candidates: Vec<_> = candidates.into_iter().map(|(c, _)| c).collect();
        Ok(judge(search.terms, &candidates, &stats, confidence))
    }

    /// One search, judged twice: among public articles only (what a requester may be offered)
    /// and among all of them (what agents are shown). `search.include_internal` is ignored.
    pub fn judged_for_requesters_and_agents(
        &self,
        search: &ArticleSearch<'_>,
        confidence: &Confidence,
    ) -> StoreResult<RequestMatches> {
        let every = ArticleSearch {
            include_internal: true,
            ..search.clone()
        };
        let (candidates, stats) = self.weighed_candidates(&every)?;
        let public: Vec<_> = candidates
            .iter()
            .filter(|(_, public)| *public)
            .map(|(c, _)| c.clone())
            .collect();
        let all: Vec<_> = candidates.into_iter().map(|(c, _)| c).collect();
        Ok(RequestMatches {
            for_requester: judge(search.terms, &public, &stats, confidence),
            for_agents: judge(search.terms, &all, &stats, confidence),
        })
    }

    /// The candidates of a search, and the weights of their terms and the request's.
    fn weighed_candidates(
        &self,
        search: &ArticleSearch<'_>,
    ) -> StoreResult<(Vec<PublicOrNot>, TermStats)> {
        let mut stats = self.article_term_stats(search.language, search.terms)?;
        let candidates = self.article_candidates(search, &stats)?;
        let titles: Vec<String> = candidates
            .iter()
            .flat_map(|(c, _)| c.title_terms.iter().cloned())
            .collect();
        self.holding(
            "kb_article_terms",
            search.language,
            &titles,
            &mut stats.holding,
        )?;
        Ok((candidates, stats))
    }

    /// Resolved tickets in `language` like the terms, among the latest
    /// `SIMILAR_TICKETS_WINDOW`, best first (question 2, resolution 1).
    pub fn similar_tickets(
        &self,
        terms: &[String],
        language: &str,
        except: Option<TicketNumber>,
        limit: usize,
    ) -> StoreResult<Vec<SimilarTicket>> {
        // No resolved ticket indexed yet: nothing to find (and no fts5vocab cursor opened).
        let indexed: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM kb_ticket_fts_docsize)")?
            .query_row([], |row| row.get(0))?;
        if !indexed {
            return Ok(Vec::new());
        }
        let mut held = HashMap::new();
        self.holding("kb_ticket_terms", language, terms, &mut held)?;
        let read = selective_terms(terms, |t| held.get(t).copied());
        let Some(expression) = match_expression(language, &read) else {
            return Ok(Vec::new());
        };
        let mut statement = self.conn.prepare_cached(
            "SELECT t.number, t.subject, coalesce(t.resolution, ''), -f.rank
             FROM (SELECT rowid, bm25(kb_ticket_fts, 2.0, 1.0) AS rank FROM kb_ticket_fts
                   WHERE kb_ticket_fts MATCH ?1
                     AND rowid > (SELECT coalesce(max(number), 0) FROM tickets) - ?5
                   ORDER BY rank LIMIT ?2) f
             JOIN tickets t ON t.number = f.rowid
             WHERE t.number IS NOT ?3
             ORDER BY f.rank LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                expression,
                limit as i64 + 1,
                except.map(|n| n.0 as i64),
                limit as i64,
                SIMILAR_TICKETS_WINDOW
            ],
            |row| {
                Ok(SimilarTicket {
                    number: TicketNumber(row.get::<_, i64>(0)? as u64),
                    subject: row.get(1)?,
                    resolution: row.get(2)?,
                    score: row.get(3)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_read_the_rarest_terms_within_a_budget() {
        let terms: Vec<String> = ["common", "rare", "unknown", "middle", "rarer"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let holding = |t: &str| match t {
            "common" => Some(POSTINGS_BUDGET),
            "rare" => Some(10),
            "rarer" => Some(2),
            "middle" => Some(POSTINGS_BUDGET / 2),
            _ => None,
        };
        assert_eq!(
            selective_terms(&terms, holding),
            ["rarer", "rare", "middle"]
        );
        // The rarest is read whatever it costs.
        let costly = |_: &str| Some(POSTINGS_BUDGET * 10);
        assert_eq!(selective_terms(&terms, costly).len(), 1);
        let many: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(selective_terms(&many, |_| Some(1)).len(), MATCH_TERMS);
    }

    #[test]
    fn terms_are_quoted_and_prefixed_with_their_language() {
        assert_eq!(match_expression("fr", &[]), None);
        assert_eq!(
            match_expression("fr", &["a\"b".into(), "or".into()]).as_deref(),
            Some("\"fr_ab\" OR \"fr_or\"")
        );
        assert_eq!(indexed_terms("it\" x", &["stamp".into()]), "itx_stamp");
    }
}

//! Which articles, if any, answer a request. A wrong suggestion costs more trust than none: an
//! article is suggested only when the request shares enough of its words, and of its title.
//!
//! The store ranks candidates with BM25 (title and tags above the body); this module takes the
//! ranked candidates and decides, from figures the benchmark (`bench/kb_eval.rs`) tunes.

use std::collections::HashSet;

use super::analysis::distinct_terms;
use crate::core::forward::visible_with_forward;
use crate::core::mail::InboundMail;

/// Most terms taken from a request: the first ones, where people state the problem; the rest
/// of a long mail is history, signatures and disclaimers.
pub const MAX_QUERY_TERMS: usize = 48;

/// The search terms of a request: its subject, then its own text.
pub fn query_terms(subject: &str, text: &str, language: &str) -> Vec<String> {
    let mut terms = distinct_terms(&format!("{subject}\n{text}"), language);
    terms.truncate(MAX_QUERY_TERMS);
    terms
}

/// The search terms of a new request: its subject (a forwarded mail's, when it is one) and its
/// visible text, quoted history and signatures cut, a forwarded mail kept.
pub fn request_terms(mail: &InboundMail, language: &str) -> Vec<String> {
    let visible = visible_with_forward(&mail.text, &mail.subject);
    let subject = visible
        .forwarded
        .as_ref()
        .and_then(|f| f.subject.as_deref())
        .unwrap_or(&mail.subject);
    query_terms(subject, &visible.text, language)
}

/// A candidate as the store found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<K> {
    pub key: K,
    /// BM25, higher is better (the store's rank, negated).
    pub score: f64,
    /// The distinct terms of the article's title and tags.
    pub title_terms: Vec<String>,
    /// The distinct terms of the whole article.
    pub terms: Vec<String>,
}

/// How sure a suggestion must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confidence {
    /// Least BM25 score of a suggestion.
    pub min_score: f64,
    /// Least number of the request's distinct terms the article must contain.
    pub min_shared_terms: usize,
    /// Least share of the article's title and tag terms the request must contain.
    pub min_title_share: f64,
    /// A later suggestion's score must be at least this share of the first one's.
    pub within_best: f64,
    pub max: usize,
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence {
            min_score: 6.0,
            min_shared_terms: 2,
            min_title_share: 0.25,
            within_best: 0.6,
            max: 3,
        }
    }
}

/// How a candidate measures against a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged<K> {
    pub key: K,
    pub score: f64,
    pub shared_terms: usize,
    pub title_share: f64,
    pub confident: bool,
}

/// Every candidate measured, in the store's order, each marked confident or not.
pub fn judge<K: Clone>(
    query: &[String],
    candidates: &[Candidate<K>],
    confidence: &Confidence,
) -> Vec<Judged<K>> {
    let asked: HashSet<&str> = query.iter().map(String::as_str).collect();
    let best = candidates
        .iter()
        .map(|c| c.score)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut suggested = 0;
    candidates
        .iter()
        .map(|candidate| {
            let shared_terms = candidate
                .terms
                .iter()
                .filter(|t| asked.contains(t.as_str()))
                .count();
            let title_share = match candidate.title_terms.len() {
                0 => 0.0,
                n => {
                    candidate
                        .title_terms
                        .iter()
                        .filter(|t| asked.contains(t.as_str()))
                        .count() as f64
                        / n as f64
                }
            };
            let confident = suggested < confidence.max
                && candidate.score >= confidence.min_score
                && candidate.score >= best * confidence.within_best
                && shared_terms >= confidence.min_shared_terms
                && title_share >= confidence.min_title_share;
            if confident {
                suggested += 1;
            }
            Judged {
                key: candidate.key.clone(),
                score: candidate.score,
                shared_terms,
                title_share,
                confident,
            }
        })
        .collect()
}

/// The keys of the confident candidates, best first.
pub fn suggestions<K: Clone>(
    query: &[String],
    candidates: &[Candidate<K>],
    confidence: &Confidence,
) -> Vec<K> {
    judge(query, candidates, confidence)
        .into_iter()
        .filter(|j| j.confident)
        .map(|j| j.key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(key: u32, score: f64, title: &[&str], body: &[&str]) -> Candidate<u32> {
        let title_terms: Vec<String> = title.iter().map(|t| t.to_string()).collect();
        let mut terms = title_terms.clone();
        terms.extend(body.iter().map(|t| t.to_string()));
        Candidate {
            key,
            score,
            title_terms,
            terms,
        }
    }

    fn query(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_confident_match_is_suggested() {
        let asked = query(&["imprim", "bourrag", "papi"]);
        let found = [candidate(
            1,
            12.0,
            &["bourrag", "papi"],
            &["imprim", "capot"],
        )];
        assert_eq!(suggestions(&asked, &found, &Confidence::default()), [1]);
    }

    #[test]
    fn nothing_is_suggested_below_any_threshold() {
        let c = Confidence::default();
        let asked = query(&["imprim", "bourrag", "papi"]);
        // Too low a score.
        let low = [candidate(1, 2.0, &["bourrag", "papi"], &["imprim"])];
        assert!(suggestions(&asked, &low, &c).is_empty());
        // One shared word only.
        let one = [candidate(1, 12.0, &["bourrag", "toner"], &["capot"])];
        assert!(suggestions(&asked, &one, &c).is_empty());
        // Shares body words, none of the title.
        let off_title = [candidate(
            1,
            12.0,
            &["command", "materiel"],
            &["imprim", "papi"],
        )];
        assert!(suggestions(&asked, &off_title, &c).is_empty());
        assert!(suggestions(&asked, &[] as &[Candidate<u32>], &c).is_empty());
    }

    #[test]
    fn at_most_three_and_only_those_close_to_the_best() {
        let c = Confidence::default();
        let asked = query(&["vpn", "certif", "expir", "connect"]);
        let found: Vec<_> = [20.0, 18.0, 15.0, 14.0, 7.0]
            .iter()
            .enumerate()
            .map(|(i, score)| candidate(i as u32, *score, &["vpn", "certif"], &["expir"]))
            .collect();
        assert_eq!(suggestions(&asked, &found, &c), [0, 1, 2]);
        let far = [
            candidate(0, 30.0, &["vpn", "certif"], &["expir"]),
            candidate(1, 10.0, &["vpn", "certif"], &["expir"]),
        ];
        assert_eq!(suggestions(&asked, &far, &c), [0]);
    }

    #[test]
    fn query_terms_are_distinct_and_bounded() {
        let terms = query_terms("VPN", "vpn vpn certificate", "en");
        assert_eq!(terms, ["vpn", "certif"]);
        let long: String = (0..200).map(|i| format!("word{i} ")).collect();
        assert_eq!(query_terms("", &long, "en").len(), MAX_QUERY_TERMS);
    }
}

//! Which articles, if any, answer a request. A wrong suggestion costs more trust than none: an
//! article is suggested only when the request shares enough of its words, and of its title.
//!
//! The store ranks candidates with BM25 (title and tags above the body); this module takes the
//! ranked candidates and decides, from figures the benchmark (`bench/kb_eval.rs`) tunes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::analysis::distinct_terms;
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
/// visible text, quoted history and signatures cut, a forwarded mail kept. Those the parsing
/// thread worked out (`derive_request_terms`) when they are in `language`.
pub fn request_terms<'a>(mail: &'a InboundMail, language: &str) -> Cow<'a, [String]> {
    match mail.derived.request_terms.get() {
        Some((worked_out_in, terms)) if worked_out_in == language => Cow::Borrowed(terms),
        _ => Cow::Owned(terms_of_request(mail, language)),
    }
}

/// Works a new request's search terms out now, on this thread, for `request_terms`.
pub fn derive_request_terms(mail: &InboundMail, language: &str) {
    mail.derived
        .request_terms
        .get_or_init(|| (language.to_string(), terms_of_request(mail, language)));
}

fn terms_of_request(mail: &InboundMail, language: &str) -> Vec<String> {
    let visible = mail.visible();
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
    /// The distinct terms of the whole article; only those of the request count, so a store may
    /// give those alone.
    pub terms: Vec<String>,
}

/// How sure a suggestion must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confidence {
    /// Least confidence (0 to 1, see `confidence_of`) of the first suggestion.
    pub min_confidence: f64,
    /// A later suggestion's score must be at least this share of the first one's.
    pub within_best: f64,
    pub max: usize,
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence {
            min_confidence: 0.65,
            within_best: 0.75,
            max: 3,
        }
    }
}

/// How many indexed articles hold each term: rare terms say more than common ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermStats {
    pub documents: u64,
    /// Articles holding the term; a term absent from the map is in none.
    pub holding: HashMap<String, u64>,
}

impl TermStats {
    /// Inverse document frequency, as BM25 weighs it; `None` for a term no article holds.
    pub fn weight(&self, term: &str) -> Option<f64> {
        let n = *self.holding.get(term)? as f64;
        let total = self.documents.max(1) as f64;
        Some(((total - n + 0.5) / (n + 0.5) + 1.0).ln())
    }
}

/// What is measured of the best candidate to say how sure its suggestion is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// BM25, higher is better.
    pub score: f64,
    /// The score over the next candidate's (capped at 10; alone: 10).
    pub lead: f64,
    /// Share of the weight of the article's title and tags that the request holds.
    pub title_cover: f64,
    /// Distinct terms the request and the article share.
    pub shared_terms: usize,
    /// Distinct terms of the request.
    pub request_terms: usize,
}

/// The weights of the confidence model, a logistic regression over the evidence, fitted by
/// `scripts/kb_fit.py` on the odd-numbered requests of `fixtures/kb` (`cargo bench --bench
/// kb_eval -- --dump`). In words: a high score, a clear lead over the next article and the
/// request naming what the title names raise it; a long request (more chances to share words
/// by accident) lowers it.
const WEIGHTS: [f64; 7] = [-2.441, 0.892, 1.174, 0.218, -1.143, 1.034, 1.314];

/// How sure (0 to 1) a suggestion of the best candidate would be right.
pub fn confidence_of(evidence: &Evidence) -> f64 {
    let score = evidence.score.max(0.01).ln();
    let features = [
        1.0,
        score,
        evidence.lead.clamp(0.01, 10.0).ln(),
        evidence.title_cover,
        (1.0 + evidence.request_terms as f64).ln(),
        (1.0 + evidence.shared_terms as f64).ln(),
        score * evidence.title_cover,
    ];
    let z: f64 = WEIGHTS.iter().zip(features).map(|(w, x)| w * x).sum();
    1.0 / (1.0 + (-z).exp())
}

/// How a candidate measures against a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged<K> {
    pub key: K,
    pub evidence: Evidence,
    /// `confidence_of` the evidence; only the first candidate's decides.
    pub confidence: f64,
    pub confident: bool,
}

/// Every candidate measured, in the store's order (best first), each marked confident or not:
/// the first when its confidence is enough, the next ones (up to `max`) when the first is and
/// they score close to it.
pub fn judge<K: Clone>(
    query: &[String],
    candidates: &[Candidate<K>],
    stats: &TermStats,
    confidence: &Confidence,
) -> Vec<Judged<K>> {
    let asked: HashSet<&str> = query.iter().map(String::as_str).collect();
    let weight_of = |terms: &mut dyn Iterator<Item = &String>| -> f64 {
        terms.filter_map(|t| stats.weight(t)).sum()
    };
    let best = candidates.first().map_or(0.0, |c| c.score);
    let mut first_confident = false;
    candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            let title_weight = weight_of(&mut candidate.title_terms.iter());
            let title_cover = match title_weight > 0.0 {
                true => {
                    weight_of(
                        &mut candidate
                            .title_terms
                            .iter()
                            .filter(|t| asked.contains(t.as_str())),
                    ) / title_weight
                }
                false => 0.0,
            };
            let evidence = Evidence {
                score: candidate.score,
                lead: candidates
                    .get(index + 1)
                    .map_or(10.0, |next| candidate.score / next.score.max(0.01))
                    .min(10.0),
                title_cover,
                shared_terms: candidate
                    .terms
                    .iter()
                    .filter(|t| asked.contains(t.as_str()))
                    .count(),
                request_terms: query.len(),
            };
            let sure = confidence_of(&evidence);
            let confident = match index {
                0 => {
                    first_confident = sure >= confidence.min_confidence;
                    first_confident
                }
                _ => {
                    first_confident
                        && index < confidence.max
                        && candidate.score >= best * confidence.within_best
                }
            };
            Judged {
                key: candidate.key.clone(),
                evidence,
                confidence: sure,
                confident,
            }
        })
        .collect()
}

/// The keys of the confident candidates, best first.
pub fn suggestions<K: Clone>(
    query: &[String],
    candidates: &[Candidate<K>],
    stats: &TermStats,
    confidence: &Confidence,
) -> Vec<K> {
    judge(query, candidates, stats, confidence)
        .into_iter()
        .filter(|j| j.confident)
        .map(|j| j.key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The terms the parsing thread worked out are those intake would work out, and only in
    /// their language.
    #[test]
    fn request_terms_worked_out_ahead_are_the_same_and_kept_to_their_language() {
        let mail = InboundMail {
            subject: "Imprimante bloquée".into(),
            text: "Bonjour,\nl'imprimante du deuxième étage affiche un bourrage papier.\n".into(),
            ..InboundMail::default()
        };
        let fresh = request_terms(&mail, "fr").into_owned();
        assert!(fresh.contains(&"imprim".to_string()), "{fresh:?}");
        derive_request_terms(&mail, "fr");
        assert!(matches!(request_terms(&mail, "fr"), Cow::Borrowed(terms) if terms == fresh));
        let english = request_terms(&mail, "en");
        assert!(matches!(english, Cow::Owned(_)));
        assert_eq!(*english, terms_of_request(&mail, "en"));
    }

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

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// Ten articles; each of these terms in one, except `imprim` in three.
    fn stats() -> TermStats {
        let mut holding = HashMap::new();
        for term in [
            "bourrag", "papi", "capot", "toner", "vpn", "certif", "expir", "command",
        ] {
            holding.insert(term.to_string(), 1);
        }
        holding.insert("imprim".to_string(), 3);
        TermStats {
            documents: 10,
            holding,
        }
    }

    #[test]
    fn a_clear_match_is_suggested() {
        let asked = words(&["imprim", "bourrag", "papi"]);
        let found = [
            candidate(1, 25.0, &["bourrag", "papi"], &["imprim", "capot"]),
            candidate(2, 6.0, &["toner"], &["imprim"]),
        ];
        assert_eq!(
            suggestions(&asked, &found, &stats(), &Confidence::default()),
            [1]
        );
    }

    #[test]
    fn a_weak_or_unclear_match_is_not() {
        let c = Confidence::default();
        let asked = words(&["imprim", "bourrag", "papi"]);
        // A low score, not far ahead of the next.
        let low = [
            candidate(1, 3.0, &["bourrag", "papi"], &["imprim"]),
            candidate(2, 2.5, &["toner"], &["imprim"]),
        ];
        assert!(suggestions(&asked, &low, &stats(), &c).is_empty());
        // Two articles alike, neither named by the request's title words.
        let tied = [
            candidate(1, 12.0, &["command"], &["imprim", "papi"]),
            candidate(2, 11.5, &["toner"], &["imprim", "papi"]),
        ];
        assert!(suggestions(&asked, &tied, &stats(), &c).is_empty());
        assert!(suggestions(&asked, &[] as &[Candidate<u32>], &stats(), &c).is_empty());
    }

    #[test]
    fn confidence_grows_with_each_piece_of_evidence() {
        let base = Evidence {
            score: 12.0,
            lead: 1.5,
            title_cover: 0.3,
            shared_terms: 3,
            request_terms: 10,
        };
        let sure = confidence_of(&base);
        assert!(sure > 0.0 && sure < 1.0);
        assert!(
            confidence_of(&Evidence {
                score: 24.0,
                ..base
            }) > sure
        );
        assert!(confidence_of(&Evidence { lead: 3.0, ..base }) > sure);
        assert!(
            confidence_of(&Evidence {
                title_cover: 0.8,
                ..base
            }) > sure
        );
        assert!(
            confidence_of(&Evidence {
                shared_terms: 6,
                ..base
            }) > sure
        );
        assert!(
            confidence_of(&Evidence {
                request_terms: 40,
                ..base
            }) < sure
        );
    }

    #[test]
    fn later_suggestions_only_after_a_confident_first_and_close_to_it() {
        let c = Confidence::default();
        let asked = words(&["vpn", "certif", "expir"]);
        let found: Vec<_> = [30.0, 28.0, 25.0, 24.0]
            .iter()
            .enumerate()
            .map(|(i, score)| candidate(i as u32, *score, &["vpn", "certif"], &["expir"]))
            .collect();
        // The first leads by little, but the request names its whole title.
        assert_eq!(suggestions(&asked, &found, &stats(), &c), [0, 1, 2]);
        let far = [
            candidate(0, 30.0, &["vpn", "certif"], &["expir"]),
            candidate(1, 10.0, &["vpn", "certif"], &["expir"]),
        ];
        assert_eq!(suggestions(&asked, &far, &stats(), &c), [0]);
    }

    #[test]
    fn unknown_terms_weigh_nothing() {
        assert_eq!(stats().weight("nowhere"), None);
        assert!(stats().weight("vpn").unwrap() > stats().weight("imprim").unwrap());
    }

    #[test]
    fn query_terms_are_distinct_and_bounded() {
        let terms = query_terms("VPN", "vpn vpn certificate", "en");
        assert_eq!(terms, ["vpn", "certif"]);
        let long: String = (0..200).map(|i| format!("word{i} ")).collect();
        assert_eq!(query_terms("", &long, "en").len(), MAX_QUERY_TERMS);
    }
}

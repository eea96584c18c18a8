//! Ranking articles for a request by BM25 with weighted fields, as FTS5's `bm25()` computes it
//! (k1 1.2, b 0.75; a term's frequency in an article is the sum of its fields' weights over its
//! occurrences; an IDF at or below zero counts 1e-6), from postings the store keeps by term.
//! FTS5's function ran a query per term for its document frequency and read each matched
//! article's size; here both come with the postings (bench/README.md, "The knowledge search").

/// The fields of an article in the index, in order.
pub const FIELDS: usize = 4;

/// Title, tags, body, questions asked: a title word is worth five body words.
pub const FIELD_WEIGHTS: [f64; FIELDS] = [5.0, 3.0, 1.0, 0.3];

const K1: f64 = 1.2;
const B: f64 = 0.75;
const LEAST_IDF: f64 = 1e-6;

/// One article holding one term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Posting {
    pub document: u64,
    /// The term's occurrences in each field.
    pub occurrences: [u32; FIELDS],
    /// The article's terms in all fields, repeated ones counted.
    pub length: u32,
}

/// The index's size: articles, and their terms in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    pub documents: u64,
    pub terms: u64,
}

/// Every article holding one of the terms, with its score, best first (ties by document).
/// `postings` has one list a term of the query.
pub fn rank(collection: Collection, postings: &[Vec<Posting>]) -> Vec<(u64, f64)> {
    if collection.documents == 0 {
        return Vec::new();
    }
    let documents = collection.documents as f64;
    let average_length = collection.terms as f64 / documents;
    let mut scores: std::collections::HashMap<u64, f64> = std::collections::HashMap::new();
    for list in postings {
        let holding = list.len() as f64;
        let idf = ((documents - holding + 0.5) / (holding + 0.5)).ln();
        let idf = if idf <= 0.0 { LEAST_IDF } else { idf };
        for posting in list {
            let frequency: f64 = posting
                .occurrences
                .iter()
                .zip(FIELD_WEIGHTS)
                .map(|(n, weight)| f64::from(*n) * weight)
                .sum();
            let length = f64::from(posting.length);
            let saturation =
                frequency * (K1 + 1.0) / (frequency + K1 * (1.0 - B + B * length / average_length));
            *scores.entry(posting.document).or_insert(0.0) += idf * saturation;
        }
    }
    let mut ranked: Vec<(u64, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(document: u64, occurrences: [u32; FIELDS], length: u32) -> Posting {
        Posting {
            document,
            occurrences,
            length,
        }
    }

    #[test]
    fn a_rare_term_in_a_title_outranks_a_common_one_in_a_body() {
        let collection = Collection {
            documents: 10,
            terms: 1000,
        };
        let rare = vec![posting(1, [1, 0, 0, 0], 100)];
        let common: Vec<Posting> = (2..=9).map(|d| posting(d, [0, 0, 3, 0], 100)).collect();
        let ranked = rank(collection, &[rare, common]);
        assert_eq!(ranked.len(), 9);
        assert_eq!(ranked[0].0, 1);
        // Eight of ten hold the common term: its IDF is below zero, so it counts 1e-6 a time.
        assert!(ranked[1].1 < 1e-5, "{ranked:?}");
        // Ties go by document.
        let tied: Vec<u64> = ranked[1..].iter().map(|(d, _)| *d).collect();
        assert_eq!(tied, (2..=9).collect::<Vec<_>>());
    }

    #[test]
    fn the_score_is_fts5s_formula() {
        // One term held by 2 of 5 documents (IDF ln(3.5 / 2.5)), in the title once and the body
        // twice (frequency 7), in a document of 30 terms where they average 20.
        let collection = Collection {
            documents: 5,
            terms: 100,
        };
        let ranked = rank(
            collection,
            &[vec![
                posting(7, [1, 0, 2, 0], 30),
                posting(8, [0, 0, 0, 1], 10),
            ]],
        );
        let idf = (3.5f64 / 2.5).ln();
        let expected = idf * (7.0 * 2.2) / (7.0 + 1.2 * (0.25 + 0.75 * 30.0 / 20.0));
        assert_eq!(ranked[0].0, 7);
        assert!(
            (ranked[0].1 - expected).abs() < 1e-12,
            "{ranked:?} {expected}"
        );
        // A term in every field of a document sums the fields' weights.
        let everywhere = rank(collection, &[vec![posting(1, [1, 1, 1, 1], 20)]]);
        let idf = (4.5f64 / 1.5).ln();
        let expected = idf * (9.3 * 2.2) / (9.3 + 1.2);
        assert!((everywhere[0].1 - expected).abs() < 1e-12);
        assert!(rank(
            Collection {
                documents: 0,
                terms: 0
            },
            &[]
        )
        .is_empty());
    }
}
